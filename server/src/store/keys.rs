//! API keys: metadata and the SHA-256 of each token.

use async_trait::async_trait;

use super::{AuditRow, StoreError};

/// An API key as stored: metadata and the SHA-256 of the token, never the
/// token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    /// `tradeplane.v1.Role` number.
    pub role: i32,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub create_ms: i64,
    pub expire_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    /// The CreateApiKey `request_id`, if one was given.
    pub request_id: Option<String>,
}

/// What inserting an API key did.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyInsert {
    /// Stored, with the audit events that report it (chained).
    Inserted(Vec<AuditRow>),
    /// A key was already created for this `request_id`: here it is.
    RequestSeen(Box<ApiKeyRow>),
}

/// Storage of API keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new API key and, in the same transaction, appends the
    /// audit events that report it, unless its `request_id` was seen
    /// before (then nothing is written).
    async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        audit: Vec<AuditRow>,
    ) -> Result<ApiKeyInsert, StoreError>;
    /// Every API key, revoked ones included, by id.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError>;
    /// Marks a key revoked (once) and, in the same transaction, appends
    /// the audit events that report it; the key as it now is, with the
    /// events appended (none when it was revoked before), or `None` when
    /// there is no such key.
    async fn revoke_api_key(
        &self,
        id: &str,
        at_ms: i64,
        audit: Vec<AuditRow>,
    ) -> Result<Option<(ApiKeyRow, Vec<AuditRow>)>, StoreError>;
    /// Saves last-used times: `(key id, time)` pairs.
    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError>;
}

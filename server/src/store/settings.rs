//! Run-time settings changed through the admin API, each written in one
//! transaction with the audit events that record the change.

use async_trait::async_trait;

use super::{AuditRow, StoreError};

/// Storage of run-time settings (JSON values by key).
#[async_trait]
pub trait SettingStore: Send + Sync + 'static {
    /// A run-time setting (JSON), if one was saved.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Saves a run-time setting and appends `audit` (unchained, as for
    /// [`super::AuditStore::append_audit`]) in one transaction: both are
    /// durable, or neither. Returns the chained events.
    async fn put_setting(
        &self,
        key: &str,
        value: String,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError>;
}

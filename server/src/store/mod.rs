//! Durable storage behind one [`Store`] trait, so that the SQLite default
//! and a PostgreSQL backend share semantics. Nothing is acknowledged to a
//! caller before the write that backs it has committed.

mod sqlite;

use async_trait::async_trait;
use tradeplane_api::Signal;

pub use sqlite::SqliteStore;

/// A storage failure. Callers map it to UNAVAILABLE / HTTP 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// An idempotency key and how long it is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeKey {
    pub key: String,
    pub expires_ms: i64,
}

/// A signal to record, in row form; `dedupe` is absent for rejected signals.
#[derive(Debug, Clone)]
pub struct SignalWrite {
    pub id: String,
    pub source: String,
    pub strategy: String,
    /// Canonical symbol, empty when the signal had none.
    pub symbol: String,
    pub outcome: i32,
    /// The whole signal, protobuf-encoded (by the caller, so that the
    /// single writer does not spend its time encoding).
    pub body: Vec<u8>,
    pub dedupe: Option<DedupeKey>,
}

impl SignalWrite {
    /// The row for `signal`.
    pub fn new(signal: &Signal, dedupe: Option<DedupeKey>) -> Self {
        Self {
            id: signal.id.clone(),
            source: signal.source.clone(),
            strategy: signal.strategy.clone(),
            symbol: signal
                .instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default(),
            outcome: signal.outcome,
            body: prost::Message::encode_to_vec(signal),
            dedupe,
        }
    }
}

/// What recording a signal did.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalWriteResult {
    /// Stored and durable.
    Inserted,
    /// The key was seen before: here is the first signal.
    Duplicate(Box<Signal>),
}

/// Filter and page for listing signals, newest first.
#[derive(Debug, Clone, Default)]
pub struct SignalQuery {
    pub source: Option<String>,
    pub symbol: Option<String>,
    pub strategy: Option<String>,
    pub outcome: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// The storage operations the domains use.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a signal durably, deduplicating on its key.
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError>;
    /// One signal by id.
    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError>;
    /// Signals matching `query`, newest first.
    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError>;
    /// Forgets idempotency keys that expired before `now_ms`.
    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Finishes queued writes and closes.
    async fn close(&self);
}

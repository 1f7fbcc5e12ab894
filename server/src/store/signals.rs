//! The signal log: every signal received, deduplicated on its key, with
//! the executions it starts created in the same transaction.

use super::{ExecutionWrite, StoreError};
use crate::{
    codec::enums::Mirrored,
    model::signal::{Signal, SignalOutcome},
};
use async_trait::async_trait;

/// An idempotency key and how long it is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeKey {
    pub key: String,
    pub expires_ms: i64,
    /// Another key that, while it lives, also marks a duplicate: the same
    /// content's key in the previous time bucket (keys that carry their
    /// arrival bucket stay in time order in the index).
    pub earlier: Option<String>,
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
    /// Executions of the pipelines it matched, created in the same
    /// transaction (only if the signal is new).
    pub executions: Vec<ExecutionWrite>,
}

impl SignalWrite {
    /// The row for `signal`.
    pub fn new(signal: &Signal, dedupe: Option<DedupeKey>) -> Self {
        Self {
            id: signal.id.clone(),
            source: signal.source.clone(),
            strategy: signal.strategy.clone(),
            symbol: signal.symbol().to_string(),
            outcome: signal.outcome.number(),
            body: prost::Message::encode_to_vec(&tradeplane_api::Signal::from(signal)),
            dedupe,
            executions: Vec::new(),
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
    pub outcome: Option<SignalOutcome>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Storage of signals and their idempotency keys.
#[async_trait]
pub trait SignalLog: Send + Sync + 'static {
    /// Records a signal durably, deduplicating on its key.
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError>;
    /// One signal by id.
    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError>;
    /// Signals matching `query`, newest first.
    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError>;
    /// Forgets idempotency keys that expired before `now_ms`.
    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError>;
}

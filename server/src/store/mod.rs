//! Durable storage behind one [`Store`] trait, so that the SQLite default
//! and a PostgreSQL backend share semantics. Nothing is acknowledged to a
//! caller before the write that backs it has committed.

pub mod config;
mod executions;
mod sqlite;

use async_trait::async_trait;
use tradeplane_api::{Execution, Order, Pipeline, Signal};

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
            symbol: signal
                .instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default(),
            outcome: signal.outcome,
            body: prost::Message::encode_to_vec(signal),
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
    pub outcome: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

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
    Inserted,
    /// A key was already created for this `request_id`: here it is.
    RequestSeen(Box<ApiKeyRow>),
}

/// One audit-log event as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditRow {
    pub sequence: i64,
    pub time_ms: i64,
    pub actor: String,
    pub source_address: String,
    pub action: String,
    pub target: String,
    /// `tradeplane.v1.AuditOutcome` number.
    pub outcome: i32,
    pub detail: String,
    pub trace_id: String,
    pub previous_hash: String,
    pub hash: String,
}

/// Filter and page for listing audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Matches actions starting with this, e.g. `order.`.
    pub action_prefix: Option<String>,
    pub outcome: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only sequences strictly below this one (the page cursor).
    pub before_sequence: Option<i64>,
    pub limit: u32,
}

/// What inserting an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderInsert {
    Inserted,
    /// An order with this `request_id` or client order id exists: here it is.
    Existing(Box<Order>),
}

/// Filter and page for listing orders, newest first.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub statuses: Vec<i32>,
    pub side: Option<i32>,
    pub execution_id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// What inserting a pipeline did.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineInsert {
    Inserted,
    /// A pipeline was already created for this `request_id`: here it is.
    RequestSeen(Box<Pipeline>),
    /// Another pipeline has this name.
    NameTaken,
}

/// An execution to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionWrite {
    /// PENDING, with its match step recorded.
    pub execution: Execution,
    /// The W3C `traceparent` of the call that created it: the execution's
    /// span continues that trace, even after a restart.
    pub traceparent: String,
    /// The RunPipeline `request_id`, for manual runs.
    pub request_id: Option<String>,
    /// Skip it (`already_running`) rather than queue it behind a running
    /// execution of the same pipeline.
    pub skip_if_running: bool,
}

/// What claiming work from the execution queue found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Run this (RUNNING now, with a lease) as part of `traceparent`.
    Run {
        execution: Box<Execution>,
        traceparent: String,
    },
    /// This one was skipped as `already_running` while claiming.
    Skipped(Box<Execution>),
    /// Nothing to do.
    Idle,
}

/// Filter and page for listing executions, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    pub pipeline_id: Option<String>,
    pub signal_id: Option<String>,
    pub statuses: Vec<i32>,
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
    /// A run-time setting (JSON), if one was saved.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Saves a run-time setting durably.
    async fn put_setting(&self, key: &str, value: String) -> Result<(), StoreError>;
    /// Stores a new API key, unless its `request_id` was seen before.
    async fn insert_api_key(&self, key: ApiKeyRow) -> Result<ApiKeyInsert, StoreError>;
    /// Every API key, revoked ones included.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError>;
    /// Marks a key revoked (once); `None` when there is no such key.
    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<Option<ApiKeyRow>, StoreError>;
    /// Saves last-used times: `(key id, time)` pairs.
    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError>;
    /// Appends already-chained audit events in one transaction.
    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<(), StoreError>;
    /// Audit events matching `query`, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError>;
    /// Up to `limit` audit events after `sequence`, oldest first (for
    /// walking the chain).
    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError>;
    /// Stores a new order, unless one with its `request_id` or client
    /// order id exists.
    async fn insert_order(
        &self,
        order: &Order,
        request_id: Option<&str>,
    ) -> Result<OrderInsert, StoreError>;
    /// Saves an order's new state.
    async fn update_order(&self, order: &Order) -> Result<(), StoreError>;
    /// One order by id.
    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError>;
    /// Orders matching `query`, newest first.
    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError>;
    /// Stores a new pipeline, unless its `request_id` was seen or its
    /// name is taken.
    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
    ) -> Result<PipelineInsert, StoreError>;
    /// Saves a pipeline's new state; false when its name is taken.
    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError>;
    /// Deletes a pipeline; false when there was none.
    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError>;
    /// Every pipeline, by name.
    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError>;
    /// Creates executions outside a signal (manual runs, schedules); a
    /// repeated `request_id` returns the first execution instead.
    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError>;
    /// Claims the oldest runnable execution with a lease until
    /// `now_ms + lease_ms`: a PENDING one whose pipeline has nothing
    /// running, or a RUNNING one whose lease expired (a crash).
    async fn claim_execution(&self, now_ms: i64, lease_ms: i64) -> Result<Claim, StoreError>;
    /// Saves an execution's new state (a finished one drops its lease).
    async fn update_execution(&self, execution: &Execution) -> Result<(), StoreError>;
    /// One execution by id.
    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError>;
    /// Executions matching `query`, newest first.
    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError>;
    /// How many executions wait in the queue.
    async fn pending_executions(&self) -> Result<u64, StoreError>;
    /// Forgets idempotency keys that expired before `now_ms`.
    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Finishes queued writes and closes.
    async fn close(&self);
}

/// Rows read per page when a whole table is walked.
const WALK_PAGE: u32 = 1000;

/// Every order, oldest first (for rebuilding state at start-up).
pub async fn all_orders(store: &dyn Store) -> Result<Vec<Order>, StoreError> {
    walk(
        |before_id| async move {
            let query = OrderQuery {
                before_id,
                limit: WALK_PAGE,
                ..Default::default()
            };
            store.list_orders(&query).await
        },
        |o| &o.id,
    )
    .await
}

/// Every execution, oldest first (for rebuilding state at start-up).
pub async fn all_executions(store: &dyn Store) -> Result<Vec<Execution>, StoreError> {
    walk(
        |before_id| async move {
            let query = ExecutionQuery {
                before_id,
                limit: WALK_PAGE,
                ..Default::default()
            };
            store.list_executions(&query).await
        },
        |e| &e.id,
    )
    .await
}

/// Reads newest-first pages (each before the last id seen) until one is
/// empty; returns the rows oldest first.
async fn walk<T, Page, Next>(page: Page, id: fn(&T) -> &String) -> Result<Vec<T>, StoreError>
where
    Page: Fn(Option<String>) -> Next,
    Next: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut all: Vec<T> = Vec::new();
    loop {
        let rows = page(all.last().map(|row| id(row).clone())).await?;
        if rows.is_empty() {
            break;
        }
        all.extend(rows);
    }
    all.reverse();
    Ok(all)
}

//! Durable storage: one small trait per aggregate ([`SignalLog`],
//! [`OrderStore`], [`ExecutionQueue`], [`AuditStore`], [`KeyStore`],
//! [`SettingStore`], [`PipelineStore`], [`ApprovalStore`],
//! [`OutboxStore`], [`SubscriptionStore`]) and the [`Store`] that is all of them, so that the
//! SQLite default and a PostgreSQL backend share
//! semantics. Nothing is acknowledged to a caller before the write that
//! backs it has committed. Backends hold no business rules: what a claim
//! does is decided by the caller ([`ClaimRules`]).

mod approvals;
mod audit;
pub mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod deliveries;
mod executions;
mod instrumented;
mod keys;
mod lists;
mod orders;
mod outbox;
mod pipelines;
mod postgres;
mod query;
mod rows;
mod settings;
mod signals;
mod sqlite;
mod subscriptions;
mod walk;

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry::metrics::Meter;

pub use approvals::{ApprovalInsert, ApprovalQuery, ApprovalStore, Decided};
pub use audit::{AuditQuery, AuditRow, AuditStore, Verification, chain, chain_hash, verify_chain};
pub use config::StoreConfig;
pub use executions::{Claim, ClaimRules, Claimed, ExecutionQuery, ExecutionQueue, ExecutionWrite};
pub use instrumented::Instrumented;
pub use keys::{ApiKeyInsert, ApiKeyRow, KeyStore};
pub use orders::{
    Adjustment, Bookkeeping, OrderInsert, OrderQuery, OrderStore, OrderUpdate, Snapshot, TotalKey,
};
pub use outbox::{
    Delivery, DeliveryQuery, DeliveryState, NewDelivery, OutboxDepth, OutboxStore, Settlement,
};
pub use pipelines::{PipelineInsert, PipelineStore};
pub use postgres::{Change, ChangeFeed, DutyLock, PostgresStore, Table};
pub use settings::SettingStore;
pub use signals::{DedupeKey, SignalLog, SignalQuery, SignalWrite, SignalWriteResult};
pub use sqlite::SqliteStore;
pub use subscriptions::{SubscriptionInsert, SubscriptionStore};
pub use walk::walk_orders;

/// A storage failure. Callers map it to UNAVAILABLE / HTTP 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database URL names a backend this build does not have.
    #[error("unsupported database URL scheme `{0}`: this build supports sqlite: and postgres:")]
    UnsupportedScheme(String),
    /// A value could not be encoded for storing.
    #[error("value cannot be stored: {0}")]
    Unencodable(String),
}

/// An enum number no value has, read from a stored record.
impl From<tradeplane_api::UnknownEnum> for StoreError {
    fn from(err: tradeplane_api::UnknownEnum) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

/// A stored body read as itself cannot fail.
impl From<std::convert::Infallible> for StoreError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// A stored body the domain model cannot hold.
impl From<crate::codec::CodecError> for StoreError {
    fn from(err: crate::codec::CodecError) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// Opening and closing a backend.
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Finishes queued writes and closes.
    async fn close(&self);
    /// What other processes sharing the store change, for a backend that
    /// several replicas share (`None`: this process is the only writer).
    fn changes(&self) -> Option<ChangeFeed>;
    /// The lock that puts one of the processes sharing the store on duty
    /// (the upkeep only one of them should run); `None`: this process is
    /// the only one, and always on duty. A store is shared exactly when it
    /// has a change feed, which makes the lock.
    fn duty_lock(&self) -> Option<DutyLock> {
        self.changes().map(|feed| feed.duty_lock())
    }
}

/// Every aggregate's storage: what callers that need several hold.
pub trait Store:
    SignalLog
    + OrderStore
    + ExecutionQueue
    + AuditStore
    + KeyStore
    + SettingStore
    + PipelineStore
    + ApprovalStore
    + OutboxStore
    + SubscriptionStore
    + Lifecycle
{
}

impl<T> Store for T where
    T: SignalLog
        + OrderStore
        + ExecutionQueue
        + AuditStore
        + KeyStore
        + SettingStore
        + PipelineStore
        + ApprovalStore
        + OutboxStore
        + SubscriptionStore
        + Lifecycle
{
}

/// The backends this build has, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend `url` names by its scheme (`sqlite:…`, `postgres:…` or
    /// `postgresql:…`).
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::UnsupportedScheme(other.to_string())),
        }
    }
}

/// Opens the store `url` names, with every operation metered.
pub async fn open(
    url: &str,
    config: &StoreConfig,
    meter: &Meter,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match Backend::of(url)? {
        Backend::Sqlite => Arc::new(Instrumented::new(
            SqliteStore::open(url, config, meter).await?,
            meter,
        )),
        Backend::Postgres => Arc::new(Instrumented::new(
            PostgresStore::open(url, config, meter).await?,
            meter,
        )),
    })
}

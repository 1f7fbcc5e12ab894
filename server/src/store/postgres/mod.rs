//! The PostgreSQL backend, for several tradeplane replicas on one
//! database: the same semantics as SQLite, held across processes by the
//! database itself. Every write is one transaction, answered after it
//! commits (PostgreSQL groups the WAL flushes of concurrent commits);
//! duplicates are refused by unique constraints; claims take executions
//! with `FOR UPDATE SKIP LOCKED`; the audit chain is extended under a
//! transaction lock. One bounded pool serves reads and writes, and every
//! statement has a timeout. Each aggregate's operations live in a file of
//! their own.

mod approvals;
mod audit;
mod changes;
mod duty;
mod executions;
mod orders;
mod outbox;
mod pipelines;
mod security;
mod signal_batch;
mod signals;
mod subscriptions;

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use opentelemetry::{KeyValue, metrics::Meter};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{Lifecycle, StoreConfig, StoreError};
pub use changes::{Change, ChangeFeed, Table};
pub use duty::DutyLock;

/// PostgreSQL store over a bounded connection pool.
pub struct PostgresStore {
    pool: PgPool,
    /// The change feed's own connection, made when it is first used.
    feed_pool: PgPool,
    /// This process's connections' name, `tradeplane/<replica id>`.
    name: String,
    /// How long a statement may take.
    statement_timeout: Duration,
    /// Records signals in groups, on `writers_pool`.
    signals: signal_batch::SignalBatcher,
    writers_pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` and applies the migrations (under
    /// sqlx's advisory lock, so replicas that start together apply them
    /// once).
    /// The pool's use is metered on `meter`.
    pub async fn open(url: &str, config: &StoreConfig, meter: &Meter) -> Result<Self, StoreError> {
        let timeout_ms = config.statement_timeout.as_millis().to_string();
        // One name per process: the replicas count each other by it.
        let name = format!("{}/{}", changes::APPLICATION, uuid::Uuid::now_v7().simple());
        let options = PgConnectOptions::from_str(url)?
            .application_name(&name)
            .options([("statement_timeout", timeout_ms.as_str())]);
        let feed_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(config.statement_timeout)
            .connect_lazy_with(options.clone());
        let writers_pool = PgPoolOptions::new()
            .max_connections(signal_batch::WRITERS)
            .acquire_timeout(config.statement_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options.clone());
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.statement_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        meter_pool(&pool, config.pool_size, meter);
        Ok(Self {
            signals: signal_batch::SignalBatcher::start(writers_pool.clone()),
            writers_pool,
            pool,
            feed_pool,
            name,
            statement_timeout: config.statement_timeout,
        })
    }
}

/// `tradeplane.db.pool.connections` by state (in use, idle) and
/// `tradeplane.db.pool.max`, read at each collection.
fn meter_pool(pool: &PgPool, max: u32, meter: &Meter) {
    let observed = pool.clone();
    meter
        .u64_observable_gauge("tradeplane.db.pool.connections")
        .with_description("Database connections of this replica's pool, by state")
        .with_callback(move |gauge| {
            let idle = observed.num_idle() as u64;
            let open = u64::from(observed.size());
            gauge.observe(idle, &[KeyValue::new("state", "idle")]);
            gauge.observe(
                open.saturating_sub(idle),
                &[KeyValue::new("state", "in_use")],
            );
        })
        .build();
    meter
        .u64_observable_gauge("tradeplane.db.pool.max")
        .with_description("The most connections this replica's pool opens")
        .with_callback(move |gauge| gauge.observe(u64::from(max), &[]))
        .build();
}

#[async_trait]
impl Lifecycle for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.feed_pool.close().await;
        self.writers_pool.close().await;
        self.pool.close().await;
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(ChangeFeed::new(
            self.feed_pool.clone(),
            self.pool.clone(),
            self.name.clone(),
            self.statement_timeout,
        ))
    }
}

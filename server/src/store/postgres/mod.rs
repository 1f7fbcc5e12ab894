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
mod executions;
mod orders;
mod pipelines;
mod security;
mod signals;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{Lifecycle, StoreConfig, StoreError};

/// PostgreSQL store over a bounded connection pool.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` and applies the migrations (under
    /// sqlx's advisory lock, so replicas that start together apply them
    /// once).
    pub async fn open(url: &str, config: &StoreConfig) -> Result<Self, StoreError> {
        let timeout_ms = config.statement_timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(url)?
            .application_name("tradeplane")
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.statement_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Lifecycle for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

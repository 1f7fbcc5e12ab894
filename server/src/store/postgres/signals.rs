//! The signal log on PostgreSQL, shared by every replica: a signal, its
//! idempotency key and the executions it starts are written in one
//! transaction, answered once it has committed.
//!
//! Deduplication is a check and an insert, made race-free by
//! transaction-scoped advisory locks of the signal's keys (its own and the
//! earlier one): writers of one key take turns, and the check of the next
//! starts after the lock is held, so under READ COMMITTED it sees every
//! signal committed before. Two replicas that receive the same retry at
//! once record one signal, and the second answers with it, and so does a
//! replica whose `earlier` key another is writing right now. The dedupe
//! row and its signal commit together, so a key found alive always has
//! its signal. The lock, the check and both inserts run in the database as
//! one function call (`migrations/postgres/0005_record_signal.sql`), and
//! the signals that arrive together are recorded by one call and one
//! commit (`signal_batch.rs`).

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::Postgres;
use tradeplane_api as pb;

use super::PostgresStore;
use crate::{
    model::signal::Signal,
    store::{
        DedupeKey, SignalLog, SignalQuery, SignalWrite, SignalWriteResult, StoreError, lists,
        query::{fetch_bodies, fetch_body},
    },
};

#[async_trait]
impl SignalLog for PostgresStore {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        self.signals.record(write).await
    }

    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        fetch_body::<_, pb::Signal, _>(&self.pool, "signals", id, "signal").await
    }

    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        let sql = lists::signals::<Postgres>(query);
        fetch_bodies::<_, pb::Signal, _>(sql, &self.pool, "signal").await
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM signal_dedupe WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(purged.rows_affected())
    }
}

/// The advisory lock ids of `dedupe`'s keys (its own and the earlier one),
/// sorted, so that every writer takes them in one order.
pub(super) fn key_locks(dedupe: &DedupeKey) -> Vec<i64> {
    let mut locks: Vec<i64> = std::iter::once(&dedupe.key)
        .chain(&dedupe.earlier)
        .map(|key| key_lock(key))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

/// The advisory lock id of an idempotency key: the first eight bytes of
/// its SHA-256, the same in every replica.
fn key_lock(key: &str) -> i64 {
    Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .fold(0, |id, byte| id << 8 | i64::from(*byte))
}

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
//! its signal.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres};
use tradeplane_api as pb;

use super::{PostgresStore, executions::insert_execution};
use crate::{
    model::signal::Signal,
    store::{
        DedupeKey, SignalLog, SignalQuery, SignalWrite, SignalWriteResult, StoreError, lists,
        query::{decode, fetch_bodies, fetch_body},
    },
};

#[async_trait]
impl SignalLog for PostgresStore {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = record(&mut tx, &write).await?;
        tx.commit().await?;
        Ok(result)
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

/// Records `write` on `tx`, with its key and executions, unless a key of
/// it is alive: then answers with that key's signal and writes nothing.
async fn record(
    tx: &mut PgConnection,
    write: &SignalWrite,
) -> Result<SignalWriteResult, StoreError> {
    if let Some(dedupe) = &write.dedupe {
        lock_keys(tx, dedupe).await?;
        if let Some(first) = first_signal(tx, dedupe).await? {
            return Ok(SignalWriteResult::Duplicate(Box::new(first)));
        }
    }
    sqlx::query(
        "INSERT INTO signals (id, source, strategy, symbol, outcome, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&write.id)
    .bind(&write.source)
    .bind(&write.strategy)
    .bind(&write.symbol)
    .bind(write.outcome)
    .bind(&write.body)
    .execute(&mut *tx)
    .await?;
    if let Some(dedupe) = &write.dedupe {
        // Under the key's lock no live row has it: one that does is
        // expired, and is replaced.
        sqlx::query(
            "INSERT INTO signal_dedupe (key, signal_id, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE \
             SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms",
        )
        .bind(&dedupe.key)
        .bind(&write.id)
        .bind(dedupe.expires_ms)
        .execute(&mut *tx)
        .await?;
    }
    for execution in &write.executions {
        insert_execution(tx, execution).await?;
    }
    Ok(SignalWriteResult::Inserted)
}

/// Takes the advisory locks of `dedupe`'s keys until `tx` ends, one
/// statement each (so that each waits before the next), in the order of
/// their lock ids: writers whose keys overlap never wait on each other in
/// a cycle.
async fn lock_keys(tx: &mut PgConnection, dedupe: &DedupeKey) -> Result<(), StoreError> {
    let mut locks: Vec<i64> = std::iter::once(&dedupe.key)
        .chain(&dedupe.earlier)
        .map(|key| key_lock(key))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    for lock in locks {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The advisory lock id of an idempotency key: the first eight bytes of
/// its SHA-256, the same in every replica.
fn key_lock(key: &str) -> i64 {
    Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .fold(0, |id, byte| id << 8 | i64::from(*byte))
}

/// The signal of `dedupe`'s key if it is alive, or else of its earlier
/// key if that is.
async fn first_signal(
    tx: &mut PgConnection,
    dedupe: &DedupeKey,
) -> Result<Option<Signal>, StoreError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let found: Option<(String, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT d.signal_id, s.body FROM signal_dedupe AS d \
         LEFT JOIN signals AS s ON s.id = d.signal_id \
         WHERE (d.key = $1 OR d.key = $2) AND d.expires_ms > $3 \
         ORDER BY d.key = $1 DESC LIMIT 1",
    )
    .bind(&dedupe.key)
    .bind(dedupe.earlier.as_deref())
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((signal_id, body)) = found else {
        return Ok(None);
    };
    let body = body.ok_or_else(|| {
        StoreError::Corrupt(format!("dedupe key points at missing signal {signal_id}"))
    })?;
    decode::<pb::Signal, _>("signal", &body).map(Some)
}

//! The audit log: appends that extend the chain under a transaction-scoped
//! advisory lock, so that every replica's events form one chain, and reads
//! (filtered pages, newest first, and the walk of the chain, oldest first).

use crate::store::lists;
use crate::store::rows::audit_row;
use async_trait::async_trait;
use sqlx::{PgConnection, Postgres};

use super::PostgresStore;
use crate::store::{AuditQuery, AuditRow, AuditStore, StoreError, chain};

/// The advisory lock key that serialises audit appends across replicas.
const AUDIT_CHAIN_LOCK: i64 = 0x7472_6164_6561_7564; // "tradeaud"

/// Every column of `audit_events`.
const AUDIT_COLUMNS: &str = "sequence, time_ms, actor, source_address, action, target, outcome, \
     detail, trace_id, previous_hash, hash";

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<Vec<AuditRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let events = append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(events)
    }

    async fn append_audit_once(&self, event: AuditRow) -> Result<Option<AuditRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Under the chain's lock every earlier append has committed, and
        // no other can start before this transaction ends.
        lock_chain(&mut tx).await?;
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT sequence FROM audit_events WHERE action = $1 AND target = $2 LIMIT 1",
        )
        .bind(&event.action)
        .bind(&event.target)
        .fetch_optional(&mut *tx)
        .await?;
        if stored.is_some() {
            return Ok(None);
        }
        let appended = append_locked(&mut tx, vec![event]).await?;
        tx.commit().await?;
        Ok(appended.into_iter().next())
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let rows = lists::audit::<Postgres>(AUDIT_COLUMNS, query)
            .build()
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE sequence > $1 \
             ORDER BY sequence LIMIT $2"
        )))
        .bind(sequence)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }
}

/// Chains `events` after the last stored event and inserts them, inside
/// the caller's transaction: the advisory lock it takes is held until that
/// transaction ends, so no other writer, in this process or another, can
/// take the same place in the chain.
pub(super) async fn append(
    tx: &mut PgConnection,
    events: Vec<AuditRow>,
) -> Result<Vec<AuditRow>, StoreError> {
    if events.is_empty() {
        return Ok(events);
    }
    lock_chain(tx).await?;
    append_locked(tx, events).await
}

/// Takes the chain's lock until the caller's transaction ends.
async fn lock_chain(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_CHAIN_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// [`append`], under the chain's lock the caller's transaction holds.
async fn append_locked(
    tx: &mut PgConnection,
    mut events: Vec<AuditRow>,
) -> Result<Vec<AuditRow>, StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    chain(&mut events, last.unwrap_or_default());
    let insert = format!(
        "INSERT INTO audit_events ({AUDIT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    for e in &events {
        sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
            .bind(e.sequence)
            .bind(e.time_ms)
            .bind(&e.actor)
            .bind(&e.source_address)
            .bind(&e.action)
            .bind(&e.target)
            .bind(e.outcome)
            .bind(&e.detail)
            .bind(&e.trace_id)
            .bind(&e.previous_hash)
            .bind(&e.hash)
            .execute(&mut *tx)
            .await?;
    }
    Ok(events)
}

//! The audit log: appends that extend the chain inside their own
//! transaction, and reads.

use crate::store::lists;
use crate::store::rows::audit_row;
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sqlx::Sqlite;

use super::SqliteStore;
use crate::store::{AuditQuery, AuditRow, AuditStore, StoreError, chain};

const AUDIT_COLUMNS: &str = "sequence, time_ms, actor, source_address, action, target, outcome, \
     detail, trace_id, previous_hash, hash";

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<Vec<AuditRow>, StoreError> {
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let events = append(&tx, events)?;
            tx.commit()?;
            Ok(events)
        })
        .await
    }

    async fn append_audit_once(&self, event: AuditRow) -> Result<Option<AuditRow>, StoreError> {
        self.run(move |conn| {
            // The writer's transaction holds the write lock: no other
            // writer appends between the check and the append.
            let tx = conn.savepoint()?;
            let stored: Option<i64> = tx
                .prepare_cached(
                    "SELECT sequence FROM audit_events WHERE action = ?1 AND target = ?2 LIMIT 1",
                )?
                .query_row([&event.action, &event.target], |r| r.get(0))
                .optional()?;
            if stored.is_some() {
                return Ok(None);
            }
            let appended = append(&tx, vec![event])?;
            tx.commit()?;
            Ok(appended.into_iter().next())
        })
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let rows = lists::audit::<Sqlite>(AUDIT_COLUMNS, query)
            .build()
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE sequence > ? ORDER BY sequence LIMIT ?"
        )))
        .bind(sequence)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(audit_row).collect()
    }
}

/// Chains `events` after the last stored event and inserts them, inside
/// the caller's transaction (which holds the write lock, so that no other
/// writer, in this process or another, can take the same place).
pub fn append(
    tx: &rusqlite::Connection,
    mut events: Vec<AuditRow>,
) -> Result<Vec<AuditRow>, StoreError> {
    if events.is_empty() {
        return Ok(events);
    }
    let last: Option<(i64, String)> = tx
        .prepare_cached("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    chain(&mut events, last.unwrap_or_default());
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?;
    for e in &events {
        insert.execute(rusqlite::params![
            e.sequence,
            e.time_ms,
            e.actor,
            e.source_address,
            e.action,
            e.target,
            e.outcome,
            e.detail,
            e.trace_id,
            e.previous_hash,
            e.hash,
        ])?;
    }
    Ok(events)
}

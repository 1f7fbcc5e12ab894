//! The execution queue: inserts (idempotent on `request_id`), claims under
//! the caller's [`ClaimRules`], updates and reads.

use async_trait::async_trait;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{QueryBuilder, Sqlite};
use tradeplane_api::{Execution, ExecutionStatus};

use super::{
    SqliteStore,
    query::{Page, decode, fetch_bodies, fetch_body, push_equal, select_page},
};
use crate::store::{Claim, ClaimRules, ExecutionQuery, ExecutionQueue, ExecutionWrite, StoreError};

/// How many claimable executions one claim looks at.
const CLAIM_WINDOW: i64 = 64;

#[async_trait]
impl ExecutionQueue for SqliteStore {
    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError> {
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let execution = insert_execution(&tx, &write)?;
            tx.commit()?;
            Ok(execution)
        })
        .await
    }

    async fn claim_execution(
        &self,
        rules: ClaimRules,
        finished: Option<Execution>,
    ) -> Result<Claim, StoreError> {
        self.run(move |conn| claim(conn, &rules, finished.as_ref()))
            .await
    }

    async fn update_execution(&self, execution: &Execution) -> Result<(), StoreError> {
        let execution = execution.clone();
        self.run(move |conn| {
            let running = execution.status == ExecutionStatus::Running as i32;
            let lease = if running {
                conn.query_row(
                    "SELECT lease_until_ms FROM executions WHERE id = ?1",
                    [&execution.id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0)
            } else {
                0
            };
            save(conn, &execution, lease)
        })
        .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        fetch_body::<Execution, _>(&self.readers, "executions", id, "execution").await
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError> {
        let filters = |sql: &mut QueryBuilder<Sqlite>| {
            push_equal(sql, "pipeline_id", query.pipeline_id.as_ref());
            push_equal(sql, "signal_id", query.signal_id.as_ref());
        };
        let page = Page {
            start_ms: query.start_ms,
            end_ms: query.end_ms,
            before_id: query.before_id.as_deref(),
            limit: query.limit,
        };
        let sql = select_page("executions", filters, &query.statuses, &page);
        fetch_bodies::<Execution, _>(sql, &self.readers, "execution").await
    }

    async fn pending_executions(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = ?")
            .bind(ExecutionStatus::Pending as i32)
            .fetch_one(&self.readers)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Inserts one execution inside `tx`; a repeated `request_id` returns the
/// first execution instead.
pub fn insert_execution(tx: &Connection, write: &ExecutionWrite) -> Result<Execution, StoreError> {
    if let Some(request_id) = &write.request_id {
        let existing: Option<Vec<u8>> = tx
            .prepare_cached("SELECT body FROM executions WHERE request_id = ?1")?
            .query_row([request_id], |r| r.get(0))
            .optional()?;
        if let Some(body) = existing {
            return decode::<Execution, _>("execution", &body);
        }
    }
    let execution = &write.execution;
    tx.prepare_cached(
        "INSERT INTO executions (id, pipeline_id, signal_id, status, traceparent, request_id, skip_if_running, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        execution.id,
        execution.pipeline_id,
        execution.signal_id,
        execution.status,
        write.traceparent,
        write.request_id,
        write.skip_if_running,
        execution.encode_to_vec(),
    ])?;
    Ok(execution.clone())
}

/// A claimable execution's columns.
struct Candidate {
    id: String,
    pipeline_id: String,
    status: i32,
    skip_if_running: bool,
    traceparent: String,
    body: Vec<u8>,
}

/// Saves `finished` and claims the oldest claimable execution under
/// `rules`, in one savepoint.
fn claim(
    conn: &mut Connection,
    rules: &ClaimRules,
    finished: Option<&Execution>,
) -> Result<Claim, StoreError> {
    let tx = conn.savepoint()?;
    if let Some(finished) = finished {
        save(&tx, finished, 0)?;
    }
    let candidates: Vec<Candidate> = tx
        .prepare_cached(
            "SELECT id, pipeline_id, status, skip_if_running, traceparent, body FROM executions \
             WHERE status = ?1 OR (status = ?2 AND lease_until_ms < ?3) ORDER BY id LIMIT ?4",
        )?
        .query_map(
            params![rules.queued, rules.running, rules.now_ms, CLAIM_WINDOW],
            |r| {
                Ok(Candidate {
                    id: r.get(0)?,
                    pipeline_id: r.get(1)?,
                    status: r.get(2)?,
                    skip_if_running: r.get(3)?,
                    traceparent: r.get(4)?,
                    body: r.get(5)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    let mut outcome = Claim::Idle;
    for candidate in candidates {
        let busy: bool = candidate.status == rules.queued
            && tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE pipeline_id = ?1 AND status = ?2 \
                     AND lease_until_ms >= ?3 AND id != ?4)",
                )?
                .query_row(
                    params![
                        candidate.pipeline_id,
                        rules.running,
                        rules.now_ms,
                        candidate.id
                    ],
                    |r| r.get(0),
                )?;
        if busy && !candidate.skip_if_running {
            continue;
        }
        let mut execution: Execution = decode::<Execution, _>("execution", &candidate.body)?;
        if busy {
            (rules.skip)(&mut execution, rules.now_ms);
            save(&tx, &execution, 0)?;
            outcome = Claim::Skipped(Box::new(execution));
        } else {
            (rules.start)(&mut execution, rules.now_ms);
            save(&tx, &execution, rules.now_ms + rules.lease_ms)?;
            outcome = Claim::Run {
                execution: Box::new(execution),
                traceparent: candidate.traceparent,
            };
        }
        break;
    }
    tx.commit()?;
    Ok(outcome)
}

/// Saves an execution with its lease.
fn save(conn: &Connection, execution: &Execution, lease_until_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE executions SET status = ?2, lease_until_ms = ?3, body = ?4 WHERE id = ?1",
    )?
    .execute(params![
        execution.id,
        execution.status,
        lease_until_ms,
        execution.encode_to_vec()
    ])?;
    Ok(())
}

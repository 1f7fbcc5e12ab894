//! The execution queue: inserts (idempotent on `request_id`), claims under
//! the caller's [`ClaimRules`], updates and reads. A row's body is the
//! protobuf `Execution`, converted by the codec.

use crate::store::lists;
use async_trait::async_trait;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::Sqlite;
use tradeplane_api as pb;

use super::SqliteStore;
use crate::store::query::{decode, fetch_bodies, fetch_body};
use crate::{
    codec::enums::Mirrored,
    model::execution::{Execution, ExecutionStatus},
    store::{
        AuditRow, Claim, ClaimRules, Claimed, ExecutionQuery, ExecutionQueue, ExecutionWrite,
        StoreError,
    },
};

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
        audit: Vec<AuditRow>,
    ) -> Result<Claimed, StoreError> {
        self.run(move |conn| claim(conn, &rules, finished.as_ref(), audit))
            .await
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let execution = execution.clone();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let running = execution.status == ExecutionStatus::Running;
            let lease = if running {
                tx.query_row(
                    "SELECT lease_until_ms FROM executions WHERE id = ?1",
                    [&execution.id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0)
            } else {
                0
            };
            save(&tx, &execution, lease)?;
            let audit = super::audit::append(&tx, audit)?;
            tx.commit()?;
            Ok(audit)
        })
        .await
    }

    async fn renew_lease(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.run(move |conn| {
            let renewed = conn.execute(
                "UPDATE executions SET lease_until_ms = ?2 WHERE id = ?1 AND lease_until_ms > 0",
                params![id, until_ms],
            )?;
            Ok(renewed == 1)
        })
        .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        fetch_body::<_, pb::Execution, _>(&self.readers, "executions", id, "execution").await
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError> {
        fetch_bodies::<_, pb::Execution, _>(
            lists::executions::<Sqlite>(query),
            &self.readers,
            "execution",
        )
        .await
    }

    async fn pending_executions(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = ?")
            .bind(ExecutionStatus::Pending.number())
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
            return decode::<pb::Execution, _>("execution", &body);
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
        execution.status.number(),
        write.traceparent,
        write.request_id,
        write.skip_if_running,
        to_body(execution),
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
/// `rules`, in one savepoint with `audit` and the skip's events.
fn claim(
    conn: &mut Connection,
    rules: &ClaimRules,
    finished: Option<&Execution>,
    mut audit: Vec<AuditRow>,
) -> Result<Claimed, StoreError> {
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
            params![
                rules.queued.number(),
                rules.running.number(),
                rules.now_ms,
                CLAIM_WINDOW
            ],
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
        let busy: bool = candidate.status == rules.queued.number()
            && tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE pipeline_id = ?1 AND status = ?2 \
                     AND lease_until_ms >= ?3 AND id != ?4)",
                )?
                .query_row(
                    params![
                        candidate.pipeline_id,
                        rules.running.number(),
                        rules.now_ms,
                        candidate.id
                    ],
                    |r| r.get(0),
                )?;
        if busy && !candidate.skip_if_running {
            continue;
        }
        let mut execution: Execution = decode::<pb::Execution, _>("execution", &candidate.body)?;
        if busy {
            audit.extend((rules.skip)(&mut execution, rules.now_ms));
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
    let audit = super::audit::append(&tx, audit)?;
    tx.commit()?;
    Ok(Claimed {
        claim: outcome,
        audit,
    })
}

/// Saves an execution with its lease.
fn save(conn: &Connection, execution: &Execution, lease_until_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE executions SET status = ?2, lease_until_ms = ?3, body = ?4 WHERE id = ?1",
    )?
    .execute(params![
        execution.id,
        execution.status.number(),
        lease_until_ms,
        to_body(execution)
    ])?;
    Ok(())
}

/// The stored body of an execution.
fn to_body(execution: &Execution) -> Vec<u8> {
    pb::Execution::from(execution).encode_to_vec()
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::{proto_time::ms_to_timestamp, store::StoreConfig};

    /// Bodies as they were stored before the domain model (protobuf
    /// `Execution`s, a step without a duration) read as the model; one
    /// whose status no value has is corrupt, not guessed.
    #[tokio::test]
    async fn stored_protobuf_bodies_read_as_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let config = StoreConfig {
            max_batch: 8,
            read_connections: 1,
            ..StoreConfig::default()
        };
        let meter = opentelemetry::global::meter("test");
        let store = SqliteStore::open(&url, &config, &meter).await.unwrap();
        let stored = pb::Execution {
            id: "old".into(),
            pipeline_id: "p".into(),
            status: pb::ExecutionStatus::Succeeded as i32,
            steps: vec![pb::ExecutionStep {
                name: "match".into(),
                result: "ok".into(),
                ..Default::default()
            }],
            fees: "0.50".into(),
            attempt: 1,
            create_time: Some(ms_to_timestamp(5)),
            end_time: Some(ms_to_timestamp(9)),
            ..Default::default()
        };
        let broken = pb::Execution {
            id: "bad".into(),
            status: 42,
            ..stored.clone()
        };
        store
            .run(move |conn| {
                for body in [stored, broken] {
                    conn.execute(
                        "INSERT INTO executions (id, pipeline_id, signal_id, status, body) \
                         VALUES (?1, ?2, '', ?3, ?4)",
                        params![body.id, body.pipeline_id, body.status, body.encode_to_vec()],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();

        let read = store.get_execution("old").await.unwrap().unwrap();
        assert_eq!(read.status, ExecutionStatus::Succeeded);
        assert_eq!(read.fees, Some(Decimal::new(5, 1)));
        assert_eq!(read.steps[0].duration, std::time::Duration::ZERO);
        assert_eq!(
            (read.create_time_ms, read.start_time_ms, read.end_time_ms),
            (5, None, Some(9))
        );
        let query = ExecutionQuery {
            statuses: vec![ExecutionStatus::Succeeded],
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.list_executions(&query).await.unwrap(), [read]);
        let err = store.get_execution("bad").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("status has no value numbered 42")),
            "{err}"
        );
    }
}

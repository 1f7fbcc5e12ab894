//! The execution queue on PostgreSQL, shared by every replica: inserts
//! (idempotent on `request_id` by its unique constraint), claims under the
//! caller's [`ClaimRules`], updates and reads. A row's body is the
//! protobuf `Execution`, converted by the codec.
//!
//! A claim is one transaction that saves the finished execution, then
//! walks the oldest claimable executions, and appends the audit events
//! that report the finished or skipped execution last. For each candidate it first
//! tries its pipeline's transaction-scoped advisory lock: a pipeline whose
//! lock another transaction holds is being claimed right now, so its
//! candidates are passed over. Under the lock it takes the row with
//! `FOR UPDATE SKIP LOCKED` (no two claims take one execution) and, in a
//! statement that starts after the lock is held and so sees every claim
//! committed before it, checks whether another execution of the pipeline
//! runs under a live lease. Only claims give leases, so no two executions
//! of one pipeline ever run at once, however many replicas claim.

use async_trait::async_trait;
use prost::Message;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgExecutor, Postgres};
use tradeplane_api as pb;

use super::PostgresStore;
use crate::{
    codec::enums::Mirrored,
    model::execution::{Execution, ExecutionStatus},
    store::{
        AuditRow, Claim, ClaimRules, Claimed, ExecutionQuery, ExecutionQueue, ExecutionWrite,
        StoreError, lists,
        query::{decode, fetch_bodies, fetch_body},
    },
};

/// How many claimable executions one claim looks at.
const CLAIM_WINDOW: i64 = 64;

/// Whether execution `e` may be claimed: queued, or running under a lease
/// that ended. Binds `$1` queued, `$2` running, `$3` the claim's clock.
const CLAIMABLE: &str = "(e.status = $1 OR (e.status = $2 AND e.lease_until_ms < $3))";

/// Whether another execution of `e`'s pipeline runs under a live lease
/// (the binds of [`CLAIMABLE`]).
const BUSY: &str = "EXISTS (SELECT 1 FROM executions AS other \
     WHERE other.pipeline_id = e.pipeline_id AND other.status = $2 \
     AND other.lease_until_ms >= $3 AND other.id <> e.id)";

#[async_trait]
impl ExecutionQueue for PostgresStore {
    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError> {
        // Each statement commits on its own: the insert is the only write.
        let mut conn = self.pool.acquire().await?;
        insert_execution(&mut conn, &write).await
    }

    async fn claim_execution(
        &self,
        rules: ClaimRules,
        finished: Option<Execution>,
        mut audit: Vec<AuditRow>,
    ) -> Result<Claimed, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(finished) = &finished {
            save(&mut *tx, finished, Some(0)).await?;
        }
        let (claim, skip_audit) = claim(&mut tx, &rules).await?;
        audit.extend(skip_audit);
        let audit = super::audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Claimed { claim, audit })
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let lease = (execution.status != ExecutionStatus::Running).then_some(0);
        let mut tx = self.pool.begin().await?;
        save(&mut *tx, execution, lease).await?;
        let audit = super::audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(audit)
    }

    async fn renew_lease(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        let renewed = sqlx::query(
            "UPDATE executions SET lease_until_ms = $2 WHERE id = $1 AND lease_until_ms > 0",
        )
        .bind(id)
        .bind(until_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        fetch_body::<_, pb::Execution, _>(&self.pool, "executions", id, "execution").await
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError> {
        let sql = lists::executions::<Postgres>(query);
        fetch_bodies::<_, pb::Execution, _>(sql, &self.pool, "execution").await
    }

    async fn pending_executions(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = $1")
            .bind(ExecutionStatus::Pending.number())
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt(format!("{count} pending executions")))
    }
}

/// Inserts one execution on `tx`; a repeated `request_id` returns the
/// first execution instead. The unique constraint decides: an insert that
/// meets a concurrent one with the same `request_id` waits for it to
/// commit and then does nothing, and the next statement (a new snapshot
/// under READ COMMITTED) reads the winner.
pub(super) async fn insert_execution(
    tx: &mut PgConnection,
    write: &ExecutionWrite,
) -> Result<Execution, StoreError> {
    let execution = &write.execution;
    let inserted = sqlx::query(
        "INSERT INTO executions \
         (id, pipeline_id, signal_id, status, traceparent, request_id, skip_if_running, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(&execution.id)
    .bind(&execution.pipeline_id)
    .bind(&execution.signal_id)
    .bind(execution.status.number())
    .bind(&write.traceparent)
    .bind(&write.request_id)
    .bind(write.skip_if_running)
    .bind(to_body(execution))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    match &write.request_id {
        Some(request_id) if !inserted => {
            let body: Vec<u8> =
                sqlx::query_scalar("SELECT body FROM executions WHERE request_id = $1")
                    .bind(request_id)
                    .fetch_one(&mut *tx)
                    .await?;
            decode::<pb::Execution, _>("execution", &body)
        }
        _ => Ok(execution.clone()),
    }
}

/// A candidate's row, locked for this claim.
#[derive(FromRow)]
struct Locked {
    skip_if_running: bool,
    traceparent: String,
    body: Vec<u8>,
    /// Queued while another execution of its pipeline runs.
    busy: bool,
}

/// Claims the oldest claimable execution under `rules` on `tx`, with the
/// audit events that report a skip.
async fn claim(
    tx: &mut PgConnection,
    rules: &ClaimRules,
) -> Result<(Claim, Vec<AuditRow>), StoreError> {
    // Queued executions of busy pipelines that are not to be skipped would
    // only be passed over: leave them out of the window.
    let window: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT e.id, e.pipeline_id FROM executions AS e WHERE {CLAIMABLE} \
         AND NOT (e.status = $1 AND NOT e.skip_if_running AND {BUSY}) \
         ORDER BY e.id LIMIT $4"
    )))
    .bind(rules.queued.number())
    .bind(rules.running.number())
    .bind(rules.now_ms)
    .bind(CLAIM_WINDOW)
    .fetch_all(&mut *tx)
    .await?;
    for (id, pipeline_id) in window {
        let Some(candidate) = lock_candidate(tx, rules, &id, &pipeline_id).await? else {
            continue;
        };
        if candidate.busy && !candidate.skip_if_running {
            continue;
        }
        let mut execution: Execution = decode::<pb::Execution, _>("execution", &candidate.body)?;
        return Ok(if candidate.busy {
            let audit = (rules.skip)(&mut execution, rules.now_ms);
            save(&mut *tx, &execution, Some(0)).await?;
            (Claim::Skipped(Box::new(execution)), audit)
        } else {
            (rules.start)(&mut execution, rules.now_ms);
            let lease = rules.now_ms.saturating_add(rules.lease_ms);
            save(&mut *tx, &execution, Some(lease)).await?;
            let run = Claim::Run {
                execution: Box::new(execution),
                traceparent: candidate.traceparent,
            };
            (run, Vec::new())
        });
    }
    Ok((Claim::Idle, Vec::new()))
}

/// Takes the lock of `pipeline_id`, then execution `id`'s row if it is
/// still claimable and no other transaction holds it; `None` when another
/// transaction holds either.
async fn lock_candidate(
    tx: &mut PgConnection,
    rules: &ClaimRules,
    id: &str,
    pipeline_id: &str,
) -> Result<Option<Locked>, StoreError> {
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(pipeline_id)
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(None);
    }
    let row = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT e.skip_if_running, e.traceparent, e.body, (e.status = $1 AND {BUSY}) AS busy \
         FROM executions AS e WHERE e.id = $4 AND {CLAIMABLE} FOR UPDATE SKIP LOCKED"
    )))
    .bind(rules.queued.number())
    .bind(rules.running.number())
    .bind(rules.now_ms)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row)
}

/// Saves an execution with its lease until `lease_until_ms`, or, when
/// `None`, with the lease it has.
async fn save(
    executor: impl PgExecutor<'_>,
    execution: &Execution,
    lease_until_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE executions SET status = $2, \
         lease_until_ms = COALESCE($3, lease_until_ms), body = $4 WHERE id = $1",
    )
    .bind(&execution.id)
    .bind(execution.status.number())
    .bind(lease_until_ms)
    .bind(to_body(execution))
    .execute(executor)
    .await?;
    Ok(())
}

/// The stored body of an execution.
fn to_body(execution: &Execution) -> Vec<u8> {
    pb::Execution::from(execution).encode_to_vec()
}

//! Pipeline and execution writes on the writer's SQLite connection: the
//! execution queue (insert, claim with a lease, update) and pipeline
//! changes. Reads live with the other reads in `sqlite.rs`.

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use tradeplane_api::{Execution, ExecutionStatus, Pipeline};

use super::{Claim, ExecutionWrite, PipelineInsert, StoreError};
use crate::proto_time::ms_to_timestamp;

const PENDING: i32 = ExecutionStatus::Pending as i32;
const RUNNING: i32 = ExecutionStatus::Running as i32;
/// How many queued executions one claim looks at.
const CLAIM_WINDOW: i64 = 64;

/// Decodes a stored execution.
pub fn decode_execution(body: &[u8]) -> Result<Execution, StoreError> {
    Execution::decode(body).map_err(|e| StoreError::Corrupt(format!("execution body: {e}")))
}

/// Decodes a stored pipeline.
pub fn decode_pipeline(body: &[u8]) -> Result<Pipeline, StoreError> {
    Pipeline::decode(body).map_err(|e| StoreError::Corrupt(format!("pipeline body: {e}")))
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
            return decode_execution(&body);
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

/// Claims the oldest runnable execution (see `Store::claim_execution`).
pub fn claim(conn: &mut Connection, now_ms: i64, lease_ms: i64) -> Result<Claim, StoreError> {
    let tx = conn.savepoint()?;
    let candidates: Vec<(String, String, i32, bool, String, Vec<u8>)> = {
        let mut select = tx.prepare_cached(
            "SELECT id, pipeline_id, status, skip_if_running, traceparent, body FROM executions \
             WHERE status = ?1 OR (status = ?2 AND lease_until_ms < ?3) ORDER BY id LIMIT ?4",
        )?;
        select
            .query_map(params![PENDING, RUNNING, now_ms, CLAIM_WINDOW], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?
    };
    let mut outcome = Claim::Idle;
    for (id, pipeline_id, status, skip_if_running, traceparent, body) in candidates {
        let mut execution = decode_execution(&body)?;
        let busy: bool = status == PENDING
            && tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE pipeline_id = ?1 AND status = ?2 \
                     AND lease_until_ms >= ?3 AND id != ?4)",
                )?
                .query_row(params![pipeline_id, RUNNING, now_ms, id], |r| r.get(0))?;
        if busy && !skip_if_running {
            continue;
        }
        if busy {
            execution.status = ExecutionStatus::Skipped as i32;
            execution.skip_reason = "already_running".into();
            execution.end_time = Some(ms_to_timestamp(now_ms));
            save(&tx, &execution, 0)?;
            outcome = Claim::Skipped(Box::new(execution));
        } else {
            execution.status = RUNNING;
            execution.attempt += 1;
            if execution.start_time.is_none() {
                execution.start_time = Some(ms_to_timestamp(now_ms));
            }
            save(&tx, &execution, now_ms + lease_ms)?;
            outcome = Claim::Run {
                execution: Box::new(execution),
                traceparent,
            };
        }
        break;
    }
    tx.commit()?;
    Ok(outcome)
}

/// Saves an execution with its lease.
pub fn save(
    conn: &Connection,
    execution: &Execution,
    lease_until_ms: i64,
) -> Result<(), StoreError> {
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

/// Inserts a pipeline (see `Store::insert_pipeline`).
pub fn insert_pipeline(
    conn: &mut Connection,
    pipeline: &Pipeline,
    request_id: Option<&str>,
) -> Result<PipelineInsert, StoreError> {
    let tx = conn.savepoint()?;
    if let Some(request_id) = request_id {
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT body FROM pipelines WHERE request_id = ?1",
                [request_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(body) = existing {
            return Ok(PipelineInsert::RequestSeen(Box::new(decode_pipeline(
                &body,
            )?)));
        }
    }
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pipelines WHERE name = ?1)",
        [&pipeline.name],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(PipelineInsert::NameTaken);
    }
    tx.execute(
        "INSERT INTO pipelines (id, name, state, exchange, request_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            pipeline.id,
            pipeline.name,
            pipeline.state,
            pipeline.exchange,
            request_id,
            pipeline.encode_to_vec()
        ],
    )?;
    tx.commit()?;
    Ok(PipelineInsert::Inserted)
}

/// Saves a pipeline; false when another pipeline has its name.
pub fn update_pipeline(conn: &mut Connection, pipeline: &Pipeline) -> Result<bool, StoreError> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pipelines WHERE name = ?1 AND id != ?2)",
        params![pipeline.name, pipeline.id],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(false);
    }
    conn.execute(
        "UPDATE pipelines SET name = ?2, state = ?3, exchange = ?4, body = ?5 WHERE id = ?1",
        params![
            pipeline.id,
            pipeline.name,
            pipeline.state,
            pipeline.exchange,
            pipeline.encode_to_vec()
        ],
    )?;
    Ok(true)
}

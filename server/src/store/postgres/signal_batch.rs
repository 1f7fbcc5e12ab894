//! Signals written in groups, as the SQLite writer does: each writer task
//! takes every signal that is waiting (up to [`MAX_GROUP`]) and records
//! them with one call of `tradeplane_record_signals`
//! (`migrations/postgres/0007_record_signals.sql`), in one transaction
//! with the executions they start, and answers each caller once it has
//! committed. Under load a round trip and a commit carry many signals
//! instead of one each; alone, a signal is still one round trip.
//!
//! A group that fails as a whole (a statement timeout, the database going
//! away) is written again signal by signal, so that one signal's failure
//! is its own. The writers have a pool of their own, [`WRITERS`]
//! connections that are not pinged each time they are taken (a broken one
//! fails its group, which is answered UNAVAILABLE, and is dropped).

use std::sync::Arc;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tradeplane_api as pb;

use super::{executions::insert_execution, signals::key_locks};
use crate::store::{SignalWrite, SignalWriteResult, StoreError, query::decode};

/// The most signals one call records.
const MAX_GROUP: usize = 256;
/// Writers: while one group is in the database, the next gathers.
pub(super) const WRITERS: u32 = 2;
/// Signals that may wait for a writer.
const QUEUE: usize = 4096;

/// A signal to record and where its answer goes.
struct Job {
    write: SignalWrite,
    answer: oneshot::Sender<Result<SignalWriteResult, StoreError>>,
}

/// Hands signals to the writer tasks.
pub(super) struct SignalBatcher {
    jobs: mpsc::Sender<Job>,
}

impl SignalBatcher {
    /// Starts the writers on `pool` (of [`WRITERS`] connections); they stop
    /// when the batcher is dropped.
    pub fn start(pool: PgPool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_groups(pool.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// Records `write` with the next group; answers once it committed.
    pub async fn record(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        let stopped = || StoreError::Unavailable("the signal writers have stopped".into());
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job { write, answer })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// One writer: takes the waiting signals, records them, answers.
async fn write_groups(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut group = Vec::new();
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
                return;
            }
        }
        let writes: Vec<&SignalWrite> = group.iter().map(|job| &job.write).collect();
        let written = write_group(&pool, &writes).await;
        match written {
            Ok(results) => {
                for (job, result) in group.into_iter().zip(results) {
                    let _ = job.answer.send(Ok(result));
                }
            }
            Err(err) if group.len() == 1 => {
                if let Some(job) = group.pop() {
                    let _ = job.answer.send(Err(err));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, signals = group.len(), "a group of signals failed; writing them one by one");
                for job in group {
                    let result = write_group(&pool, &[&job.write]).await;
                    let _ = job.answer.send(result.map(|mut one| one.remove(0)));
                }
            }
        }
    }
}

/// Records `writes` and the executions of those that are new, in one
/// transaction (one statement when none starts an execution); answers
/// each one's result, in order.
async fn write_group(
    pool: &PgPool,
    writes: &[&SignalWrite],
) -> Result<Vec<SignalWriteResult>, StoreError> {
    let mut conn = pool.acquire().await?;
    if writes.iter().all(|w| w.executions.is_empty()) {
        return record_group(&mut conn, writes).await;
    }
    let mut tx = conn.begin().await?;
    let results = record_group(&mut tx, writes).await?;
    for (write, result) in writes.iter().zip(&results) {
        if *result == SignalWriteResult::Inserted {
            for execution in &write.executions {
                insert_execution(&mut tx, execution).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// Records `writes` (not their executions) with one call.
async fn record_group(
    conn: &mut PgConnection,
    writes: &[&SignalWrite],
) -> Result<Vec<SignalWriteResult>, StoreError> {
    let column = |f: fn(&SignalWrite) -> &str| writes.iter().map(|w| f(w)).collect::<Vec<_>>();
    let dedupe_keys: Vec<Option<&str>> = writes
        .iter()
        .map(|w| w.dedupe.as_ref().map(|d| d.key.as_str()))
        .collect();
    let earlier_keys: Vec<Option<&str>> = writes
        .iter()
        .map(|w| w.dedupe.as_ref().and_then(|d| d.earlier.as_deref()))
        .collect();
    let expires: Vec<i64> = writes
        .iter()
        .map(|w| w.dedupe.as_ref().map_or(0, |d| d.expires_ms))
        .collect();
    let mut locks: Vec<i64> = writes
        .iter()
        .filter_map(|w| w.dedupe.as_ref())
        .flat_map(key_locks)
        .collect();
    locks.sort_unstable();
    locks.dedup();
    let duplicates: Vec<(i32, String, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT slot, duplicate_id, duplicate_body FROM tradeplane_record_signals(\
         $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(column(|w| w.id.as_str()))
    .bind(column(|w| w.source.as_str()))
    .bind(column(|w| w.strategy.as_str()))
    .bind(column(|w| w.symbol.as_str()))
    .bind(writes.iter().map(|w| w.outcome).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.body.as_slice()).collect::<Vec<_>>())
    .bind(dedupe_keys)
    .bind(earlier_keys)
    .bind(expires)
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(locks)
    .fetch_all(&mut *conn)
    .await?;
    let mut results = vec![SignalWriteResult::Inserted; writes.len()];
    for (slot, signal_id, body) in duplicates {
        let body = body.ok_or_else(|| {
            StoreError::Corrupt(format!("dedupe key points at missing signal {signal_id}"))
        })?;
        let first = decode::<pb::Signal, _>("signal", &body)?;
        let at = usize::try_from(slot - 1)
            .ok()
            .filter(|at| *at < results.len())
            .ok_or_else(|| StoreError::Corrupt(format!("no signal in slot {slot} of a group")))?;
        results[at] = SignalWriteResult::Duplicate(Box::new(first));
    }
    Ok(results)
}

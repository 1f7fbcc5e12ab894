//! The writer thread: one rusqlite connection that serves every write in
//! batches, each batch one transaction (one fsync) with a savepoint per
//! write, and a checkpointer thread that keeps the WAL short.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use opentelemetry::metrics::{Histogram, Meter};
use tokio::sync::{mpsc, oneshot};

use super::signals::write_signals;
use crate::store::{SignalWrite, SignalWriteResult, StoreError};

/// Where a write's result goes.
pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Work for the writer thread that is not a signal: runs on the writer's
/// connection inside the batch's transaction, says whether it succeeded,
/// and hands back how to answer once the batch has committed (or not).
pub type WriteOp = Box<dyn FnOnce(&mut rusqlite::Connection) -> (bool, Answer) + Send>;

/// Answers a write once its batch is settled: `None` when it committed,
/// else why not.
pub type Answer = Box<dyn FnOnce(Option<String>) + Send>;

/// What the writer thread is asked to do.
pub enum WriteJob {
    Signal(Box<SignalWrite>, Reply<SignalWriteResult>),
    Run(WriteOp),
    Close(oneshot::Sender<()>),
}

/// Below this many queued signals the writer yields once before committing.
const SMALL_BATCH: usize = 16;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the writer on a thread of its own that calls SQLite directly
/// (rusqlite, sharing sqlx's bundled SQLite). Under load, an async writer
/// spent most of each batch waiting for the scheduler between statements;
/// one synchronous thread has no such waits.
pub async fn spawn(
    path: PathBuf,
    jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    meter: &Meter,
) -> Result<(), StoreError> {
    let batch_size = meter
        .u64_histogram("tradeplane.store.commit.batch_size")
        .with_description("Writes committed together in one group-commit transaction")
        .with_boundaries(vec![
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
        ])
        .build();
    let (opened, open_result) = oneshot::channel();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || match open_writer(&path) {
            Ok(conn) => {
                let _ = opened.send(Ok(()));
                let (stop_checkpoints, stop) = std::sync::mpsc::channel();
                let checkpointer = std::thread::Builder::new()
                    .name("store-checkpoint".into())
                    .spawn(move || run_checkpointer(path, stop));
                let closed = run_writer(conn, jobs, max_batch, batch_size);
                drop(stop_checkpoints);
                if let Ok(checkpointer) = checkpointer {
                    let _ = checkpointer.join();
                }
                if let Some(closed) = closed {
                    let _ = closed.send(());
                }
            }
            Err(err) => {
                let _ = opened.send(Err(err));
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
    open_result
        .await
        .map_err(|_| StoreError::Unavailable("the store writer stopped".into()))?
}

fn open_writer(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A 64 MiB page cache and memory-mapped reads keep the B-tree pages the
    // writer touches out of read(2) calls.
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    // Most checkpoint work runs on its own thread (see `run_checkpointer`);
    // the writer's own automatic checkpoint then only copies the remainder,
    // and, being the only writer, completes it so that the WAL is reset.
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// Copies committed WAL frames into the database file every
/// [`CHECKPOINT_INTERVAL`] with PASSIVE checkpoints, which never block the
/// writer, until `stop` fires or is dropped.
fn run_checkpointer(path: PathBuf, stop: std::sync::mpsc::Receiver<()>) {
    let conn = match rusqlite::Connection::open(&path) {
        Ok(conn) => conn,
        Err(err) => {
            tracing::error!(error = %err, "checkpointer cannot open the database; the WAL will grow");
            return;
        }
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(CHECKPOINT_INTERVAL)
    {
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Serves write jobs until the channel closes or a `Close` job arrives;
/// returns the `Close` job's reply, to be sent once everything has stopped.
fn run_writer(
    mut conn: rusqlite::Connection,
    mut jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    batch_size: Histogram<u64>,
) -> Option<oneshot::Sender<()>> {
    let mut signals = Vec::with_capacity(max_batch);
    let mut ops = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.blocking_recv() {
        let mut next = Some(first);
        let mut closing = None;
        let mut yielded = false;
        while let Some(job) = next.take() {
            match job {
                WriteJob::Signal(write, reply) => signals.push((*write, reply)),
                WriteJob::Run(op) => ops.push(op),
                WriteJob::Close(done) => closing = Some(done),
            }
            if signals.len() + ops.len() < max_batch && closing.is_none() {
                next = jobs.try_recv().ok();
                // A small batch: let the request threads enqueue what they
                // are about to, once, so that one fsync serves more callers.
                if next.is_none() && !yielded && signals.len() + ops.len() < SMALL_BATCH {
                    yielded = true;
                    std::thread::yield_now();
                    next = jobs.try_recv().ok();
                }
            }
        }
        if !ops.is_empty() {
            run_ops(&mut conn, ops.drain(..));
        }
        if !signals.is_empty() {
            let (writes, replies): (Vec<_>, Vec<_>) = signals.drain(..).unzip();
            batch_size.record(writes.len() as u64, &[]);
            match write_signals(&mut conn, &writes) {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "group commit failed");
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(err.to_string())));
                    }
                }
            }
        }
        if closing.is_some() {
            return closing;
        }
    }
    None
}

/// Runs a batch of writes in one transaction (one fsync), each inside a
/// savepoint of its own so that a failed write leaves no trace, and
/// answers them after the commit.
fn run_ops(conn: &mut rusqlite::Connection, ops: impl Iterator<Item = WriteOp>) {
    // Without the outer transaction each savepoint commits by itself.
    let batched = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    let mut answers = Vec::new();
    for op in ops {
        let opened = conn.execute_batch("SAVEPOINT write_op").is_ok();
        let (succeeded, answer) = op(conn);
        if opened {
            let close = if succeeded {
                "RELEASE write_op"
            } else {
                "ROLLBACK TO write_op; RELEASE write_op"
            };
            if let Err(err) = conn.execute_batch(close) {
                tracing::error!(error = %err, "closing a write's savepoint failed");
            }
        }
        answers.push(answer);
    }
    let commit_error = if batched {
        conn.execute_batch("COMMIT").err().map(|err| {
            tracing::error!(error = %err, "group commit of writes failed");
            let _ = conn.execute_batch("ROLLBACK");
            err.to_string()
        })
    } else {
        None
    };
    for answer in answers {
        answer(commit_error.clone());
    }
}

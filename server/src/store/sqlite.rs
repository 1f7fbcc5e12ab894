//! The embedded SQLite backend: WAL mode, `synchronous = FULL`, and one
//! writer task that commits every queued write in a single transaction
//! (group commit), so that each fsync is shared by a whole batch of callers
//! and nobody is answered before their write is durable.

use std::{collections::HashMap, str::FromStr, time::Duration, time::Instant};

use async_trait::async_trait;
use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};
use prost::Message;
use sqlx::{
    Connection, QueryBuilder, Row, Sqlite, SqliteConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::{mpsc, oneshot};
use tradeplane_api::Signal;

use super::{SignalQuery, SignalWrite, SignalWriteResult, Store, StoreError};
use crate::telemetry::SECONDS_BUCKETS;

/// Rows per multi-row statement (7 bound values each, far below SQLite's
/// variable limit).
const ROWS_PER_STATEMENT: usize = 500;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum WriteJob {
    Signal(SignalWrite, Reply<SignalWriteResult>),
    Purge(i64, Reply<u64>),
    Close(oneshot::Sender<()>),
}

/// SQLite store with a group-committing writer and a pool of readers.
pub struct SqliteStore {
    writer: mpsc::Sender<WriteJob>,
    readers: SqlitePool,
    metrics: StoreMetrics,
}

#[derive(Clone)]
struct StoreMetrics {
    duration: Histogram<f64>,
    batch_size: Histogram<u64>,
}

impl StoreMetrics {
    fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram("tradeplane.store.operation.duration")
                .with_unit("s")
                .with_description("Duration of store operations")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            batch_size: meter
                .u64_histogram("tradeplane.store.commit.batch_size")
                .with_description("Writes committed together in one group-commit transaction")
                .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0])
                .build(),
        }
    }

    fn observe(&self, operation: &'static str, started: Instant) {
        self.duration
            .record(started.elapsed().as_secs_f64(), &[KeyValue::new("operation", operation)]);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, applies migrations
    /// and starts the writer.
    pub async fn open(
        url: &str,
        max_batch: usize,
        read_connections: u32,
        meter: &Meter,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let mut writer_conn = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut writer_conn)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(read_connections)
            .connect_with(options.read_only(true))
            .await?;

        let metrics = StoreMetrics::new(meter);
        let (writer, jobs) = mpsc::channel(max_batch * 4);
        tokio::spawn(run_writer(writer_conn, jobs, max_batch, metrics.clone()));
        Ok(Self { writer, readers, metrics })
    }

    async fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> WriteJob) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(job(reply))
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store writer stopped".into()))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        self.submit(|reply| WriteJob::Signal(write, reply)).await
    }

    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        let started = Instant::now();
        let row = sqlx::query("SELECT body FROM signals WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        self.metrics.observe("get_signal", started);
        row.map(|row| decode_signal(row.try_get("body")?)).transpose()
    }

    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        let started = Instant::now();
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT body FROM signals WHERE 1 = 1");
        if let Some(source) = &query.source {
            sql.push(" AND source = ").push_bind(source.clone());
        }
        if let Some(symbol) = &query.symbol {
            sql.push(" AND symbol = ").push_bind(symbol.clone());
        }
        if let Some(strategy) = &query.strategy {
            sql.push(" AND strategy = ").push_bind(strategy.clone());
        }
        if let Some(outcome) = query.outcome {
            sql.push(" AND outcome = ").push_bind(outcome);
        }
        if let Some(start) = query.start_ms {
            sql.push(" AND receive_ms >= ").push_bind(start);
        }
        if let Some(end) = query.end_ms {
            sql.push(" AND receive_ms < ").push_bind(end);
        }
        if let Some(before) = &query.before_id {
            sql.push(" AND id < ").push_bind(before.clone());
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.readers).await?;
        self.metrics.observe("list_signals", started);
        rows.into_iter().map(|row| decode_signal(row.try_get("body")?)).collect()
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.submit(|reply| WriteJob::Purge(now_ms, reply)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.writer.send(WriteJob::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        self.readers.close().await;
    }
}

fn decode_signal(body: Vec<u8>) -> Result<Signal, StoreError> {
    Signal::decode(body.as_slice()).map_err(|e| StoreError::Corrupt(format!("signal body: {e}")))
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    metrics: StoreMetrics,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        let mut signals = Vec::new();
        let mut closing = None;
        for job in batch.drain(..) {
            match job {
                WriteJob::Signal(write, reply) => signals.push((write, reply)),
                WriteJob::Purge(now_ms, reply) => {
                    let result = sqlx::query("DELETE FROM signal_dedupe WHERE expires_ms <= ?")
                        .bind(now_ms)
                        .execute(&mut conn)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(StoreError::from);
                    let _ = reply.send(result);
                }
                WriteJob::Close(done) => closing = Some(done),
            }
        }
        if !signals.is_empty() {
            let started = Instant::now();
            let (writes, replies): (Vec<_>, Vec<_>) = signals.into_iter().unzip();
            metrics.batch_size.record(writes.len() as u64, &[]);
            match write_signals(&mut conn, &writes).await {
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
            metrics.observe("record_signals", started);
        }
        if let Some(done) = closing {
            let _ = conn.close().await;
            let _ = done.send(());
            return;
        }
    }
}

/// What one write of a batch turns out to be.
enum Decision {
    Insert,
    DuplicateOfStored(String),
    DuplicateOfBatch(usize),
}

async fn write_signals(
    conn: &mut SqliteConnection,
    writes: &[SignalWrite],
) -> Result<Vec<SignalWriteResult>, StoreError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut tx = conn.begin().await?;

    let keys: Vec<&str> = writes.iter().filter_map(|w| w.dedupe.as_ref()).map(|d| d.key.as_str()).collect();
    let mut stored: HashMap<String, String> = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT key, signal_id FROM signal_dedupe WHERE expires_ms > ");
        sql.push_bind(now_ms).push(" AND key IN (");
        let mut list = sql.separated(", ");
        for key in chunk {
            list.push_bind(*key);
        }
        sql.push(")");
        for row in sql.build().fetch_all(&mut *tx).await? {
            stored.insert(row.try_get("key")?, row.try_get("signal_id")?);
        }
    }

    let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
    let decisions: Vec<Decision> = writes
        .iter()
        .enumerate()
        .map(|(index, write)| match &write.dedupe {
            None => Decision::Insert,
            Some(dedupe) => {
                if let Some(id) = stored.get(&dedupe.key) {
                    Decision::DuplicateOfStored(id.clone())
                } else if let Some(first) = first_in_batch.get(dedupe.key.as_str()) {
                    Decision::DuplicateOfBatch(*first)
                } else {
                    first_in_batch.insert(&dedupe.key, index);
                    Decision::Insert
                }
            }
        })
        .collect();

    let inserts: Vec<&SignalWrite> = writes
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| matches!(d, Decision::Insert))
        .map(|(w, _)| w)
        .collect();
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO signals (id, receive_ms, source, strategy, symbol, outcome, body) ",
        );
        sql.push_values(chunk, |mut row, write| {
            let s = &write.signal;
            row.push_bind(s.id.clone())
                .push_bind(s.receive_time.as_ref().map(timestamp_ms).unwrap_or(now_ms))
                .push_bind(s.source.clone())
                .push_bind(s.strategy.clone())
                .push_bind(s.instrument.as_ref().map(|i| i.symbol.clone()).unwrap_or_default())
                .push_bind(s.outcome)
                .push_bind(s.encode_to_vec());
        });
        sql.build().execute(&mut *tx).await?;

        let keyed: Vec<_> = chunk.iter().filter_map(|w| w.dedupe.as_ref().map(|d| (d, &w.signal.id))).collect();
        if !keyed.is_empty() {
            let mut sql = QueryBuilder::<Sqlite>::new("INSERT INTO signal_dedupe (key, signal_id, expires_ms) ");
            sql.push_values(keyed, |mut row, (dedupe, id)| {
                row.push_bind(dedupe.key.clone()).push_bind((*id).clone()).push_bind(dedupe.expires_ms);
            });
            sql.push(
                " ON CONFLICT (key) DO UPDATE SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms",
            );
            sql.build().execute(&mut *tx).await?;
        }
    }

    let wanted: Vec<&str> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::DuplicateOfStored(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let mut originals: HashMap<String, Signal> = HashMap::new();
    for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT body FROM signals WHERE id IN (");
        let mut list = sql.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        sql.push(")");
        for row in sql.build().fetch_all(&mut *tx).await? {
            let signal = decode_signal(row.try_get("body")?)?;
            originals.insert(signal.id.clone(), signal);
        }
    }

    tx.commit().await?;

    decisions
        .into_iter()
        .map(|decision| match decision {
            Decision::Insert => Ok(SignalWriteResult::Inserted),
            Decision::DuplicateOfBatch(first) => Ok(SignalWriteResult::Duplicate(writes[first].signal.clone())),
            Decision::DuplicateOfStored(id) => originals
                .get(&id)
                .cloned()
                .map(SignalWriteResult::Duplicate)
                .ok_or_else(|| StoreError::Corrupt(format!("dedupe key points at missing signal {id}"))),
        })
        .collect()
}

fn timestamp_ms(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DedupeKey;

    async fn open(dir: &std::path::Path) -> SqliteStore {
        let meter = opentelemetry::global::meter("test");
        let url = format!("sqlite://{}", dir.join("t.db").display());
        SqliteStore::open(&url, 64, 2, &meter).await.unwrap()
    }

    fn write(id: &str, key: Option<&str>) -> SignalWrite {
        SignalWrite {
            signal: Signal { id: id.into(), source: "grpc".into(), ..Default::default() },
            dedupe: key.map(|k| DedupeKey { key: k.into(), expires_ms: i64::MAX }),
        }
    }

    #[tokio::test]
    async fn concurrent_duplicates_resolve_to_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(open(dir.path()).await);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.record_signal(write(&format!("id-{i:03}"), Some("same-key"))).await.unwrap()
            }));
        }
        let mut inserted = 0;
        for task in tasks {
            if task.await.unwrap() == SignalWriteResult::Inserted {
                inserted += 1;
            }
        }
        assert_eq!(inserted, 1, "exactly one write wins the key");
        let all = store.list_signals(&SignalQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn expired_keys_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        let mut first = write("a", Some("k"));
        first.dedupe.as_mut().unwrap().expires_ms = 1;
        assert_eq!(store.record_signal(first).await.unwrap(), SignalWriteResult::Inserted);
        assert_eq!(store.record_signal(write("b", Some("k"))).await.unwrap(), SignalWriteResult::Inserted);
        assert_eq!(store.purge_expired_keys(i64::MAX).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        store.record_signal(write("persisted", None)).await.unwrap();
        store.close().await;
        assert!(store.record_signal(write("late", None)).await.is_err(), "closed store refuses writes");
        let reopened = open(dir.path()).await;
        assert!(reopened.get_signal("persisted").await.unwrap().is_some());
    }
}

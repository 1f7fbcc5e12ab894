//! The embedded SQLite backend: WAL mode, `synchronous = FULL`, and one
//! writer thread that commits every queued write in a single transaction
//! (group commit), so that each fsync is shared by a whole batch of callers
//! and nobody is answered before their write is durable. Reads go through an
//! async sqlx pool, which also applies the migrations.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use rusqlite::OptionalExtension;

use async_trait::async_trait;
use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};
use prost::Message;
use sqlx::{
    Connection, QueryBuilder, Row, Sqlite, SqliteConnection,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};
use tokio::sync::{mpsc, oneshot};
use tradeplane_api::{Execution, Order, Pipeline, Signal};

use super::{
    ApiKeyInsert, ApiKeyRow, AuditQuery, AuditRow, Claim, ExecutionQuery, ExecutionWrite,
    OrderInsert, OrderQuery, PipelineInsert, SignalQuery, SignalWrite, SignalWriteResult, Store,
    StoreError,
    executions::{self, decode_execution, decode_pipeline},
};
use crate::observe::SECONDS_BUCKETS;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Work for the writer thread that is not a signal: runs on the writer's
/// connection inside the batch's transaction, says whether it succeeded,
/// and hands back how to answer once the batch has committed (or not).
type WriteOp = Box<dyn FnOnce(&mut rusqlite::Connection) -> (bool, Answer) + Send>;

/// Answers a write once its batch is settled: `None` when it committed,
/// else why not.
type Answer = Box<dyn FnOnce(Option<String>) + Send>;

enum WriteJob {
    Signal(Box<SignalWrite>, Reply<SignalWriteResult>),
    Run(WriteOp),
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
                .with_boundaries(vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
                ])
                .build(),
        }
    }

    fn observe(&self, operation: &'static str, started: Instant) {
        self.duration.record(
            started.elapsed().as_secs_f64(),
            &[KeyValue::new("operation", operation)],
        );
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
        let mut migrator = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrator)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        migrator.close().await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(read_connections)
            .connect_with(options.clone().read_only(true))
            .await?;

        let metrics = StoreMetrics::new(meter);
        let (writer, jobs) = mpsc::channel(max_batch * 4);
        let path = options.get_filename().to_path_buf();
        spawn_writer(path, jobs, max_batch, metrics.clone()).await?;
        Ok(Self {
            writer,
            readers,
            metrics,
        })
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

    /// Runs `op` on the writer thread, in order with every other write.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let metrics = self.metrics.clone();
        self.submit(|reply| {
            WriteJob::Run(Box::new(move |conn| {
                let started = Instant::now();
                let result = op(conn);
                let succeeded = result.is_ok();
                let answer: Answer = Box::new(move |commit_error| {
                    let result = match commit_error {
                        Some(error) => Err(StoreError::Unavailable(error)),
                        None => result,
                    };
                    let _ = reply.send(result);
                    metrics.observe(operation, started);
                });
                (succeeded, answer)
            }))
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        self.submit(|reply| WriteJob::Signal(Box::new(write), reply))
            .await
    }

    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        let started = Instant::now();
        let row = sqlx::query("SELECT body FROM signals WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        self.metrics.observe("get_signal", started);
        row.map(|row| decode_signal(row.try_get("body")?))
            .transpose()
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
        push_page(
            &mut sql,
            query.start_ms,
            query.end_ms,
            query.before_id.as_deref(),
            query.limit,
        );
        let rows = sql.build().fetch_all(&self.readers).await?;
        self.metrics.observe("list_signals", started);
        rows.into_iter()
            .map(|row| decode_signal(row.try_get("body")?))
            .collect()
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.run("purge_expired_keys", move |conn| {
            let deleted =
                conn.execute("DELETE FROM signal_dedupe WHERE expires_ms <= ?1", [now_ms])?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn insert_order(
        &self,
        order: &Order,
        request_id: Option<&str>,
    ) -> Result<OrderInsert, StoreError> {
        let row = OrderRow::new(order);
        let request_id = request_id.map(str::to_string);
        self.run("insert_order", move |conn| {
            let tx = conn.savepoint()?;
            let existing: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT body FROM orders WHERE client_order_id = ?1 OR (?2 IS NOT NULL AND request_id = ?2)",
                    rusqlite::params![row.client_order_id, request_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(body) = existing {
                return Ok(OrderInsert::Existing(Box::new(decode_order(body)?)));
            }
            tx.execute(
                "INSERT INTO orders (id, client_order_id, request_id, exchange, symbol, side, status, execution_id, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    row.id,
                    row.client_order_id,
                    request_id,
                    row.exchange,
                    row.symbol,
                    row.side,
                    row.status,
                    row.execution_id,
                    row.body
                ],
            )?;
            tx.commit()?;
            Ok(OrderInsert::Inserted)
        })
        .await
    }

    async fn update_order(&self, order: &Order) -> Result<(), StoreError> {
        let row = OrderRow::new(order);
        self.run("update_order", move |conn| {
            conn.execute(
                "UPDATE orders SET status = ?2, body = ?3 WHERE id = ?1",
                rusqlite::params![row.id, row.status, row.body],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query("SELECT body FROM orders WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(|row| decode_order(row.try_get("body")?))
            .transpose()
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError> {
        let started = Instant::now();
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT body FROM orders WHERE 1 = 1");
        if let Some(exchange) = &query.exchange {
            sql.push(" AND exchange = ").push_bind(exchange.clone());
        }
        if let Some(symbol) = &query.symbol {
            sql.push(" AND symbol = ").push_bind(symbol.clone());
        }
        push_statuses(&mut sql, &query.statuses);
        if let Some(side) = query.side {
            sql.push(" AND side = ").push_bind(side);
        }
        if let Some(execution_id) = &query.execution_id {
            sql.push(" AND execution_id = ")
                .push_bind(execution_id.clone());
        }
        push_page(
            &mut sql,
            query.start_ms,
            query.end_ms,
            query.before_id.as_deref(),
            query.limit,
        );
        let rows = sql.build().fetch_all(&self.readers).await?;
        self.metrics.observe("list_orders", started);
        rows.into_iter()
            .map(|row| decode_order(row.try_get("body")?))
            .collect()
    }

    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
    ) -> Result<PipelineInsert, StoreError> {
        let pipeline = pipeline.clone();
        let request_id = request_id.map(str::to_string);
        self.run("insert_pipeline", move |conn| {
            executions::insert_pipeline(conn, &pipeline, request_id.as_deref())
        })
        .await
    }

    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError> {
        let pipeline = pipeline.clone();
        self.run("update_pipeline", move |conn| {
            executions::update_pipeline(conn, &pipeline)
        })
        .await
    }

    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.run("delete_pipeline", move |conn| {
            Ok(conn.execute("DELETE FROM pipelines WHERE id = ?1", [id])? > 0)
        })
        .await
    }

    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError> {
        let rows = sqlx::query("SELECT body FROM pipelines ORDER BY name")
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter()
            .map(|row| decode_pipeline(&row.try_get::<Vec<u8>, _>("body")?))
            .collect()
    }

    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError> {
        self.run("insert_execution", move |conn| {
            let tx = conn.savepoint()?;
            let execution = executions::insert_execution(&tx, &write)?;
            tx.commit()?;
            Ok(execution)
        })
        .await
    }

    async fn claim_execution(&self, now_ms: i64, lease_ms: i64) -> Result<Claim, StoreError> {
        self.run("claim_execution", move |conn| {
            executions::claim(conn, now_ms, lease_ms)
        })
        .await
    }

    async fn update_execution(&self, execution: &Execution) -> Result<(), StoreError> {
        let execution = execution.clone();
        self.run("update_execution", move |conn| {
            let running = execution.status == tradeplane_api::ExecutionStatus::Running as i32;
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
            executions::save(conn, &execution, lease)
        })
        .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let row = sqlx::query("SELECT body FROM executions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(|row| decode_execution(&row.try_get::<Vec<u8>, _>("body")?))
            .transpose()
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError> {
        let started = Instant::now();
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT body FROM executions WHERE 1 = 1");
        if let Some(pipeline_id) = &query.pipeline_id {
            sql.push(" AND pipeline_id = ")
                .push_bind(pipeline_id.clone());
        }
        if let Some(signal_id) = &query.signal_id {
            sql.push(" AND signal_id = ").push_bind(signal_id.clone());
        }
        push_statuses(&mut sql, &query.statuses);
        push_page(
            &mut sql,
            query.start_ms,
            query.end_ms,
            query.before_id.as_deref(),
            query.limit,
        );
        let rows = sql.build().fetch_all(&self.readers).await?;
        self.metrics.observe("list_executions", started);
        rows.into_iter()
            .map(|row| decode_execution(&row.try_get::<Vec<u8>, _>("body")?))
            .collect()
    }

    async fn pending_executions(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = ?")
            .bind(tradeplane_api::ExecutionStatus::Pending as i32)
            .fetch_one(&self.readers)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    async fn put_setting(&self, key: &str, value: String) -> Result<(), StoreError> {
        let key = key.to_string();
        self.run("put_setting", move |conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rusqlite::params![key, value],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_api_key(&self, key: ApiKeyRow) -> Result<ApiKeyInsert, StoreError> {
        self.run("insert_api_key", move |conn| {
            let tx = conn.savepoint()?;
            if let Some(request_id) = &key.request_id {
                let seen = tx
                    .query_row(
                        &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE request_id = ?1"),
                        [request_id],
                        api_key_from_rusqlite,
                    )
                    .optional()?;
                if let Some(seen) = seen {
                    return Ok(ApiKeyInsert::RequestSeen(Box::new(seen)));
                }
            }
            tx.execute(
                &format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                rusqlite::params![
                    key.id,
                    key.name,
                    key.role,
                    key.prefix,
                    key.token_hash,
                    key.create_ms,
                    key.expire_ms,
                    key.last_used_ms,
                    key.revoked_ms,
                    key.request_id,
                ],
            )?;
            tx.commit()?;
            Ok(ApiKeyInsert::Inserted)
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"
        )))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(api_key_from_sqlx).collect()
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<Option<ApiKeyRow>, StoreError> {
        let id = id.to_string();
        self.run("revoke_api_key", move |conn| {
            conn.execute(
                "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                rusqlite::params![id, at_ms],
            )?;
            Ok(conn
                .query_row(
                    &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                    [&id],
                    api_key_from_rusqlite,
                )
                .optional()?)
        })
        .await
    }

    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.run("record_key_use", move |conn| {
            let tx = conn.savepoint()?;
            {
                let mut update =
                    tx.prepare_cached("UPDATE api_keys SET last_used_ms = ?2 WHERE id = ?1")?;
                for (id, at_ms) in &used {
                    update.execute(rusqlite::params![id, at_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<(), StoreError> {
        self.run("append_audit", move |conn| {
            let tx = conn.savepoint()?;
            {
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
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let started = Instant::now();
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE 1 = 1"
        ));
        if let Some(actor) = &query.actor {
            sql.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(prefix) = &query.action_prefix {
            sql.push(" AND substr(action, 1, length(")
                .push_bind(prefix.clone())
                .push(")) = ")
                .push_bind(prefix.clone());
        }
        if let Some(outcome) = query.outcome {
            sql.push(" AND outcome = ").push_bind(outcome);
        }
        if let Some(start) = query.start_ms {
            sql.push(" AND time_ms >= ").push_bind(start);
        }
        if let Some(end) = query.end_ms {
            sql.push(" AND time_ms < ").push_bind(end);
        }
        if let Some(before) = query.before_sequence {
            sql.push(" AND sequence < ").push_bind(before);
        }
        sql.push(" ORDER BY sequence DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.readers).await?;
        self.metrics.observe("list_audit", started);
        rows.iter().map(audit_from_sqlx).collect()
    }

    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE sequence > ? ORDER BY sequence LIMIT ?"
        )))
        .bind(sequence)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(audit_from_sqlx).collect()
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

const API_KEY_COLUMNS: &str = "id, name, role, prefix, token_hash, create_ms, expire_ms, \
     last_used_ms, revoked_ms, request_id";

const AUDIT_COLUMNS: &str = "sequence, time_ms, actor, source_address, action, target, outcome, \
     detail, trace_id, previous_hash, hash";

fn api_key_from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        prefix: row.get(3)?,
        token_hash: row.get(4)?,
        create_ms: row.get(5)?,
        expire_ms: row.get(6)?,
        last_used_ms: row.get(7)?,
        revoked_ms: row.get(8)?,
        request_id: row.get(9)?,
    })
}

fn api_key_from_sqlx(row: &sqlx::sqlite::SqliteRow) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: row.try_get(2)?,
        prefix: row.try_get(3)?,
        token_hash: row.try_get(4)?,
        create_ms: row.try_get(5)?,
        expire_ms: row.try_get(6)?,
        last_used_ms: row.try_get(7)?,
        revoked_ms: row.try_get(8)?,
        request_id: row.try_get(9)?,
    })
}

fn audit_from_sqlx(row: &sqlx::sqlite::SqliteRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        sequence: row.try_get(0)?,
        time_ms: row.try_get(1)?,
        actor: row.try_get(2)?,
        source_address: row.try_get(3)?,
        action: row.try_get(4)?,
        target: row.try_get(5)?,
        outcome: row.try_get(6)?,
        detail: row.try_get(7)?,
        trace_id: row.try_get(8)?,
        previous_hash: row.try_get(9)?,
        hash: row.try_get(10)?,
    })
}

/// An order's columns, computed on the calling thread.
struct OrderRow {
    id: String,
    client_order_id: String,
    exchange: String,
    symbol: String,
    side: i32,
    status: i32,
    execution_id: String,
    body: Vec<u8>,
}

impl OrderRow {
    fn new(order: &Order) -> Self {
        Self {
            id: order.id.clone(),
            client_order_id: order.client_order_id.clone(),
            exchange: order.exchange.clone(),
            symbol: order
                .instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default(),
            side: order.side,
            status: order.status,
            execution_id: order.execution_id.clone(),
            body: order.encode_to_vec(),
        }
    }
}

fn decode_order(body: Vec<u8>) -> Result<Order, StoreError> {
    Order::decode(body.as_slice()).map_err(|e| StoreError::Corrupt(format!("order body: {e}")))
}

fn decode_signal(body: Vec<u8>) -> Result<Signal, StoreError> {
    Signal::decode(body.as_slice()).map_err(|e| StoreError::Corrupt(format!("signal body: {e}")))
}

/// Starts the writer on a thread of its own that calls SQLite directly
/// (rusqlite, sharing sqlx's bundled SQLite). Under load, an async writer
/// spent most of each batch waiting for the scheduler between statements;
/// one synchronous thread has no such waits.
async fn spawn_writer(
    path: PathBuf,
    jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    metrics: StoreMetrics,
) -> Result<(), StoreError> {
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
                let closed = run_writer(conn, jobs, max_batch, metrics);
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

/// Below this many queued signals the writer yields once before committing.
const SMALL_BATCH: usize = 16;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

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

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// Serves write jobs until the channel closes or a `Close` job arrives;
/// returns the `Close` job's reply, to be sent once everything has stopped.
fn run_writer(
    mut conn: rusqlite::Connection,
    mut jobs: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    metrics: StoreMetrics,
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
            let started = Instant::now();
            let (writes, replies): (Vec<_>, Vec<_>) = signals.drain(..).unzip();
            metrics.batch_size.record(writes.len() as u64, &[]);
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
            metrics.observe("record_signals", started);
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

/// Writes a batch in one transaction. Keys are checked in order inside the
/// transaction, so a duplicate within the batch finds the first write.
fn write_signals(
    conn: &mut rusqlite::Connection,
    writes: &[SignalWrite],
) -> Result<Vec<SignalWriteResult>, StoreError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(writes.len());
    {
        let mut find_key = tx.prepare_cached(
            "SELECT signal_id FROM signal_dedupe WHERE key = ?1 AND expires_ms > ?2",
        )?;
        let mut find_signal = tx.prepare_cached("SELECT body FROM signals WHERE id = ?1")?;
        let mut insert_signal = tx.prepare_cached(
            "INSERT INTO signals (id, source, strategy, symbol, outcome, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut remember_key = tx.prepare_cached(
            "INSERT INTO signal_dedupe (key, signal_id, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms",
        )?;
        for write in writes {
            if let Some(dedupe) = &write.dedupe {
                let first: Option<String> = find_key
                    .query_row(rusqlite::params![dedupe.key, now_ms], |row| row.get(0))
                    .optional()?;
                if let Some(first) = first {
                    let body: Vec<u8> = find_signal
                        .query_row([&first], |row| row.get(0))
                        .optional()?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "dedupe key points at missing signal {first}"
                            ))
                        })?;
                    results.push(SignalWriteResult::Duplicate(Box::new(decode_signal(body)?)));
                    continue;
                }
            }
            insert_signal.execute(rusqlite::params![
                write.id,
                write.source,
                write.strategy,
                write.symbol,
                write.outcome,
                write.body,
            ])?;
            if let Some(dedupe) = &write.dedupe {
                remember_key.execute(rusqlite::params![dedupe.key, write.id, dedupe.expires_ms])?;
            }
            for execution in &write.executions {
                executions::insert_execution(&tx, execution)?;
            }
            results.push(SignalWriteResult::Inserted);
        }
    }
    tx.commit()?;
    Ok(results)
}

/// `AND status IN (…)`, unless `statuses` is empty.
fn push_statuses(sql: &mut QueryBuilder<Sqlite>, statuses: &[i32]) {
    if statuses.is_empty() {
        return;
    }
    sql.push(" AND status IN (");
    let mut list = sql.separated(", ");
    for status in statuses {
        list.push_bind(*status);
    }
    sql.push(")");
}

/// The time range (ids are UUIDv7, so a time bound is an id bound), the
/// page cursor, newest first, and the page size.
fn push_page(
    sql: &mut QueryBuilder<Sqlite>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    before_id: Option<&str>,
    limit: u32,
) {
    if let Some(start) = start_ms {
        sql.push(" AND id >= ").push_bind(uuid_v7_floor(start));
    }
    if let Some(end) = end_ms {
        sql.push(" AND id < ").push_bind(uuid_v7_floor(end));
    }
    if let Some(before) = before_id {
        sql.push(" AND id < ").push_bind(before.to_string());
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
}

/// The smallest UUIDv7 text of millisecond `ms`: ids compare as text in
/// time order, so a time bound is an id bound.
fn uuid_v7_floor(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
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
        let signal = Signal {
            id: id.into(),
            source: "grpc".into(),
            ..Default::default()
        };
        let dedupe = key.map(|k| DedupeKey {
            key: k.into(),
            expires_ms: i64::MAX,
        });
        SignalWrite::new(&signal, dedupe)
    }

    #[tokio::test]
    async fn concurrent_duplicates_resolve_to_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(open(dir.path()).await);
        let mut tasks = Vec::new();
        for i in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .record_signal(write(&format!("id-{i:03}"), Some("same-key")))
                    .await
                    .unwrap()
            }));
        }
        let mut inserted = 0;
        for task in tasks {
            if task.await.unwrap() == SignalWriteResult::Inserted {
                inserted += 1;
            }
        }
        assert_eq!(inserted, 1, "exactly one write wins the key");
        let all = store
            .list_signals(&SignalQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn expired_keys_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        let mut first = write("a", Some("k"));
        first.dedupe.as_mut().unwrap().expires_ms = 1;
        assert_eq!(
            store.record_signal(first).await.unwrap(),
            SignalWriteResult::Inserted
        );
        assert_eq!(
            store.record_signal(write("b", Some("k"))).await.unwrap(),
            SignalWriteResult::Inserted
        );
        assert_eq!(store.purge_expired_keys(i64::MAX).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        store.record_signal(write("persisted", None)).await.unwrap();
        store.close().await;
        assert!(
            store.record_signal(write("late", None)).await.is_err(),
            "closed store refuses writes"
        );
        let reopened = open(dir.path()).await;
        assert!(reopened.get_signal("persisted").await.unwrap().is_some());
    }

    fn queued(id: &str, pipeline: &str, skip_if_running: bool) -> ExecutionWrite {
        ExecutionWrite {
            execution: Execution {
                id: id.into(),
                pipeline_id: pipeline.into(),
                status: tradeplane_api::ExecutionStatus::Pending as i32,
                ..Default::default()
            },
            traceparent: String::new(),
            request_id: None,
            skip_if_running,
        }
    }

    #[tokio::test]
    async fn claims_skip_or_queue_behind_a_running_execution_and_resume_expired_leases() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).await;
        for write in [
            queued("e1", "skip", true),
            queued("e2", "skip", true),
            queued("e3", "queue", false),
            queued("e4", "queue", false),
        ] {
            store.insert_execution(write).await.unwrap();
        }
        let lease = 1_000;
        let Claim::Run { execution, .. } = store.claim_execution(0, lease).await.unwrap() else {
            panic!("e1 runs")
        };
        assert_eq!((execution.id.as_str(), execution.attempt), ("e1", 1));
        let Claim::Skipped(skipped) = store.claim_execution(1, lease).await.unwrap() else {
            panic!("e2 skips: e1 is running")
        };
        assert_eq!(
            (skipped.id.as_str(), skipped.skip_reason.as_str()),
            ("e2", "already_running")
        );
        let Claim::Run { execution, .. } = store.claim_execution(2, lease).await.unwrap() else {
            panic!("e3 runs")
        };
        assert_eq!(execution.id, "e3");
        assert_eq!(
            store.claim_execution(3, lease).await.unwrap(),
            Claim::Idle,
            "e4 waits behind e3"
        );
        assert_eq!(store.pending_executions().await.unwrap(), 1);
        // e1's worker died: after its lease, it is resumed.
        let Claim::Run { execution, .. } = store.claim_execution(1_500, lease).await.unwrap()
        else {
            panic!("e1 resumes")
        };
        assert_eq!((execution.id.as_str(), execution.attempt), ("e1", 2));
    }
}

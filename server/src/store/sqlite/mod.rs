//! The embedded SQLite backend: WAL mode, `synchronous = FULL`, and one
//! writer thread that commits every queued write in a single transaction
//! (group commit, see [`writer`]), so that each fsync is shared by a whole
//! batch of callers and nobody is answered before their write is durable.
//! Reads go through an async sqlx pool, which also applies the migrations.
//! Each aggregate's operations live in a file of their own.

mod approvals;
mod audit;
mod executions;
mod orders;
mod outbox;
mod pipelines;
mod security;
mod signals;
mod subscriptions;
#[cfg(test)]
mod tests;
mod writer;

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use opentelemetry::metrics::Meter;
use sqlx::{
    Connection, SqliteConnection,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};
use tokio::sync::{mpsc, oneshot};

use super::{Lifecycle, StoreConfig, StoreError};
use writer::{Answer, Reply, WriteJob};

/// SQLite store with a group-committing writer and a pool of readers.
pub struct SqliteStore {
    writer: mpsc::Sender<WriteJob>,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url`, applies migrations
    /// and starts the writer, which reports its batch sizes on `meter`.
    pub async fn open(url: &str, config: &StoreConfig, meter: &Meter) -> Result<Self, StoreError> {
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
            .max_connections(config.read_connections)
            .connect_with(options.clone().read_only(true))
            .await?;

        let (writer, jobs) = mpsc::channel(config.max_batch * 4);
        let path = options.get_filename().to_path_buf();
        writer::spawn(path, jobs, config.max_batch, meter).await?;
        Ok(Self { writer, readers })
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

    /// Runs `op` on the writer thread, in order with every other write,
    /// and answers once its batch has committed.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(|reply| {
            WriteJob::Run(Box::new(move |conn| {
                let result = op(conn);
                let succeeded = result.is_ok();
                let answer: Answer = Box::new(move |commit_error| {
                    let result = match commit_error {
                        Some(error) => Err(StoreError::Unavailable(error)),
                        None => result,
                    };
                    let _ = reply.send(result);
                });
                (succeeded, answer)
            }))
        })
        .await
    }
}

#[async_trait]
impl Lifecycle for SqliteStore {
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

    /// One process writes a SQLite database: there is no one to follow.
    fn changes(&self) -> Option<super::ChangeFeed> {
        None
    }
}

//! Which of the replicas sharing a database is on duty: the one holding a
//! session-level advisory lock on a connection of its own (outside the
//! store's pool, so that it never goes back to a pool and on to another
//! caller). The lock lives as long as that connection: when the process
//! dies, its connection closes, PostgreSQL frees the lock, and the next
//! replica to try takes it. When its machine dies and nothing closes the
//! connection, PostgreSQL's TCP keepalives on it (asked for by the
//! connection, [`KEEPALIVES`]) find it dead within about 10 s.

use std::{future::Future, time::Duration};

use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

use crate::store::StoreError;

/// The advisory lock's key ("tpduty" in ASCII; in `pg_locks`, classid
/// 29808 and objid 1685419129); other advisory locks of the store (the
/// audit chain's, sqlx's migrations') use other keys.
const DUTY_KEY: i64 = 0x7470_6475_7479;

/// The server's TCP keepalives on the lock's connection: the first probe
/// after 5 s of silence, then one a second, 5 unanswered ones closing it.
const KEEPALIVES: [(&str, &str); 3] = [
    ("tcp_keepalives_idle", "5"),
    ("tcp_keepalives_interval", "1"),
    ("tcp_keepalives_count", "5"),
];

/// A replica's claim to the duty lock, tried again with each
/// [`DutyLock::hold`].
pub struct DutyLock {
    options: PgConnectOptions,
    /// How long connecting or a statement may take before the connection
    /// counts as lost.
    timeout: Duration,
    /// The lock's own connection, kept between tries.
    connection: Option<PgConnection>,
    /// Whether `connection` holds the lock.
    held: bool,
}

impl DutyLock {
    /// A claim that connects with `options` (the store's, so that the
    /// connection carries this replica's name) when first tried.
    pub(super) fn new(options: PgConnectOptions, timeout: Duration) -> Self {
        Self {
            options: options.options(KEEPALIVES),
            timeout,
            connection: None,
            held: false,
        }
    }

    /// Takes the lock if it is free, or checks that the connection that
    /// holds it is still alive; answers whether this process holds it now.
    /// A failure (the database cannot be reached, the connection broke)
    /// drops the connection, and with it the lock; the next call connects
    /// again.
    pub async fn hold(&mut self) -> Result<bool, StoreError> {
        let timeout = self.timeout;
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => within(timeout, PgConnection::connect_with(&self.options)).await?,
        };
        let held = if self.held {
            within(timeout, sqlx::query("SELECT 1").execute(&mut connection))
                .await
                .map(|_| true)
        } else {
            within(
                timeout,
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(DUTY_KEY)
                    .fetch_one(&mut connection),
            )
            .await
        };
        self.held = matches!(held, Ok(true));
        if held.is_ok() {
            self.connection = Some(connection);
        }
        held
    }

    /// Gives the lock up (for a stop): the connection closes, and another
    /// replica can take the lock at once.
    pub async fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        // Unlocked before the connection closes: the server ends a closed
        // session (and frees its locks) a moment after the close returns.
        if held
            && let Err(err) = within(
                self.timeout,
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(DUTY_KEY)
                    .execute(&mut connection),
            )
            .await
        {
            tracing::debug!(error = %err, "the duty lock was not unlocked; it goes with its connection");
        }
        if let Err(err) = connection.close().await {
            tracing::debug!(error = %err, "the duty lock's connection did not close cleanly");
        }
    }
}

/// `work`'s answer, or UNAVAILABLE once `timeout` passed.
async fn within<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(StoreError::Unavailable(format!(
            "the duty lock's connection did not answer within {timeout:?}"
        ))),
    }
}

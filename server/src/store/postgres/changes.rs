//! What the replicas sharing a database changed, as PostgreSQL announces
//! it: triggers (`migrations/postgres/0002_notify.sql`, `0003_…`) notify
//! `tradeplane_shared` when keys, settings or pipelines change,
//! `tradeplane_queued` when executions are queued, and `tradeplane_rows`
//! with each new or changed signal, order, execution, audit event and
//! approval (`0006_notify_approvals.sql`; the signals a group at a time,
//! `0007_record_signals.sql`). The feed listens on a
//! connection of its own, outside the store's pool.

use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgListener, PgNotification},
};

use super::duty::DutyLock;
use crate::store::StoreError;

/// What every replica's connections are named after (`tradeplane/<id>`).
pub(super) const APPLICATION: &str = "tradeplane";

/// The channel of changes to keys, settings and pipelines.
const SHARED: &str = "tradeplane_shared";
/// The channel of newly queued executions.
const QUEUED: &str = "tradeplane_queued";
/// The channel of changed rows that watch streams show.
const ROWS: &str = "tradeplane_rows";

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Shared state changed in `table`, at `sent_ms` (Unix milliseconds,
    /// the database's clock).
    Shared { table: String, sent_ms: i64 },
    /// Executions were queued.
    Queued,
    /// Another replica recorded or changed the rows `keys` of `table`.
    Row { table: Table, keys: Vec<String> },
    /// The feed (re)connected: what was announced meanwhile is unknown.
    Missed,
}

/// The tables whose rows watch streams show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Signals,
    Orders,
    Executions,
    AuditEvents,
    Approvals,
}

impl Table {
    fn named(name: &str) -> Option<Self> {
        match name {
            "signals" => Some(Table::Signals),
            "orders" => Some(Table::Orders),
            "executions" => Some(Table::Executions),
            "audit_events" => Some(Table::AuditEvents),
            "approvals" => Some(Table::Approvals),
            _ => None,
        }
    }
}

/// A listener on the database's announcements; it connects on first use
/// and again after a lost connection.
pub struct ChangeFeed {
    /// The listener's own pool (one connection).
    pool: PgPool,
    /// The store's pool, for queries.
    queries: PgPool,
    /// This replica's connections' name: rows it changed are not news.
    own_name: String,
    /// How long the duty lock's connection may take to answer.
    timeout: Duration,
    listener: Option<PgListener>,
}

impl ChangeFeed {
    /// A feed that listens over `pool` (one connection, made lazily) and
    /// queries over `queries`; its duty lock's statements take up to
    /// `timeout`.
    pub(super) fn new(pool: PgPool, queries: PgPool, own_name: String, timeout: Duration) -> Self {
        Self {
            pool,
            queries,
            own_name,
            timeout,
            listener: None,
        }
    }

    /// A claim to the lock that puts one of the replicas on duty, on a
    /// connection of its own named like the feed's.
    pub fn duty_lock(&self) -> DutyLock {
        DutyLock::new((*self.pool.connect_options()).clone(), self.timeout)
    }

    /// How many replicas are connected to the database now: each names
    /// its connections `tradeplane/<replica id>`, and holds its feed's
    /// connection open while it runs.
    pub async fn live_replicas(&self) -> Result<u32, StoreError> {
        let live: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT application_name) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name LIKE $1",
        )
        .bind(format!("{APPLICATION}/%"))
        .fetch_one(&self.queries)
        .await?;
        Ok(u32::try_from(live).unwrap_or(u32::MAX).max(1))
    }

    /// Connects and listens, unless it does already: from then on nothing
    /// announced is missed while the connection lasts.
    pub async fn listen(&mut self) -> Result<(), StoreError> {
        if self.listener.is_none() {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen_all([SHARED, QUEUED, ROWS]).await?;
            self.listener = Some(listener);
        }
        Ok(())
    }

    /// The next announcement. [`Change::Missed`] comes after each
    /// reconnection (and first, unless [`Self::listen`] was called). An error means the database cannot be reached;
    /// the next call tries again.
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                self.listen().await?;
                return Ok(Change::Missed);
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(change) = read(&notification, &self.own_name) {
                        return Ok(change);
                    }
                }
                // The connection closed; the next call reconnects.
                Ok(None) => return Ok(Change::Missed),
                Err(err) => {
                    self.listener = None;
                    return Err(err.into());
                }
            }
        }
    }
}

/// The change a notification announces, if it is news to the replica
/// named `own_name`; one this build does not know of counts as missed, so
/// that everything is read again.
fn read(notification: &PgNotification, own_name: &str) -> Option<Change> {
    parse(notification.channel(), notification.payload(), own_name)
}

fn parse(channel: &str, payload: &str, own_name: &str) -> Option<Change> {
    if channel == ROWS {
        let mut words = payload.split(' ');
        return match (
            words.next().and_then(Table::named),
            words.next(),
            words.next(),
        ) {
            (_, _, Some(origin)) if origin == own_name => None,
            (Some(table), Some(keys), Some(_)) => Some(Change::Row {
                table,
                keys: keys.split(',').map(str::to_string).collect(),
            }),
            _ => Some(Change::Missed),
        };
    }
    Some(match channel {
        QUEUED => Change::Queued,
        SHARED => match payload.split_once(' ') {
            Some((table, sent)) => match sent.parse() {
                Ok(sent_ms) => Change::Shared {
                    table: table.to_string(),
                    sent_ms,
                },
                Err(_) => Change::Missed,
            },
            None => Change::Missed,
        },
        _ => Change::Missed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(channel: &str, payload: &str) -> Option<Change> {
        parse(channel, payload, "tradeplane/me")
    }

    #[test]
    fn payloads_read_as_changes() {
        assert_eq!(
            parsed(SHARED, "pipelines 1700000000123"),
            Some(Change::Shared {
                table: "pipelines".into(),
                sent_ms: 1_700_000_000_123
            })
        );
        assert_eq!(parsed(QUEUED, ""), Some(Change::Queued));
        assert_eq!(parsed(SHARED, "pipelines soon"), Some(Change::Missed));
        assert_eq!(parsed(SHARED, "pipelines"), Some(Change::Missed));
        assert_eq!(parsed("elsewhere", "x 1"), Some(Change::Missed));
    }

    #[test]
    fn rows_other_replicas_changed_are_news() {
        assert_eq!(
            parsed(ROWS, "orders 0190-ab tradeplane/other"),
            Some(Change::Row {
                table: Table::Orders,
                keys: vec!["0190-ab".into()]
            })
        );
        assert_eq!(parsed(ROWS, "orders 0190-ab tradeplane/me"), None);
        assert_eq!(
            parsed(ROWS, "approvals 0190-cd tradeplane/other"),
            Some(Change::Row {
                table: Table::Approvals,
                keys: vec!["0190-cd".into()]
            })
        );
        assert_eq!(
            parsed(ROWS, "signals 0190-ef,0190-f0 tradeplane/other"),
            Some(Change::Row {
                table: Table::Signals,
                keys: vec!["0190-ef".into(), "0190-f0".into()]
            })
        );
        assert_eq!(
            parsed(ROWS, "ledgers 1 tradeplane/other"),
            Some(Change::Missed)
        );
        assert_eq!(parsed(ROWS, "orders"), Some(Change::Missed));
    }
}

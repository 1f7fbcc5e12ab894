//! Several replicas on one database: each applies what the others changed.
//! The database announces changes (`store::ChangeFeed`): on a change to
//! keys, settings or pipelines a replica reads the shared state again (API
//! keys, the halt, rate limits, allowlists, the webhook passphrase, the
//! exchanges' breakers and the pipelines' matching index) and puts it in
//! force; on newly queued executions it wakes its workers. As a safety net
//! for lost notices it also reads everything every `store.reload_every`
//! (1 s). Each reload also counts the live replicas, among which the rate
//! limits are shared. Signals, orders, executions, audit events and
//! approvals another replica recorded are read and shown on this
//! replica's open watch streams.

use std::{future::Future, sync::Arc, time::Duration};

use opentelemetry::metrics::{Histogram, Meter};
use tokio::sync::watch;

use crate::{
    audit::{AuditLog, to_proto},
    controls::breakers::{self, BreakerRecord, CircuitBreakers},
    listing::Relay,
    observe::SECONDS_BUCKETS,
    orders::desk::OrderDesk,
    pipelines::Pipelines,
    proto_time::now_ms,
    security::Security,
    settings::Setting,
    signals::{ExecutionPlanner, SignalIntake},
    store::{Change, ChangeFeed, Store, StoreError, Table},
};

/// What a replica shares with the others through the database.
pub struct Shared {
    pub security: Arc<Security>,
    pub pipelines: Arc<Pipelines>,
    pub breakers: Arc<CircuitBreakers>,
    pub intake: Arc<SignalIntake>,
    pub desk: Arc<OrderDesk>,
    pub audit: Arc<AuditLog>,
    pub store: Arc<dyn Store>,
}

/// Follows the other replicas' changes.
pub struct Follower {
    shared: Shared,
    feed: ChangeFeed,
    /// How often the shared state is read again without a notice.
    reload_every: Duration,
    /// `tradeplane.replication.notice.lag`: from a change's commit to this
    /// replica hearing of it.
    lag: Histogram<f64>,
}

impl Follower {
    /// A follower of `feed` that also reads everything `reload_every`,
    /// metered on `meter`.
    pub fn new(shared: Shared, feed: ChangeFeed, reload_every: Duration, meter: &Meter) -> Self {
        let lag = meter
            .f64_histogram("tradeplane.replication.notice.lag")
            .with_unit("s")
            .with_description("From a change to shared state to this replica hearing of it")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build();
        Self {
            shared,
            feed,
            reload_every,
            lag,
        }
    }

    /// Follows the shared state until `stopped`.
    pub async fn follow(mut self, mut stopped: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.reload_every);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.reload().await,
                change = self.feed.next() => match change {
                    Ok(Change::Queued) => self.shared.pipelines.queued(),
                    Ok(Change::Row { table, keys }) => {
                        if table == Table::Orders {
                            self.shared.desk.changed_elsewhere();
                        }
                        for key in &keys {
                            self.relay(table, key).await;
                        }
                    }
                    Ok(Change::Shared { sent_ms, .. }) => {
                        let lag_ms = (now_ms() - sent_ms).max(0);
                        self.lag.record(lag_ms as f64 / 1000.0, &[]);
                        self.reload().await;
                    }
                    Ok(Change::Missed) => self.reload().await,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for the other replicas' changes");
                        tokio::select! {
                            _ = tokio::time::sleep(self.reload_every) => {}
                            _ = stopped.changed() => return,
                        }
                    }
                },
                _ = stopped.changed() => return,
            }
        }
    }

    /// Reads the shared state again and puts it in force.
    async fn reload(&self) {
        if let Err(err) = self.shared.security.reload().await {
            tracing::warn!(error = %err, "cannot read the shared security state");
        }
        if let Err(err) = self.shared.pipelines.reload().await {
            tracing::warn!(error = %err, "cannot read the shared pipelines");
        }
        if let Err(err) = self.follow_breakers().await {
            tracing::warn!(error = %err, "cannot read the shared breakers");
        }
        self.shared.desk.changed_elsewhere();
        match self.feed.live_replicas().await {
            Ok(live) => self.shared.security.limiter.share_among(live),
            Err(err) => tracing::warn!(error = %err, "cannot count the live replicas"),
        }
    }

    /// Shows the row `key` of `table`, which another replica changed, on
    /// this replica's open watch streams.
    async fn relay(&self, table: Table, key: &str) {
        let shared = &self.shared;
        let store = &shared.store;
        let relayed = match table {
            Table::Signals => {
                relay_row(shared.intake.relay(), store.get_signal(key), Arc::new).await
            }
            Table::Orders => relay_row(shared.desk.relay(), store.get_order(key), Arc::new).await,
            Table::Executions => {
                relay_row(shared.pipelines.relay(), store.get_execution(key), Arc::new).await
            }
            Table::AuditEvents => {
                let event = async {
                    let sequence: i64 = key
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("audit sequence `{key}`")))?;
                    Ok(store.audit_after(sequence - 1, 1).await?.pop())
                };
                relay_row(shared.audit.relay(), event, |row| to_proto(&row)).await
            }
            Table::Approvals => {
                relay_row(
                    shared.pipelines.approval_relay(),
                    store.get_approval(key),
                    Arc::new,
                )
                .await
            }
        };
        if let Err(err) = relayed {
            tracing::warn!(error = %err, ?table, key, "cannot show another replica's change");
        }
    }

    /// Installs each breaker's stored state when another replica changed
    /// it since this one did (a trip or a reset).
    async fn follow_breakers(&self) -> Result<(), StoreError> {
        let breakers = &self.shared.breakers;
        for breaker in breakers.list() {
            let exchange = crate::market::account::key(&breaker.exchange, &breaker.account);
            let Some(stored) = Setting::<BreakerRecord>::new(breakers::setting_key(&exchange))
                .load(&*self.shared.store)
                .await?
            else {
                continue;
            };
            let here = breakers.record_of(&exchange);
            let newer = here
                .as_ref()
                .is_none_or(|here| *here != stored && stored.change_ms >= here.change_ms);
            if newer {
                breakers.apply(&exchange, stored);
            }
        }
        Ok(())
    }
}

/// Reads a row with `fetch` and hands it to `relay`'s watch streams, when
/// any is open.
async fn relay_row<T, R: Clone>(
    relay: &Relay<R>,
    fetch: impl Future<Output = Result<Option<T>, StoreError>>,
    shown: impl FnOnce(T) -> R,
) -> Result<(), StoreError> {
    if relay.is_watched()
        && let Some(row) = fetch.await?
    {
        relay.send(shown(row));
    }
    Ok(())
}

//! The dispatcher: turns new audit events into deliveries, one per
//! matching subscription, and sends the deliveries that are due, with
//! retries, exponential back-off and dead letters. It runs beside the
//! order path and only reads what that path committed, so a slow or
//! failing channel never slows an order. Each attempt is a task of its
//! own, so a slow channel holds up only its own deliveries.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::metrics::Meter;
use tokio::{sync::watch, task::JoinSet};

use super::{
    channel::{Message, SendError},
    config::NotifyConfig,
    event::describe,
    metrics::NotifyMetrics,
    registry::Registry,
};
use crate::{
    proto_time::now_ms,
    store::{AuditRow, Delivery, NewDelivery, Settlement, Store, StoreError},
};

/// Audit events read per round.
const EVENTS_PER_ROUND: u32 = 256;
/// The most attempts under way at once.
const MAX_IN_FLIGHT: usize = 64;

/// Delivers notifications from the outbox.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    subscriptions: Arc<Registry>,
    config: NotifyConfig,
    metrics: NotifyMetrics,
}

impl Dispatcher {
    /// The dispatcher of `subscriptions`; it runs (cheaply) even while
    /// there is none, so that one created later is served.
    pub fn new(
        config: &NotifyConfig,
        subscriptions: Arc<Registry>,
        store: Arc<dyn Store>,
        meter: &Meter,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            subscriptions,
            config: config.clone(),
            metrics: NotifyMetrics::new(meter),
        })
    }

    /// Runs rounds until `stopped`; a round that fails is logged and the
    /// next one tries again. On stop it lets the attempts under way end
    /// (each is bounded by its channel's timeout): one cut short would
    /// be sent again once its lease ran out.
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut sending = JoinSet::new();
        let mut depth_read: Option<Instant> = None;
        while !*stopped.borrow() {
            // The depth is a COUNT over the outbox: read it at most once a
            // poll interval, however fast busy rounds follow each other.
            let read_depth = depth_read.is_none_or(|at| at.elapsed() >= self.config.poll_interval);
            if read_depth {
                depth_read = Some(Instant::now());
            }
            let pause = match self.round(&mut sending, read_depth).await {
                // More may be due: go on at once.
                Ok(Round::Full) => Duration::ZERO,
                Ok(Round::Caught) => self.config.poll_interval,
                Err(err) => {
                    tracing::warn!(error = %err, "notification round failed; trying again");
                    self.config.poll_interval
                }
            };
            // An attempt that ends makes room: the next round may claim.
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                Some(ended) = sending.join_next(), if !sending.is_empty() => log_attempt(ended),
                _ = stopped.changed() => {}
            }
            while let Some(ended) = sending.try_join_next() {
                log_attempt(ended);
            }
        }
        while let Some(ended) = sending.join_next().await {
            log_attempt(ended);
        }
    }

    /// One round: queues what a batch of new events calls for, starts an
    /// attempt at each due delivery (as many as `sending` has room for,
    /// once at least half of it is free, so that claims come in batches),
    /// and notes the outbox's depth if `read_depth`. Queuing and sending
    /// take turns, so a burst of events does not hold up the deliveries
    /// already queued.
    async fn round(
        self: &Arc<Self>,
        sending: &mut JoinSet<Result<(), StoreError>>,
        read_depth: bool,
    ) -> Result<Round, StoreError> {
        let mut round = match self.queue_new_events().await? {
            true => Round::Full,
            false => Round::Caught,
        };
        let room = MAX_IN_FLIGHT.saturating_sub(sending.len());
        if room >= MAX_IN_FLIGHT / 2 {
            let due = self
                .store
                .claim_deliveries(
                    now_ms(),
                    now_ms() + self.config.lease.as_millis() as i64,
                    room as u32,
                )
                .await?;
            if due.len() == room {
                round = Round::Full;
            }
            for delivery in due {
                let dispatcher = self.clone();
                sending.spawn(async move { dispatcher.attempt(delivery).await });
            }
        }
        if read_depth {
            self.metrics.observe(self.store.outbox_depth().await?);
        }
        Ok(round)
    }

    /// Reads a batch of the audit events after the cursor and queues
    /// their deliveries, moving the cursor with them; returns whether the
    /// batch was full (more may wait).
    async fn queue_new_events(&self) -> Result<bool, StoreError> {
        let cursor = self.store.outbox_cursor().await?;
        let rows = self.store.audit_after(cursor, EVENTS_PER_ROUND).await?;
        let Some(through) = rows.last().map(|row| row.sequence) else {
            return Ok(false);
        };
        let full = rows.len() == EVENTS_PER_ROUND as usize;
        let subscriptions = self.subscriptions.current().await?;
        if subscriptions.is_empty() {
            self.store.queue_deliveries(through, &[]).await?;
            return Ok(full);
        }
        let pipelines = self.pipeline_names(&rows).await?;
        // An order's events (placed, filled) are read with it once.
        let mut orders = HashMap::new();
        let mut deliveries = Vec::new();
        for row in &rows {
            let order = match row.action.starts_with("order.") {
                true => match orders.get(&row.target) {
                    Some(order) => order,
                    None => {
                        let order = self.store.get_order(&row.target).await?;
                        orders.entry(row.target.clone()).or_insert(order)
                    }
                },
                false => &None,
            };
            let Some(mut event) = describe(row, order.as_ref(), &pipelines) else {
                continue;
            };
            if let Some(id) = self.owner(row).await? {
                event.pipeline = pipelines.get(&id).cloned().unwrap_or_else(|| id.clone());
                event.pipeline_id = id;
            }
            for subscription in subscriptions.values() {
                if !subscription.matches(&event) {
                    continue;
                }
                let body = serde_json::to_string(&subscription.render(&event))
                    .map_err(|e| StoreError::Unencodable(e.to_string()))?;
                deliveries.push(NewDelivery {
                    sequence: event.sequence,
                    subscription: subscription.name.clone(),
                    body,
                    created_ms: now_ms(),
                });
            }
        }
        self.store.queue_deliveries(through, &deliveries).await?;
        Ok(full)
    }

    /// The pipeline an execution's or an approval's event is of.
    async fn owner(&self, row: &AuditRow) -> Result<Option<String>, StoreError> {
        Ok(match row.action.split('.').next() {
            Some("execution") => self
                .store
                .get_execution(&row.target)
                .await?
                .map(|execution| execution.pipeline_id),
            Some("approval") => self
                .store
                .get_approval(&row.target)
                .await?
                .map(|approval| approval.origin.pipeline_id),
            _ => None,
        })
    }

    /// Pipeline names by id, read only when `rows` hold an event of a
    /// pipeline's order, execution or approval.
    async fn pipeline_names(
        &self,
        rows: &[AuditRow],
    ) -> Result<HashMap<String, String>, StoreError> {
        let of_pipeline = |row: &&AuditRow| {
            ["order.", "execution.", "approval."]
                .iter()
                .any(|prefix| row.action.starts_with(prefix))
        };
        if !rows.iter().any(|row| of_pipeline(&row)) {
            return Ok(HashMap::new());
        }
        Ok(self
            .store
            .list_pipelines()
            .await?
            .into_iter()
            .map(|pipeline| (pipeline.id, pipeline.name))
            .collect())
    }

    /// Sends one claimed delivery and records how it went.
    async fn attempt(&self, delivery: Delivery) -> Result<(), StoreError> {
        let subscriptions = self.subscriptions.current().await?;
        let (channel, settlement) = match subscriptions.get(&delivery.subscription) {
            None => (
                "none",
                Settlement::Dead {
                    error: format!("no subscription named `{}` any more", delivery.subscription),
                },
            ),
            Some(subscription) => (
                subscription.channel.kind(),
                match serde_json::from_str::<Message>(&delivery.body) {
                    Err(err) => Settlement::Dead {
                        error: format!("the queued message cannot be read: {err}"),
                    },
                    Ok(message) => {
                        self.settle(&delivery, subscription.channel.send(&message).await)
                    }
                },
            ),
        };
        let outcome = match settlement {
            Settlement::Delivered => "delivered",
            Settlement::Retry { .. } => "retry",
            Settlement::Dead { .. } => "dead",
        };
        self.metrics.attempted(channel, outcome);
        if let Settlement::Retry { error, .. } | Settlement::Dead { error } = &settlement {
            tracing::warn!(subscription = %delivery.subscription, sequence = delivery.sequence, outcome, %error, "notification not delivered");
        }
        if !self.store.settle_delivery(&delivery, &settlement).await? {
            tracing::warn!(subscription = %delivery.subscription, sequence = delivery.sequence, "the delivery's lease ran out during the attempt; another holder settles it");
        }
        Ok(())
    }

    /// What an attempt's result means for the delivery: a retry waits
    /// the longer of what the receiver asked and the back-off, and the
    /// last attempt allowed is a dead letter.
    fn settle(&self, delivery: &Delivery, sent: Result<(), SendError>) -> Settlement {
        match sent {
            Ok(()) => Settlement::Delivered,
            Err(SendError::Permanent(error)) => Settlement::Dead { error },
            Err(SendError::Retry { reason, .. })
                if delivery.attempts + 1 >= self.config.max_attempts =>
            {
                Settlement::Dead {
                    error: format!("{reason} (after {} attempts)", delivery.attempts + 1),
                }
            }
            Err(SendError::Retry { after, reason }) => {
                let wait = backoff(
                    self.config.retry_base,
                    self.config.retry_max,
                    delivery.attempts,
                )
                .max(after.unwrap_or_default());
                Settlement::Retry {
                    next_attempt_ms: now_ms() + wait.as_millis() as i64,
                    error: reason,
                }
            }
        }
    }
}

/// How a round left the outbox.
enum Round {
    /// It claimed as many deliveries as it had room for: more may be due.
    Full,
    /// It claimed every due delivery, or had too little room to claim.
    Caught,
}

/// Logs an attempt that could not be recorded; its delivery is claimed
/// again once its lease runs out.
fn log_attempt(ended: Result<Result<(), StoreError>, tokio::task::JoinError>) {
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "a notification attempt was not recorded"),
        Err(err) => tracing::error!(error = %err, "a notification attempt panicked"),
    }
}

/// The wait after `attempts` failed attempts: `base` doubled each time,
/// at most `max`.
fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempts.min(20)))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        let waits: Vec<_> = (0..8).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }
}

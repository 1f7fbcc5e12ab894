//! The audit log: append-only, and tamper-evident because each event
//! carries the SHA-256 of the one before it.
//!
//! Every domain records through [`AuditLog::record`]. One task appends
//! whatever is queued in one store transaction, so that concurrent events
//! share a commit; the store assigns sequence numbers and chains the
//! hashes inside that transaction. A run-time setting's events are written
//! with the setting instead and published here.
//! Authentication failures are counted and written once per window
//! ([`AuditLog::note_auth_failure`]), so that a flood of bad keys cannot
//! flood the log.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tradeplane_api::{AuditEvent, AuditOutcome};

use crate::{
    listing::{Feed, Relay},
    proto_time::{ms_to_timestamp, now_ms},
    store::{AuditRow, AuditStore, StoreError, verify_chain},
};

pub use crate::store::{Verification, chain_hash};

/// The action names in use (each a bounded metric label).
pub mod actions {
    pub const API_KEY_CREATE: &str = "api_key.create";
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
    pub const RATE_LIMITS_UPDATE: &str = "rate_limits.update";
    pub const ALLOWLIST_UPDATE: &str = "allowlist.update";
    pub const WEBHOOK_SECRET_ROTATE: &str = "webhook_secret.rotate";
    pub const BREAKER_TRIP: &str = "circuit_breaker.trip";
    pub const BREAKER_RESET: &str = "circuit_breaker.reset";
    pub const BREAKER_TRANSITION: &str = "circuit_breaker.transition";
    pub const TRADING_HALT: &str = "trading.halt";
    pub const TRADING_RESUME: &str = "trading.resume";
    pub const AUTH_FAILURE: &str = "auth.failure";
    pub const ORDER_PLACE: &str = "order.place";
    pub const ORDER_CANCEL: &str = "order.cancel";
    pub const ORDER_FAIL: &str = "order.fail";
    /// An order filled, in whole or in part, after it was placed.
    pub const ORDER_FILL: &str = "order.fill";
    pub const EXECUTION_FAIL: &str = "execution.fail";
    /// An execution skipped; the detail starts with the skip reason.
    pub const EXECUTION_SKIP: &str = "execution.skip";
    /// An order held for an operator's approval.
    pub const APPROVAL_HOLD: &str = "approval.hold";
    /// A Telegram chat refused a command or a button.
    pub const TELEGRAM_REFUSED: &str = "telegram.refused";
    pub const POSITION_DRIFT: &str = "position.drift";
    pub const POSITION_DRIFT_RESOLVED: &str = "position.drift_resolved";
    pub const POSITION_RESYNC: &str = "position.resync";
    pub const PIPELINE_CREATE: &str = "pipeline.create";
    pub const PIPELINE_UPDATE: &str = "pipeline.update";
    pub const PIPELINE_DELETE: &str = "pipeline.delete";
    pub const PIPELINE_PAUSE: &str = "pipeline.pause";
    pub const PIPELINE_RESUME: &str = "pipeline.resume";
    pub const PIPELINE_RUN: &str = "pipeline.run";
    pub const APPROVAL_APPROVE: &str = "approval.approve";
    pub const APPROVAL_REJECT: &str = "approval.reject";
    pub const APPROVAL_EXPIRE: &str = "approval.expire";
    /// The daily P&L summary of the window its target names.
    pub const REPORT_DAILY_PNL: &str = "report.daily_pnl";
    pub const NOTIFY_SUBSCRIPTION_CREATE: &str = "notify.subscription.create";
    pub const NOTIFY_SUBSCRIPTION_DELETE: &str = "notify.subscription.delete";
}

/// Most events appended in one transaction.
const MAX_BATCH: usize = 256;
/// Addresses named in one aggregated auth-failure event.
const SAMPLE_ADDRESSES: usize = 5;

/// An event to record; time, sequence and hashes are added by the log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// API key name, `webhook`, or `system`.
    pub actor: String,
    pub source_address: String,
    pub action: &'static str,
    pub target: String,
    pub outcome: AuditOutcome,
    pub detail: String,
    pub trace_id: String,
}

impl AuditEntry {
    /// An entry for what the server does on its own (no caller).
    pub fn system() -> Self {
        Self {
            actor: "system".into(),
            ..Default::default()
        }
    }

    /// The event to append at `time_ms`; the store chains it.
    pub fn row(&self, time_ms: i64) -> AuditRow {
        AuditRow {
            time_ms,
            actor: self.actor.clone(),
            source_address: self.source_address.clone(),
            action: self.action.to_string(),
            target: self.target.clone(),
            outcome: self.outcome as i32,
            detail: self.detail.clone(),
            trace_id: self.trace_id.clone(),
            ..Default::default()
        }
    }
}

type Pending = (AuditEntry, oneshot::Sender<Result<AuditEvent, StoreError>>);

/// Counts stored events and sends them to the live feed.
#[derive(Clone)]
struct Publisher {
    events: broadcast::Sender<AuditEvent>,
    counter: Counter<u64>,
}

impl Publisher {
    /// Counts, logs and feeds `row`, a stored event.
    fn publish(&self, row: &AuditRow) -> AuditEvent {
        let outcome = AuditOutcome::try_from(row.outcome).map_or("unknown", outcome_label);
        self.counter.add(
            1,
            &[
                KeyValue::new("action", row.action.clone()),
                KeyValue::new("outcome", outcome),
            ],
        );
        // Security and money events reach the log as well as the chain.
        tracing::info!(
            target: "tradeplane::audit",
            action = %row.action,
            actor = %row.actor,
            subject = %row.target,
            outcome,
            source_address = %row.source_address,
            trace_id = %row.trace_id,
            detail = %row.detail,
            "audit event"
        );
        let event = to_proto(row);
        let _ = self.events.send(event.clone());
        event
    }
}

#[derive(Default)]
struct FailureCount {
    count: u64,
    addresses: BTreeSet<String>,
    more_addresses: bool,
}

/// The audit log service.
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
    queue: mpsc::Sender<Pending>,
    publisher: Publisher,
    relayed: Relay<AuditEvent>,
    failures: Mutex<HashMap<(&'static str, &'static str, String), FailureCount>>,
}

impl AuditLog {
    /// Starts the appender and the auth-failure flusher; both stop when
    /// the returned log is dropped or [`AuditLog::close`] runs.
    pub async fn start(
        store: Arc<dyn AuditStore>,
        meter: &Meter,
        failure_window: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let (queue, pending) = mpsc::channel(4096);
        let (events, _) = broadcast::channel(1024);
        let counter = meter
            .u64_counter("tradeplane.audit.events")
            .with_description("Audit events recorded, by action and outcome")
            .build();
        let publisher = Publisher { events, counter };
        let log = Arc::new(Self {
            store: store.clone(),
            queue,
            publisher: publisher.clone(),
            relayed: Relay::new(1024),
            failures: Mutex::new(HashMap::new()),
        });
        tokio::spawn(append_events(store, pending, publisher));
        let flusher = Arc::downgrade(&log);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(failure_window);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(log) = flusher.upgrade() else { return };
                log.flush_auth_failures().await;
            }
        });
        Ok(log)
    }

    /// Records `entry` durably and returns the chained event.
    pub async fn record(&self, entry: AuditEntry) -> Result<AuditEvent, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((entry, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the audit log is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the audit log stopped".into()))?
    }

    /// Records `entry`, logging instead of failing (for events whose
    /// cause has already happened and cannot be undone).
    pub async fn record_or_log(&self, entry: AuditEntry) {
        let action = entry.action;
        if let Err(err) = self.record(entry).await {
            tracing::error!(error = %err, action, "audit event not recorded");
        }
    }

    /// Counts an authentication or authorization failure; the counts are
    /// written as one event per surface, reason and actor each window.
    pub fn note_auth_failure(
        &self,
        surface: &'static str,
        reason: &'static str,
        actor: &str,
        address: Option<std::net::IpAddr>,
    ) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let count = failures
            .entry((surface, reason, actor.to_string()))
            .or_default();
        count.count += 1;
        if let Some(address) = address {
            if count.addresses.len() < SAMPLE_ADDRESSES {
                count.addresses.insert(address.to_string());
            } else if !count.addresses.contains(&address.to_string()) {
                count.more_addresses = true;
            }
        }
    }

    /// Writes the counted auth failures now.
    pub async fn flush_auth_failures(&self) {
        let drained: Vec<_> = match self.failures.lock() {
            Ok(mut failures) => failures.drain().collect(),
            Err(_) => return,
        };
        for ((surface, reason, actor), count) in drained {
            let addresses: Vec<_> = count.addresses.into_iter().collect();
            let more = if count.more_addresses { ", …" } else { "" };
            self.record_or_log(AuditEntry {
                actor: if actor.is_empty() {
                    "unknown".into()
                } else {
                    actor
                },
                source_address: addresses.first().cloned().unwrap_or_default(),
                action: actions::AUTH_FAILURE,
                target: surface.to_string(),
                outcome: AuditOutcome::Denied,
                detail: format!(
                    "{} {reason} from {}{more}",
                    count.count,
                    addresses.join(", ")
                ),
                trace_id: String::new(),
            })
            .await;
        }
    }

    /// Counts and feeds `rows`, events stored with another write (an
    /// order's or a setting's change, an execution's end, a held order);
    /// returns them as recorded.
    pub fn published(&self, rows: &[AuditRow]) -> Vec<AuditEvent> {
        rows.iter().map(|row| self.publisher.publish(row)).collect()
    }

    /// A live feed of recorded events.
    pub fn subscribe(&self) -> broadcast::Receiver<AuditEvent> {
        self.publisher.events.subscribe()
    }

    /// What WatchAuditEvents reads: events recorded here and relayed ones.
    pub fn watch_feed(&self) -> Feed<AuditEvent> {
        self.relayed.feed_with(self.publisher.events.subscribe())
    }

    /// Events other replicas recorded, for watch streams.
    pub fn relay(&self) -> &Relay<AuditEvent> {
        &self.relayed
    }

    /// Walks the whole chain from the first event.
    pub async fn verify(&self) -> Result<Verification, StoreError> {
        verify_chain(&*self.store).await
    }
}

/// The protobuf form of a stored event.
pub fn to_proto(row: &AuditRow) -> AuditEvent {
    AuditEvent {
        sequence: u64::try_from(row.sequence).unwrap_or_default(),
        time: Some(ms_to_timestamp(row.time_ms)),
        actor: row.actor.clone(),
        source_address: row.source_address.clone(),
        action: row.action.clone(),
        target: row.target.clone(),
        outcome: row.outcome,
        detail: row.detail.clone(),
        trace_id: row.trace_id.clone(),
        previous_hash: row.previous_hash.clone(),
        hash: row.hash.clone(),
    }
}

/// The appender: writes queued events in batches.
async fn append_events(
    store: Arc<dyn AuditStore>,
    mut pending: mpsc::Receiver<Pending>,
    publisher: Publisher,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let time_ms = now_ms();
        let rows = batch.iter().map(|(entry, _)| entry.row(time_ms)).collect();
        match store.append_audit(rows).await {
            Ok(stored) => {
                for ((_, reply), row) in batch.drain(..).zip(stored) {
                    let _ = reply.send(Ok(publisher.publish(&row)));
                }
            }
            Err(err) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
    }
}

/// The lowercase outcome (a metric label).
pub fn outcome_label(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Success => "success",
        AuditOutcome::Failure => "failure",
        AuditOutcome::Denied => "denied",
        AuditOutcome::Unspecified => "unspecified",
    }
}

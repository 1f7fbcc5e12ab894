//! The signal intake: the single code path behind `SubmitSignal`,
//! `SubmitSignals` and the TradingView webhook.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use chrono::Utc;
use opentelemetry::metrics::Meter;
use rust_decimal::Decimal;
use tokio::sync::broadcast;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    config::SignalsConfig,
    dedupe::dedupe_key,
    metrics::{Outcome, SignalMetrics},
    validate::{RawSignal, validate},
    violation::{RejectReason, Violation},
};
use crate::{
    listing::{Feed, Relay},
    market::symbol::SymbolNormalizer,
    model::signal::{FieldViolation, Signal, SignalOutcome},
    store::{ExecutionWrite, SignalQuery, SignalWrite, SignalWriteResult, Store, StoreError},
};

/// The port through which intake asks the layer above (pipelines) which
/// executions an accepted signal starts, so that they are written in the
/// signal's own transaction.
pub trait ExecutionPlanner: Send + Sync {
    /// The executions `signal` starts, continuing the trace `traceparent`.
    fn executions_for(&self, signal: &Signal, traceparent: &str) -> Vec<ExecutionWrite>;
    /// Called once executions it planned are durable.
    fn queued(&self);
}

/// How many recorded signals a watcher may fall behind before it skips.
const WATCH_BUFFER: usize = 4096;

/// A signal that was accepted now, or earlier (a duplicate).
#[derive(Debug, Clone)]
pub struct Submission {
    pub signal: Signal,
    /// `Accepted` or `Duplicate`.
    pub outcome: SignalOutcome,
}

/// Why a submission did not go through.
#[derive(Debug)]
pub enum SubmitError {
    /// Bad input; the rejected signal was recorded as `signal`.
    Rejected {
        signal: Box<Signal>,
        violations: Vec<Violation>,
    },
    /// The store could not make the signal durable; nothing was accepted.
    Store(StoreError),
}

/// Validates, deduplicates, records and announces signals.
pub struct SignalIntake {
    config: SignalsConfig,
    normalizer: Arc<SymbolNormalizer>,
    store: Arc<dyn Store>,
    metrics: SignalMetrics,
    recorded: broadcast::Sender<Arc<Signal>>,
    relayed: Relay<Arc<Signal>>,
    last_prices: Mutex<HashMap<String, Decimal>>,
    planner: Option<Arc<dyn ExecutionPlanner>>,
}

impl SignalIntake {
    /// Builds the intake; `normalizer` is the one built from
    /// `config.symbol_map`.
    pub fn new(
        config: SignalsConfig,
        normalizer: Arc<SymbolNormalizer>,
        store: Arc<dyn Store>,
        meter: &Meter,
    ) -> Self {
        let metrics = SignalMetrics::new(meter, &config.metric_sources);
        let (recorded, _) = broadcast::channel(WATCH_BUFFER);
        Self {
            config,
            normalizer,
            store,
            metrics,
            recorded,
            relayed: Relay::new(WATCH_BUFFER),
            last_prices: Mutex::new(HashMap::new()),
            planner: None,
        }
    }

    /// Accepted signals start the pipelines they match, in the same
    /// transaction that stores them.
    pub fn with_planner(mut self, planner: Arc<dyn ExecutionPlanner>) -> Self {
        self.planner = Some(planner);
        self
    }

    /// The normalizer, for filters that name a symbol.
    pub fn normalizer(&self) -> &SymbolNormalizer {
        &self.normalizer
    }

    /// Validates and durably records `raw`. Returns only after the signal
    /// (or the rejection) is committed. `traceparent` is the W3C trace
    /// context of the call (empty without tracing): the signal keeps its
    /// trace id, and its executions continue the trace.
    pub async fn submit(
        &self,
        raw: RawSignal,
        traceparent: &str,
    ) -> Result<Submission, SubmitError> {
        let span = tracing::info_span!("signal.submit", source = %raw.source);
        self.submit_traced(raw, traceparent).instrument(span).await
    }

    async fn submit_traced(
        &self,
        raw: RawSignal,
        traceparent: &str,
    ) -> Result<Submission, SubmitError> {
        let trace_id = traceparent.split('-').nth(1).unwrap_or_default();
        let started = Instant::now();
        // The id's UUIDv7 timestamp is the receive time (to the
        // millisecond), so stores can range-scan ids by time.
        let id = Uuid::now_v7();
        let now = id
            .get_timestamp()
            .and_then(|ts| {
                let (seconds, nanos) = ts.to_unix();
                chrono::DateTime::from_timestamp(seconds as i64, nanos)
            })
            .unwrap_or_else(Utc::now);
        let checked = validate(&raw, &self.normalizer, &self.config, now, |symbol| {
            self.last_price(symbol)
        });
        let now_ms = now.timestamp_millis();
        let mut signal = Signal {
            strategy: raw.strategy.clone(),
            raw_symbol: raw.symbol.clone(),
            raw_action: raw.action.clone(),
            strategy_order_id: raw.order_id.clone(),
            comment: raw.comment.clone(),
            interval: raw.interval.clone(),
            tags: raw.tags.clone(),
            trace_id: trace_id.to_string(),
            ..Signal::received(id.to_string(), &raw.source, now_ms)
        };
        match checked {
            Ok(intent) => {
                if let Some(event_ms) = intent.event_time_ms {
                    self.metrics
                        .age(&raw.source, (now_ms - event_ms) as f64 / 1000.0);
                }
                let dedupe = dedupe_key(&self.config, &raw, intent.event_time_ms, now_ms);
                signal.idempotency_key = dedupe.key.clone();
                let price = intent.price;
                signal.intent = Some(intent);
                let mut write = SignalWrite::new(&signal, Some(dedupe));
                if let Some(planner) = &self.planner {
                    write.executions = planner.executions_for(&signal, traceparent);
                }
                let queued = !write.executions.is_empty();
                let result = self.store.record_signal(write).await;
                let seconds = started.elapsed().as_secs_f64();
                match result.map_err(SubmitError::Store)? {
                    SignalWriteResult::Inserted => {
                        if let (true, Some(planner)) = (queued, &self.planner) {
                            planner.queued();
                        }
                        self.metrics.record(&raw.source, Outcome::Accepted, seconds);
                        if let Some(price) = price {
                            self.remember_price(&signal, price);
                        }
                        let signal = Arc::new(signal);
                        let _ = self.recorded.send(signal.clone());
                        Ok(Submission {
                            signal: Arc::unwrap_or_clone(signal),
                            outcome: SignalOutcome::Accepted,
                        })
                    }
                    SignalWriteResult::Duplicate(first) => {
                        self.metrics
                            .record(&raw.source, Outcome::Duplicate, seconds);
                        Ok(Submission {
                            signal: *first,
                            outcome: SignalOutcome::Duplicate,
                        })
                    }
                }
            }
            Err(violations) => {
                signal.outcome = SignalOutcome::Rejected;
                signal.reject_reason = violations
                    .first()
                    .map(|v| v.reason.as_str())
                    .unwrap_or_default()
                    .to_string();
                signal.field_violations = violations
                    .iter()
                    .map(|v| FieldViolation {
                        field: v.field.grpc_name().to_string(),
                        description: v.description.clone(),
                        reason: v.reason.as_str().to_string(),
                    })
                    .collect();
                // The rejection is recorded for operators, but the caller's
                // answer does not depend on it: bad input stays a 400.
                if let Err(err) = self
                    .store
                    .record_signal(SignalWrite::new(&signal, None))
                    .await
                {
                    tracing::warn!(error = %err, "could not record a rejected signal");
                } else {
                    let _ = self.recorded.send(Arc::new(signal.clone()));
                }
                self.metrics.record(
                    &raw.source,
                    Outcome::Rejected,
                    started.elapsed().as_secs_f64(),
                );
                self.metrics
                    .rejected(&raw.source, violations.iter().map(|v| v.reason));
                Err(SubmitError::Rejected {
                    signal: Box::new(signal),
                    violations,
                })
            }
        }
    }

    /// Counts a body that could not even be read as a signal (bad JSON).
    pub fn count_unreadable(&self, source: &str) {
        self.metrics.record(source, Outcome::Rejected, 0.0);
        self.metrics.rejected(source, [RejectReason::InvalidJson]);
    }

    /// Live feed of recorded signals; a lagging receiver skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Signal>> {
        self.recorded.subscribe()
    }

    /// What WatchSignals reads: signals recorded here and relayed ones.
    pub fn watch_feed(&self) -> Feed<Arc<Signal>> {
        self.relayed.feed_with(self.recorded.subscribe())
    }

    /// Signals other replicas recorded, for watch streams.
    pub fn relay(&self) -> &Relay<Arc<Signal>> {
        &self.relayed
    }

    /// One recorded signal.
    pub async fn get(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        self.store.get_signal(id).await
    }

    /// Recorded signals, newest first.
    pub async fn list(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        self.store.list_signals(query).await
    }

    fn last_price(&self, symbol: &str) -> Option<Decimal> {
        self.last_prices.lock().ok()?.get(symbol).copied()
    }

    fn remember_price(&self, signal: &Signal, price: Decimal) {
        if let Ok(mut prices) = self.last_prices.lock() {
            prices.insert(signal.symbol().to_string(), price);
        }
    }
}

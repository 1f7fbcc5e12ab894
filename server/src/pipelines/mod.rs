//! Pipelines turn signals into orders. A pipeline is matched against each
//! accepted signal through an in-memory index; its execution is created in
//! the transaction that stores the signal, so an acknowledged signal never
//! loses its executions. Workers claim executions from the durable queue
//! with a lease and run them: sizing, risk, order, protect (see
//! [`worker`]). A pipeline that requires approval holds its orders in the
//! approval queue until an operator decides (see [`approvals`]).

pub mod approvals;
mod at_risk;
mod claim;
mod cleanup;
pub mod config;
mod coverage;
pub mod drift;
mod holdings;
mod keeper;
mod lease;
mod market_hours;
mod metrics;
mod order_plan;
mod overrides;
mod perp_drift;
mod protect;
mod repair;
mod report;
mod resize;
mod risk;
mod risk_sizing;
pub mod schedule;
mod service;
mod sizing;
pub mod spec;
mod stop;
mod worker;

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use tokio::sync::{Notify, broadcast};
use tradeplane_api::{AuditOutcome, Pipeline, PipelineState};

pub use service::PipelineGrpc;
use spec::{Compiled, compile};

use crate::{
    api_error::ApiError,
    audit::{AuditEntry, AuditLog, actions},
    listing::{Feed, Relay},
    market::{decimal::parse_decimal, instrument::Instrument, symbol::SymbolNormalizer},
    model::{
        approval::Approval,
        execution::{Execution, ExecutionStep},
        signal::{Intent, Overrides, Signal, SignalAction, SignalOutcome},
    },
    orders::{desk::OrderDesk, error::OrderError},
    proto_time::{ms_to_timestamp, now_ms},
    signals::ExecutionPlanner,
    store::{ExecutionWrite, PipelineInsert, SignalWrite, SignalWriteResult, Store},
};

/// Buffer of the WatchExecutions feed.
const WATCH_BUFFER: usize = 4096;

/// The pipelines and their execution queue.
pub struct Pipelines {
    store: Arc<dyn Store>,
    desk: Arc<OrderDesk>,
    audit: Arc<AuditLog>,
    max_pipelines: usize,
    /// Every pipeline by id; replaced whole on each change, so matching
    /// takes one read lock and never touches the store.
    index: RwLock<Arc<Index>>,
    /// Wakes the workers when executions are queued.
    queued: Notify,
    changes: broadcast::Sender<Arc<Execution>>,
    relayed: Relay<Arc<Execution>>,
    /// Approvals held and decided, for WatchApprovals.
    approvals: broadcast::Sender<Arc<Approval>>,
    /// Approvals other replicas held or decided, for WatchApprovals.
    approvals_relayed: Relay<Arc<Approval>>,
    metrics: metrics::PipelineMetrics,
    normalizer: Arc<SymbolNormalizer>,
    queue_depth: std::sync::atomic::AtomicU64,
    /// When the queue was last counted (ms).
    queue_counted_ms: std::sync::atomic::AtomicI64,
    /// The position drifts in force.
    drifts: std::sync::Mutex<drift::Drifts>,
    /// Positions coverage could not protect: (pipeline id, symbol).
    uncovered: std::sync::Mutex<coverage::Uncovered>,
}

impl Pipelines {
    /// Loads every stored pipeline into the index.
    pub async fn open(
        store: Arc<dyn Store>,
        desk: Arc<OrderDesk>,
        audit: Arc<AuditLog>,
        normalizer: Arc<SymbolNormalizer>,
        max_pipelines: usize,
        meter: &opentelemetry::metrics::Meter,
    ) -> Result<Arc<Self>, ApiError> {
        let mut stored = store.list_pipelines().await?;
        for pipeline in &mut stored {
            let repaired = repair::clamp_durations(pipeline);
            if !repaired.is_empty() {
                tracing::warn!(pipeline = %pipeline.id, fields = ?repaired, "stored durations out of range clamped");
                store.update_pipeline(pipeline).await?;
            }
        }
        let (index, invalid) = compiled_index(stored);
        for (id, err) in invalid {
            tracing::error!(pipeline = %id, error = %err, "stored pipeline no longer valid; not loaded");
        }
        let (changes, _) = broadcast::channel(WATCH_BUFFER);
        let (approvals, _) = broadcast::channel(approvals::APPROVAL_WATCH_BUFFER);
        let index = RwLock::new(Arc::new(index));
        let pipelines = Arc::new(Self {
            metrics: metrics::PipelineMetrics::new(meter),
            store,
            desk,
            audit,
            max_pipelines,
            index,
            queued: Notify::new(),
            changes,
            relayed: Relay::new(WATCH_BUFFER),
            approvals,
            approvals_relayed: Relay::new(approvals::APPROVAL_WATCH_BUFFER),
            normalizer,
            queue_depth: Default::default(),
            queue_counted_ms: Default::default(),
            drifts: Default::default(),
            uncovered: Default::default(),
        });
        pipelines.metrics.observe_states(Arc::downgrade(&pipelines));
        at_risk::observe(meter, Arc::downgrade(&pipelines));
        Ok(pipelines)
    }

    fn snapshot(&self) -> Arc<BTreeMap<String, Arc<Compiled>>> {
        self.index
            .read()
            .map(|index| index.clone())
            .unwrap_or_default()
    }

    /// Reads every pipeline again and replaces the matching index, so that
    /// pipelines created, changed, paused or deleted through another
    /// replica apply here.
    pub async fn reload(&self) -> Result<(), ApiError> {
        // One that no longer compiles was reported at start.
        let (index, _invalid) = compiled_index(self.store.list_pipelines().await?);
        if let Ok(mut current) = self.index.write() {
            *current = Arc::new(index);
        }
        Ok(())
    }

    fn install(&self, compiled: Option<Arc<Compiled>>, remove: Option<&str>) {
        if let Ok(mut index) = self.index.write() {
            let mut next = (**index).clone();
            if let Some(id) = remove {
                next.remove(id);
            }
            if let Some(compiled) = compiled {
                next.insert(compiled.id.clone(), compiled);
            }
            *index = Arc::new(next);
        }
    }

    /// A pipeline by id or name.
    pub fn get(&self, id_or_name: &str) -> Result<Arc<Compiled>, ApiError> {
        let index = self.snapshot();
        index
            .get(id_or_name)
            .or_else(|| index.values().find(|c| c.name == id_or_name))
            .cloned()
            .ok_or_else(|| ApiError::NotFound {
                what: "pipeline",
                id: id_or_name.to_string(),
            })
    }

    /// Every pipeline, by name.
    pub fn list(&self) -> Vec<Arc<Compiled>> {
        let mut all: Vec<_> = self.snapshot().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Checks what needs the exchange: that it exists, that the mode
    /// matches it, and that a fixed size can reach the venue's minimums.
    async fn check_venue(&self, compiled: &Compiled) -> Result<(), ApiError> {
        let exchange = match self.desk.exchange(&compiled.exchange, &compiled.account) {
            Ok(exchange) => exchange,
            Err(OrderError::NoAccount { exchange, account }) => {
                return Err(ApiError::invalid_field(
                    "INVALID_PIPELINE",
                    "pipeline.account",
                    format!("`{exchange}` has no account named `{account}`"),
                ));
            }
            Err(_) => {
                return Err(ApiError::invalid_field(
                    "INVALID_PIPELINE",
                    "pipeline.exchange",
                    format!("no exchange named `{}`", compiled.exchange),
                ));
            }
        };
        if compiled.live != exchange.live() {
            return Err(ApiError::invalid_field(
                "INVALID_PIPELINE",
                "pipeline.mode",
                format!(
                    "`{}` {} real money; choose mode {}",
                    compiled.exchange,
                    if exchange.live() {
                        "trades"
                    } else {
                        "does not trade"
                    },
                    if exchange.live() { "LIVE" } else { "PAPER" }
                ),
            ));
        }
        if compiled.order.attach_exits
            && !exchange
                .instrument_kinds()
                .iter()
                .any(|kind| exchange.attaches_exits(*kind))
        {
            return Err(ApiError::invalid_field(
                "INVALID_PIPELINE",
                "pipeline.order.attach_exits",
                format!(
                    "`{}` does not attach exits to an entry; leave attach_exits off to place the bracket after the fill",
                    compiled.exchange
                ),
            ));
        }
        if compiled.order.take_profit_at_market && !exchange.triggers_take_profits() {
            return Err(ApiError::invalid_field(
                "INVALID_PIPELINE",
                "pipeline.order.take_profit_at_market",
                format!(
                    "`{}` has no take-profit that triggers at the market; leave it off for a resting limit",
                    compiled.exchange
                ),
            ));
        }
        let symbol = compiled
            .schedule
            .as_ref()
            .map(|s| s.symbol.clone())
            .or_else(|| {
                compiled
                    .matcher
                    .as_ref()
                    .filter(|m| !m.symbol_glob.is_empty() && !m.symbol_glob.contains(['*', '?']))
                    .map(|m| m.symbol_glob.clone())
            });
        let Some(symbol) = symbol else { return Ok(()) };
        let instrument = self
            .normalizer
            .normalize_for_venue(&symbol, exchange.instrument_kinds())
            .map_err(|e| ApiError::invalid_field("INVALID_PIPELINE", "pipeline.trigger", e))?;
        if !exchange.instrument_kinds().contains(&instrument.kind) {
            return Err(ApiError::invalid_field(
                "INVALID_PIPELINE",
                "pipeline.trigger",
                format!(
                    "unsupported_instrument: {} is a {} instrument, and `{}` does not trade {}s",
                    instrument.symbol, instrument.kind, compiled.exchange, instrument.kind
                ),
            ));
        }
        let rules = exchange.rules(&instrument.symbol).await.map_err(|e| {
            ApiError::invalid_field("INVALID_PIPELINE", "pipeline.trigger", e.to_string())
        })?;
        match compiled.sizing {
            spec::SizingRule::QuoteAmount(amount) if amount < rules.min_notional => {
                Err(ApiError::invalid_field(
                    "INVALID_PIPELINE",
                    "pipeline.sizing.fixed_quote_amount",
                    format!(
                        "{amount} is below {}'s minimum notional of {} on {}",
                        instrument.symbol, rules.min_notional, compiled.exchange
                    ),
                ))
            }
            spec::SizingRule::Quantity(quantity) if quantity < rules.min_quantity => {
                Err(ApiError::invalid_field(
                    "INVALID_PIPELINE",
                    "pipeline.sizing.fixed_quantity",
                    format!(
                        "{quantity} is below {}'s minimum quantity of {} on {}",
                        instrument.symbol, rules.min_quantity, compiled.exchange
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A canonical instrument for a symbol as a user writes it.
    pub fn instrument(&self, symbol: &str) -> Result<Instrument, String> {
        self.normalizer.normalize(symbol, "")
    }

    /// Creates a pipeline; a repeated `request_id` returns the first one,
    /// even when the pipeline cap is reached (the store checks the replay
    /// before the cap, in one transaction).
    pub async fn create(
        &self,
        pipeline: Pipeline,
        request_id: &str,
        audit: AuditEntry,
    ) -> Result<Pipeline, ApiError> {
        let now = now_ms();
        let mut pipeline = pipeline;
        pipeline.id = uuid::Uuid::now_v7().to_string();
        pipeline.create_time = Some(ms_to_timestamp(now));
        pipeline.update_time = Some(ms_to_timestamp(now));
        let compiled = compile(pipeline)?;
        let request_id = (!request_id.is_empty()).then_some(request_id);
        self.check_venue(&compiled).await?;
        match self
            .store
            .insert_pipeline(&compiled.definition, request_id, self.max_pipelines)
            .await?
        {
            PipelineInsert::Inserted => {}
            PipelineInsert::RequestSeen(first) => return Ok(*first),
            PipelineInsert::NameTaken => {
                return Err(ApiError::name_taken("pipeline", &compiled.name));
            }
            PipelineInsert::LimitReached => return Err(self.too_many()),
        }
        let pipeline = compiled.definition.clone();
        self.install(Some(Arc::new(compiled)), None);
        self.audit_change(audit, actions::PIPELINE_CREATE, &pipeline, "created")
            .await;
        Ok(pipeline)
    }

    /// The refusal of a create past `pipelines.max_pipelines`.
    fn too_many(&self) -> ApiError {
        ApiError::FailedPrecondition {
            reason: "TOO_MANY_PIPELINES",
            message: format!(
                "at most {} pipelines (pipelines.max_pipelines); delete one first",
                self.max_pipelines
            ),
        }
    }

    /// Saves a changed pipeline (already merged by the caller).
    pub async fn update(
        &self,
        pipeline: Pipeline,
        audit: AuditEntry,
        action: &'static str,
        detail: &str,
    ) -> Result<Pipeline, ApiError> {
        let mut pipeline = pipeline;
        pipeline.update_time = Some(ms_to_timestamp(now_ms()));
        let compiled = compile(pipeline)?;
        self.check_venue(&compiled).await?;
        if !self.store.update_pipeline(&compiled.definition).await? {
            return Err(ApiError::name_taken("pipeline", &compiled.name));
        }
        let pipeline = compiled.definition.clone();
        self.install(Some(Arc::new(compiled)), None);
        self.audit_change(audit, action, &pipeline, detail).await;
        Ok(pipeline)
    }

    /// Pauses or resumes.
    pub async fn set_state(
        &self,
        id: &str,
        state: PipelineState,
        audit: AuditEntry,
    ) -> Result<Pipeline, ApiError> {
        let mut pipeline = self.get(id)?.definition.clone();
        let (action, detail) = if state == PipelineState::Paused {
            (actions::PIPELINE_PAUSE, "paused")
        } else {
            (actions::PIPELINE_RESUME, "resumed")
        };
        if pipeline.state == state as i32 {
            return Ok(pipeline);
        }
        pipeline.state = state as i32;
        self.update(pipeline, audit, action, detail).await
    }

    /// Deletes a pipeline; its executions stay for the record.
    pub async fn delete(&self, id: &str, audit: AuditEntry) -> Result<(), ApiError> {
        let pipeline = self.get(id)?.definition.clone();
        self.store.delete_pipeline(&pipeline.id).await?;
        self.install(None, Some(&pipeline.id));
        self.audit_change(audit, actions::PIPELINE_DELETE, &pipeline, "deleted")
            .await;
        Ok(())
    }

    async fn audit_change(
        &self,
        mut entry: AuditEntry,
        action: &'static str,
        pipeline: &Pipeline,
        detail: &str,
    ) {
        entry.action = action;
        entry.target = pipeline.id.clone();
        entry.outcome = AuditOutcome::Success;
        entry.detail = format!("{} {detail}", pipeline.name);
        self.audit.record_or_log(entry).await;
    }

    /// Runs a pipeline by hand (or on its schedule) with a synthetic
    /// signal, stored like any other so the execution can refer to it.
    pub async fn trigger(
        &self,
        compiled: &Compiled,
        signal: Signal,
        traceparent: &str,
        why: &str,
        request_id: Option<String>,
    ) -> Result<Execution, ApiError> {
        let mut write = SignalWrite::new(&signal, None);
        let execution = new_execution(compiled, &signal, traceparent, why, request_id.clone());
        if request_id.is_some() {
            // A retried run must find its first execution, so the signal
            // and execution are written separately: the execution insert
            // is what deduplicates.
            self.store.record_signal(write).await?;
            let stored = self.store.insert_execution(execution).await?;
            self.queued();
            return Ok(stored);
        }
        write.executions.push(execution.clone());
        match self.store.record_signal(write).await? {
            SignalWriteResult::Inserted | SignalWriteResult::Duplicate(_) => {}
        }
        self.queued();
        Ok(execution.execution)
    }

    /// A synthetic signal for `compiled` with what the caller gave.
    pub fn synthetic_signal(
        &self,
        source: &str,
        symbol: &str,
        action: &str,
        price: &str,
        quantity: &str,
    ) -> Result<Signal, ApiError> {
        let instrument = self
            .instrument(symbol)
            .map_err(|e| ApiError::invalid_field("BAD_SYMBOL", "symbol", e))?;
        let raw_action = action.to_string();
        let action = SignalAction::named(action).ok_or_else(|| {
            ApiError::invalid_field(
                "UNKNOWN_ACTION",
                "action",
                format!("`{action}` is not one of {}", SignalAction::WORDS),
            )
        })?;
        let decimal = |text: &str, field: &str| {
            (!text.is_empty())
                .then(|| parse_decimal(text))
                .transpose()
                .map_err(|e| ApiError::invalid_field("NOT_A_NUMBER", field, e))
        };
        let price = decimal(price, "price")?;
        let quantity = decimal(quantity, "quantity")?;
        let target = action == SignalAction::TargetPosition;
        let now = now_ms();
        Ok(Signal {
            raw_symbol: symbol.to_string(),
            raw_action,
            intent: Some(Intent {
                instrument,
                action,
                quantity: quantity.filter(|_| !target),
                price,
                confidence: None,
                target_position: quantity.filter(|_| target),
                strategy_position: None,
                event_time_ms: Some(now),
                exit_percent: None,
                overrides: Overrides::default(),
            }),
            ..Signal::received(uuid::Uuid::now_v7().to_string(), source, now)
        })
    }

    /// A live feed of execution changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Execution>> {
        self.changes.subscribe()
    }

    /// What WatchExecutions reads: changes made here and relayed ones.
    pub fn watch_feed(&self) -> Feed<Arc<Execution>> {
        self.relayed.feed_with(self.changes.subscribe())
    }

    /// Execution changes other replicas made, for watch streams.
    pub fn relay(&self) -> &Relay<Arc<Execution>> {
        &self.relayed
    }
}

fn new_execution(
    compiled: &Compiled,
    signal: &Signal,
    traceparent: &str,
    why: &str,
    request_id: Option<String>,
) -> ExecutionWrite {
    let mut execution = Execution::pending(
        uuid::Uuid::now_v7().to_string(),
        compiled.id.clone(),
        compiled.name.clone(),
        signal.id.clone(),
        now_ms(),
    );
    execution.steps.push(ExecutionStep {
        name: "match".into(),
        result: "ok".into(),
        detail: why.to_string(),
        duration: std::time::Duration::ZERO,
    });
    ExecutionWrite {
        execution,
        traceparent: traceparent.to_string(),
        request_id,
        skip_if_running: compiled.skip_if_running,
    }
}

impl ExecutionPlanner for Pipelines {
    /// The executions `signal` starts: one per enabled pipeline it
    /// matches. Called by the intake before the signal is stored, so that
    /// both commit together.
    fn executions_for(&self, signal: &Signal, traceparent: &str) -> Vec<ExecutionWrite> {
        if signal.outcome != SignalOutcome::Accepted {
            return Vec::new();
        }
        let index = self.snapshot();
        index
            .values()
            .filter(|c| c.enabled && c.matcher.as_ref().is_some_and(|m| m.matches(signal)))
            .map(|c| {
                self.metrics.matched(&c.name);
                new_execution(c, signal, traceparent, "signal matched", None)
            })
            .collect()
    }

    /// Wakes the workers after executions were queued.
    fn queued(&self) {
        self.queued.notify_waiters();
    }
}

/// Compiled pipelines by id: what signals are matched against.
type Index = BTreeMap<String, Arc<Compiled>>;

/// The matching index of `pipelines`, and those that no longer compile
/// (left out), with why.
fn compiled_index(pipelines: Vec<Pipeline>) -> (Index, Vec<(String, String)>) {
    let mut index = BTreeMap::new();
    let mut invalid = Vec::new();
    for pipeline in pipelines {
        let id = pipeline.id.clone();
        match compile(pipeline) {
            Ok(compiled) => {
                index.insert(id, Arc::new(compiled));
            }
            Err(err) => invalid.push((id, err.to_string())),
        }
    }
    (index, invalid)
}

//! The workers: claim an execution from the durable queue with a lease,
//! then run its steps (sizing, risk, order, protect) and record each with
//! its result and duration. The order's request id is the execution id,
//! so an execution resumed after a crash finds its order instead of
//! placing a second one.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rust_decimal::Decimal;
use tokio::{sync::watch, task::JoinHandle};

use super::{
    Pipelines, cleanup, market_hours, overrides,
    protect::{self, Protected},
    report::end_events,
    risk::{self, History, Refusal},
    sizing::{self, Market, Plan},
    spec::Compiled,
    stop::{SkipReason, Stop, unreachable_store, unread_position},
};
use crate::{
    audit::AuditEntry,
    market::{instrument::InstrumentKind, symbol::is_perpetual},
    model::{
        execution::{Execution, ExecutionStatus, ExecutionStep},
        order::{Order, OrderOrigin, OrderRequest, OrderRole, OrderStatus},
        signal::{Signal, SignalAction},
    },
    orders::desk::client_order_id,
    proto_time::now_ms,
    store::{Claim, OrderQuery},
};

/// How often idle workers look for executions whose lease expired.
const IDLE_POLL: Duration = Duration::from_millis(250);

impl Pipelines {
    /// Starts `workers` workers, which run until `stopped`.
    pub fn start_workers(
        self: &Arc<Self>,
        workers: usize,
        lease: Duration,
        stopped: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        (0..workers)
            .map(|_| {
                let pipelines = self.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move { pipelines.work(lease, stopped).await })
            })
            .collect()
    }

    /// Claims and runs executions until `stopped`. Each result is saved
    /// with the worker's next claim, in one write.
    async fn work(self: Arc<Self>, lease: Duration, mut stopped: watch::Receiver<bool>) {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut ended: Option<Ended> = None;
        loop {
            if *stopped.borrow() {
                self.save_alone(ended).await;
                return;
            }
            let queued = self.queued.notified();
            let ending = ended.take();
            let now = now_ms();
            let report = ending
                .as_ref()
                .map(|e| end_events(&e.execution, now))
                .unwrap_or_default();
            let claimed = self
                .store
                .claim_execution(
                    super::claim::rules(now, lease_ms),
                    ending.as_ref().map(|e| e.execution.clone()),
                    report,
                )
                .await;
            if let Ok(claimed) = &claimed {
                self.audit.published(&claimed.audit);
            }
            match (&claimed, ending) {
                (Ok(_), Some(saved)) => self.announce(saved),
                // Tried again with the next claim; should the store stay
                // down, the lease runs out and another worker resumes it
                // (the order request id keeps that from ordering twice).
                (Err(_), unsaved) => ended = unsaved,
                (Ok(_), None) => {}
            }
            match claimed.map(|claimed| claimed.claim) {
                Ok(Claim::Run {
                    execution,
                    traceparent,
                }) => {
                    self.metrics.claimed(&execution);
                    ended = Some(self.run_leased(*execution, &traceparent, lease_ms).await);
                    continue;
                }
                Ok(Claim::Skipped(execution)) => {
                    self.announce(Ended {
                        execution: *execution,
                        took: Duration::ZERO,
                    });
                    continue;
                }
                Ok(Claim::Idle) => self.count_queue().await,
                Err(err) => tracing::warn!(error = %err, "cannot claim executions"),
            }
            tokio::select! {
                _ = queued => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stopped.changed() => {
                    self.save_alone(ended).await;
                    return;
                }
            }
        }
    }

    /// Saves an ended execution, with the events that report its end,
    /// without a claim (the worker is stopping).
    async fn save_alone(&self, ended: Option<Ended>) {
        let Some(ended) = ended else { return };
        match self.save_end(&ended.execution).await {
            Ok(()) => self.announce(ended),
            Err(err) => {
                tracing::error!(error = %err, execution = %ended.execution.id, "execution result not saved")
            }
        }
    }

    /// Meters and publishes a saved result (its events are fed already).
    fn announce(&self, ended: Ended) {
        self.metrics.finished(&ended.execution, ended.took);
        let _ = self.changes.send(Arc::new(ended.execution));
    }

    pub(super) async fn steps(
        &self,
        execution: &mut Execution,
        trace_id: &str,
    ) -> Result<(), Stop> {
        let Some(compiled) = self.snapshot().get(&execution.pipeline_id).cloned() else {
            execution.status = ExecutionStatus::Canceled;
            execution.error = "the pipeline was deleted".into();
            return Ok(());
        };
        if !compiled.enabled {
            return Err(Stop::Skip(SkipReason::Paused, String::new()));
        }
        let signal = match self.store.get_signal(&execution.signal_id).await {
            Ok(Some(signal)) => signal,
            Ok(None) => {
                return Err(Stop::Fail(format!(
                    "signal {} is missing",
                    execution.signal_id
                )));
            }
            Err(err) => return Err(unreachable_store(err, "cannot read the signal")),
        };
        let outcome = self.trade(&compiled, &signal, execution, trace_id).await;
        if matches!(outcome, Ok(()) | Err(Stop::Skip(..))) {
            self.compare_with_alert(&compiled, &signal, execution).await;
        }
        outcome
    }

    /// The steps after the pipeline and signal are read: cancel, or size,
    /// check, place and follow the order.
    async fn trade(
        &self,
        compiled: &Compiled,
        signal: &Signal,
        execution: &mut Execution,
        trace_id: &str,
    ) -> Result<(), Stop> {
        // `cancel` places nothing: canceling again after a restart is
        // harmless.
        if signal.intent.as_ref().map(|i| i.action) == Some(SignalAction::Cancel) {
            self.cancel_resting(compiled, execution, signal.symbol(), trace_id)
                .await?;
            execution.status = ExecutionStatus::Succeeded;
            return Ok(());
        }

        // The alert's overrides change the pipeline's order for this trade.
        let compiled = &overrides::applied(compiled, signal)?;
        // A resumed execution may have placed its order before the crash:
        // then it carries on from that order, booked and counted already
        // (the position before it is the position less its fills).
        let (order, before) = match self.placed_order(execution).await {
            Some(order) => {
                let summary = format!(
                    "order {} {}, placed before the restart",
                    order.id, order.status
                );
                record(execution, "order", &Ok(summary), Instant::now());
                let now = self
                    .desk
                    .position(&compiled.id, order.symbol())
                    .await
                    .map_err(unread_position)?
                    .quantity;
                let before = now - order.side.signed(order.base_moved());
                (order, before)
            }
            None => {
                self.size_check_and_place(compiled, signal, execution, trace_id)
                    .await?
            }
        };
        self.follow_order(compiled, execution, order, before, trace_id)
            .await
    }

    /// What follows a placed order, on a worker or after an approval:
    /// records it, fails on a refusal, protects a fill, and ends the
    /// execution SUCCEEDED. `before` is the pipeline's position before it.
    pub(super) async fn follow_order(
        &self,
        compiled: &Compiled,
        execution: &mut Execution,
        order: Order,
        before: Decimal,
        trace_id: &str,
    ) -> Result<(), Stop> {
        execution.order_ids.push(order.id.clone());
        execution.fees = Some(order.fee_total);
        let status = order.status;
        match status {
            OrderStatus::Rejected | OrderStatus::Failed => {
                return Err(Stop::Fail(format!(
                    "order {}: {}",
                    status.word(),
                    order.status_reason
                )));
            }
            OrderStatus::Unknown => {
                return Err(Stop::Fail(
                    "the order's outcome is unknown; the order desk is reconciling it".into(),
                ));
            }
            OrderStatus::Filled => {
                let started = Instant::now();
                // An exit never gets a bracket, whatever the position did
                // meanwhile; other orders protect only what they opened.
                let closes = match self.store.get_signal(&execution.signal_id).await {
                    Ok(signal) => signal
                        .and_then(|s| s.intent)
                        .is_some_and(|i| cleanup::only_closes(i.action)),
                    Err(err) => return Err(Stop::Fail(err.to_string())),
                };
                let protected = Protected {
                    entry: &order,
                    quantity: if closes {
                        Decimal::ZERO
                    } else {
                        order.opened_from(before)
                    },
                };
                let protective = self.protect(compiled, execution, protected, trace_id).await;
                if let Some(result) = protective {
                    record(
                        execution,
                        "protect",
                        &result
                            .as_ref()
                            .map(|ids| format!("orders {}", ids.join(", "))),
                        started,
                    );
                    execution.order_ids.extend(result?);
                }
            }
            _ => {}
        }
        execution.status = ExecutionStatus::Succeeded;
        Ok(())
    }

    /// The execution's order, if an earlier attempt placed it.
    async fn placed_order(&self, execution: &Execution) -> Option<Order> {
        if execution.attempt <= 1 {
            return None;
        }
        let client_order_id = client_order_id(&order_request_id(execution));
        self.store
            .list_orders(&OrderQuery {
                execution_id: Some(execution.id.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .ok()?
            .into_iter()
            .find(|o| o.client_order_id == client_order_id)
    }

    /// The sizing, risk and order steps of a fresh attempt; returns the
    /// order and the pipeline's position before it.
    async fn size_check_and_place(
        &self,
        compiled: &Compiled,
        signal: &Signal,
        execution: &mut Execution,
        trace_id: &str,
    ) -> Result<(Order, Decimal), Stop> {
        let mut plan = self.size(compiled, signal).await;
        // Exits, reversals and any order that reduces the position first
        // cancel the pipeline's resting orders in the symbol (entries and
        // brackets), then size again on the position that leaves.
        let action = signal.intent.as_ref().map(|i| i.action);
        if action.is_some_and(cleanup::always_cleans_up) || plan.as_ref().is_ok_and(Plan::reduces) {
            self.cancel_resting(compiled, execution, signal.symbol(), trace_id)
                .await?;
            plan = self.size(compiled, signal).await;
        }
        let started = Instant::now();
        record(
            execution,
            "sizing",
            &plan.as_ref().map(Plan::describe),
            started,
        );
        let plan = plan?;
        if !plan.reduces()
            && let Some(drift) = self.refused_for_drift(compiled)
        {
            return Err(Stop::Skip(SkipReason::PositionDrift, drift));
        }

        let started = Instant::now();
        let risk = self.check_risk(compiled, &plan).await;
        record(
            execution,
            "risk",
            &risk.as_ref().map(|()| "within every limit".to_string()),
            started,
        );
        risk?;

        let started = Instant::now();
        let order = self.order(compiled, execution, &plan, trace_id).await;
        let order = self.placed(compiled, execution, order, started)?;
        Ok((order, plan.position.quantity))
    }

    /// Records the order step of a placement that started at `started`,
    /// and counts a placed order's fees and rate.
    pub(super) fn placed(
        &self,
        compiled: &Compiled,
        execution: &mut Execution,
        order: Result<Order, Stop>,
        started: Instant,
    ) -> Result<Order, Stop> {
        record(
            execution,
            "order",
            &order
                .as_ref()
                .map(|o| format!("order {} {}", o.id, o.status)),
            started,
        );
        let order = order?;
        self.metrics.fees(&compiled.name, &order);
        Ok(order)
    }

    /// The sizing step: reads the venue's rules, the price and (when the
    /// rule needs them) the balances, then sizes with [`sizing::plan`].
    async fn size(&self, compiled: &Compiled, signal: &Signal) -> Result<Plan, Stop> {
        let Some(intent) = &signal.intent else {
            return Err(Stop::Fail(format!("signal {} was not accepted", signal.id)));
        };
        let symbol = &intent.instrument.symbol;
        let fail = |e: &dyn std::fmt::Display| Stop::Fail(e.to_string());
        let exchange = self
            .desk
            .exchange(&compiled.exchange, &compiled.account)
            .map_err(|e| fail(&e))?
            .clone();
        let kind = intent.instrument.kind;
        if !exchange.instrument_kinds().contains(&kind) {
            return Err(Stop::Skip(
                SkipReason::UnsupportedInstrument,
                format!(
                    "{symbol} is a {kind} instrument, and `{}` does not trade {kind}s",
                    compiled.exchange
                ),
            ));
        }
        market_hours::check(&*exchange, &intent.instrument, &compiled.order).await?;
        let rules = exchange.rules(symbol).await.map_err(|e| fail(&e))?;
        let price = match intent.price {
            Some(price) => price,
            None => exchange
                .last_price(symbol)
                .await
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Stop::Fail(format!(
                        "no price for {symbol}: the signal has none and {} knows none",
                        compiled.exchange
                    ))
                })?,
        };
        let position = self
            .desk
            .position(&compiled.id, symbol)
            .await
            .map_err(unread_position)?;
        let balances = if sizing::needs_balances(compiled.sizing, intent) {
            exchange.balances().await.map_err(|e| fail(&e))?
        } else {
            Vec::new()
        };
        let market = Market {
            symbol,
            price,
            rules: &rules,
            position,
            balances: &balances,
            can_short: intent.instrument.kind != InstrumentKind::Spot,
        };
        sizing::plan(compiled.sizing, &compiled.order, intent, market)
    }

    /// The risk step: [`risk::check_order`], then
    /// [`risk::check_history`] against the pipeline's stored orders (its
    /// executions run one at a time on whichever replica, so the count is
    /// exact) and the desk's fills.
    async fn check_risk(&self, compiled: &Compiled, plan: &Plan) -> Result<(), Stop> {
        let refused = |refusal| match refusal {
            Refusal::Rule(rule, detail) => {
                self.metrics.risk_rejected(&compiled.name, rule.as_str());
                Stop::Skip(
                    SkipReason::RiskRejected,
                    format!("{}: {detail}", rule.as_str()),
                )
            }
            Refusal::Cooldown(detail) => Stop::Skip(SkipReason::Cooldown, detail),
        };
        risk::check_order(&compiled.risk, plan).map_err(&refused)?;
        let now = now_ms();
        let orders_last_minute = self
            .store
            .count_pipeline_orders(&compiled.id, now - MINUTE_MS, ENTRY_REQUEST_PREFIX)
            .await
            .map_err(|err| unreachable_store(err, "cannot count recent orders"))?;
        let (realized_today, last_fill) = self
            .desk
            .pipeline_history(&compiled.id, now)
            .await
            .map_err(unread_position)?;
        let history = History {
            orders_last_minute,
            realized_today,
            since_last_fill_ms: last_fill.map(|last| now - last),
        };
        risk::check_history(&compiled.risk, &history).map_err(refused)
    }

    /// The order step: the planned order, placed through the desk.
    async fn order(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        plan: &Plan,
        trace_id: &str,
    ) -> Result<Order, Stop> {
        let perpetual = is_perpetual(&plan.symbol);
        if let Some(leverage) = compiled.order.leverage.filter(|_| perpetual) {
            let venue = (compiled.exchange.as_str(), compiled.account.as_str());
            self.desk
                .set_leverage(venue, &plan.symbol, leverage)
                .await?;
        }
        let request_id = order_request_id(execution);
        let attachment = protect::attachment(&compiled.order, plan, &request_id);
        let request = OrderRequest {
            request_id,
            exchange: compiled.exchange.clone(),
            account: compiled.account.clone(),
            symbol: plan.symbol.clone(),
            side: plan.side,
            order_type: compiled.order.order_type,
            time_in_force: compiled.order.time_in_force,
            quantity: plan.quantity,
            price: plan.limit_price,
            stop_price: None,
            reference_price: Some(plan.price),
            trailing_delta_bips: None,
            // A perpetual's exit only ever closes: it may not flip it.
            reduce_only: perpetual
                && plan.reduces()
                && plan.quantity <= plan.position.quantity.abs(),
            attachment,
        };
        let mut origin = origin_of(compiled, execution);
        origin.role = Some(if plan.reduces() {
            OrderRole::Exit
        } else {
            OrderRole::Entry
        });
        if let Some(expiry) = compiled.approval_expiry {
            return Err(self.hold(compiled, request, origin, expiry).await);
        }
        self.desk
            .place_for(request, origin, pipeline_audit(compiled, trace_id))
            .await
            .map_err(Stop::from)
    }
}

/// Ends `execution` with the outcome of its steps: a stop skips or fails
/// it, and every end but a wait for approval is stamped now.
pub(super) fn conclude(execution: &mut Execution, outcome: Result<(), Stop>) {
    match outcome {
        Ok(()) => {}
        Err(Stop::Skip(reason, detail)) => {
            execution.status = ExecutionStatus::Skipped;
            execution.skip_reason = reason.as_str().to_string();
            if !detail.is_empty() {
                execution.error = detail;
            }
        }
        Err(Stop::Fail(error) | Stop::Unavailable(error)) => {
            execution.status = ExecutionStatus::Failed;
            execution.error = error;
        }
        Err(Stop::AwaitApproval(_)) => {
            execution.status = ExecutionStatus::AwaitingApproval;
            return;
        }
    }
    execution.end_time_ms = Some(now_ms());
}

/// An execution a worker has ended, waiting to be saved.
pub(super) struct Ended {
    pub(super) execution: Execution,
    pub(super) took: Duration,
}

/// The request id of an execution's order: the same on every attempt, so
/// the order desk places it once.
pub(super) fn order_request_id(execution: &Execution) -> String {
    format!("{ENTRY_REQUEST_PREFIX}{}", execution.id)
}

/// What an execution's own order's request id starts with (its id follows).
const ENTRY_REQUEST_PREFIX: &str = "execution:";
/// The window of the orders-per-minute rule.
const MINUTE_MS: i64 = 60_000;

/// The pipeline run an execution's orders belong to.
pub(super) fn origin_of(compiled: &Compiled, execution: &Execution) -> OrderOrigin {
    OrderOrigin {
        pipeline_id: compiled.id.clone(),
        execution_id: execution.id.clone(),
        signal_id: execution.signal_id.clone(),
        ..Default::default()
    }
}

/// Orders a pipeline places are audited as its own, in the trace of the
/// call that started the execution.
pub(super) fn pipeline_audit(compiled: &Compiled, trace_id: &str) -> AuditEntry {
    AuditEntry {
        actor: format!("pipeline:{}", compiled.name),
        trace_id: trace_id.to_string(),
        ..Default::default()
    }
}

/// Appends a step with its outcome and duration.
pub(super) fn record(
    execution: &mut Execution,
    name: &str,
    outcome: &Result<String, &Stop>,
    started: Instant,
) {
    let (result, detail) = match outcome {
        Ok(detail) => ("ok", detail.clone()),
        Err(stop) => stop.describe(),
    };
    execution.steps.push(ExecutionStep {
        name: name.to_string(),
        result: result.to_string(),
        detail,
        duration: started.elapsed(),
    });
}

//! The workers: claim an execution from the durable queue with a lease,
//! then run its steps (sizing, risk, order) and record each with its
//! result and duration. The order's request id is the execution id, so an
//! execution resumed after a crash finds its order instead of placing a
//! second one.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rust_decimal::Decimal;
use tokio::{sync::watch, task::JoinHandle};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tradeplane_api::{
    Execution, ExecutionStatus, ExecutionStep, Order, OrderStatus, OrderType, PlaceOrderRequest,
    Side, Signal, SignalAction,
};

use super::{
    Pipelines,
    spec::{Compiled, Level, SizingRule},
    stop::{RiskRule, SkipReason, Stop},
};
use crate::{
    api_error::ApiError,
    audit::AuditEntry,
    market::decimal::parse_decimal,
    orders::{
        desk::client_order_id,
        exchanges::{round_price, round_quantity},
    },
    proto_time::{ms_to_timestamp, now_ms},
    store::{Claim, OrderQuery, all_executions, all_orders},
};

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
const DAY_MS: i64 = 86_400_000;
/// How often idle workers look for executions whose lease expired.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// A pipeline's holding of one symbol, from its own fills.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// Signed: long > 0.
    pub quantity: Decimal,
    pub average_cost: Decimal,
    /// Realised profit (negative: loss) on `day`.
    pub realized: Decimal,
    pub day: i64,
}

impl Position {
    /// Books one fill.
    pub fn apply(&mut self, side: Side, quantity: Decimal, price: Decimal, time_ms: i64) {
        let day = time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.realized = Decimal::ZERO;
        }
        let signed = if side == Side::Sell {
            -quantity
        } else {
            quantity
        };
        let same_direction =
            self.quantity.is_zero() || (self.quantity > Decimal::ZERO) == (signed > Decimal::ZERO);
        if same_direction {
            let total = self.quantity + signed;
            self.average_cost =
                (self.average_cost * self.quantity.abs() + price * quantity) / total.abs();
            self.quantity = total;
            return;
        }
        let closed = quantity.min(self.quantity.abs());
        let direction = if self.quantity > Decimal::ZERO {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
        self.realized += (price - self.average_cost) * closed * direction;
        self.quantity += signed;
        if self.quantity.is_zero() {
            self.average_cost = Decimal::ZERO;
        } else if (self.quantity > Decimal::ZERO) == (signed > Decimal::ZERO) {
            // Flipped: the remainder opened at this price.
            self.average_cost = price;
        }
    }
}

/// What the workers remember between executions: positions, fills and
/// recent orders per pipeline. Rebuilt from the store at start-up.
#[derive(Default)]
pub struct Book {
    positions: HashMap<(String, String), Position>,
    last_fill_ms: HashMap<String, i64>,
    recent_orders: HashMap<String, VecDeque<i64>>,
}

impl Book {
    fn position(&self, pipeline: &str, symbol: &str) -> Position {
        self.positions
            .get(&(pipeline.to_string(), symbol.to_string()))
            .copied()
            .unwrap_or_default()
    }

    fn book_order(&mut self, pipeline: &str, order: &Order, already: usize) {
        let symbol = order
            .instrument
            .as_ref()
            .map(|i| i.symbol.clone())
            .unwrap_or_default();
        let side = Side::try_from(order.side).unwrap_or(Side::Buy);
        for fill in order.fills.iter().skip(already) {
            let time = fill
                .time
                .as_ref()
                .map(crate::proto_time::timestamp_ms)
                .unwrap_or_else(now_ms);
            let (Ok(quantity), Ok(price)) =
                (parse_decimal(&fill.quantity), parse_decimal(&fill.price))
            else {
                continue;
            };
            self.positions
                .entry((pipeline.to_string(), symbol.clone()))
                .or_default()
                .apply(side, quantity, price, time);
            let last = self.last_fill_ms.entry(pipeline.to_string()).or_default();
            *last = (*last).max(time);
        }
    }

    fn orders_in_last_minute(&mut self, pipeline: &str, now: i64) -> usize {
        let recent = self.recent_orders.entry(pipeline.to_string()).or_default();
        while recent.front().is_some_and(|t| now - t >= 60_000) {
            recent.pop_front();
        }
        recent.len()
    }
}

/// The order an execution decided on.
struct Plan {
    symbol: String,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    limit_price: Option<Decimal>,
    position: Position,
}

impl Pipelines {
    /// Rebuilds the book from stored executions and orders, then starts
    /// `workers` workers until `stopped`.
    pub async fn start_workers(
        self: &Arc<Self>,
        workers: usize,
        lease: Duration,
        stopped: watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>, ApiError> {
        self.rebuild_book().await?;
        Ok((0..workers)
            .map(|_| {
                let pipelines = self.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move { pipelines.work(lease, stopped).await })
            })
            .collect())
    }

    async fn rebuild_book(&self) -> Result<(), ApiError> {
        let owner: HashMap<String, String> = all_executions(&*self.store)
            .await?
            .into_iter()
            .map(|e| (e.id, e.pipeline_id))
            .collect();
        let orders: Vec<Order> = all_orders(&*self.store)
            .await?
            .into_iter()
            .filter(|o| owner.contains_key(&o.execution_id))
            .collect();
        if let Ok(mut book) = self.book.lock() {
            for order in &orders {
                if let Some(pipeline) = owner.get(&order.execution_id) {
                    book.book_order(pipeline, order, 0);
                }
            }
        }
        Ok(())
    }

    async fn work(self: Arc<Self>, lease: Duration, mut stopped: watch::Receiver<bool>) {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        loop {
            if *stopped.borrow() {
                return;
            }
            let queued = self.queued.notified();
            match self.store.claim_execution(now_ms(), lease_ms).await {
                Ok(Claim::Run {
                    execution,
                    traceparent,
                }) => {
                    let span = tracing::info_span!(
                        "execution",
                        otel.name = "execution",
                        execution = %execution.id,
                        pipeline = %execution.pipeline_name,
                    );
                    // The execution continues the trace of the call that
                    // queued it, even after a restart.
                    let carrier = HashMap::from([("traceparent".to_string(), traceparent.clone())]);
                    let parent = TraceContextPropagator::new().extract(&carrier);
                    let _ = span.set_parent(parent);
                    let trace_id = traceparent
                        .split('-')
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    self.run(*execution, &trace_id).instrument(span).await;
                    continue;
                }
                Ok(Claim::Skipped(execution)) => {
                    self.metrics.finished(&execution, Duration::ZERO);
                    let _ = self.changes.send(Arc::new(*execution));
                    continue;
                }
                Ok(Claim::Idle) => self.count_queue().await,
                Err(err) => tracing::warn!(error = %err, "cannot claim executions"),
            }
            tokio::select! {
                _ = queued => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// Runs one claimed execution to its end.
    async fn run(&self, mut execution: Execution, trace_id: &str) {
        let started = Instant::now();
        let outcome = self.steps(&mut execution, trace_id).await;
        let now = now_ms();
        match outcome {
            Ok(()) => {}
            Err(Stop::Skip(reason, detail)) => {
                execution.status = ExecutionStatus::Skipped as i32;
                execution.skip_reason = reason.as_str().to_string();
                if !detail.is_empty() {
                    execution.error = detail;
                }
            }
            Err(Stop::Fail(error)) => {
                execution.status = ExecutionStatus::Failed as i32;
                execution.error = error;
            }
        }
        execution.end_time = Some(ms_to_timestamp(now));
        if let Err(err) = self.store.update_execution(&execution).await {
            // The lease runs out and another worker resumes it; the order
            // request id keeps that from ordering twice.
            tracing::error!(error = %err, execution = %execution.id, "execution result not saved");
            return;
        }
        self.metrics.finished(&execution, started.elapsed());
        let _ = self.changes.send(Arc::new(execution));
    }

    async fn steps(&self, execution: &mut Execution, trace_id: &str) -> Result<(), Stop> {
        let Some(compiled) = self.snapshot().get(&execution.pipeline_id).cloned() else {
            execution.status = ExecutionStatus::Canceled as i32;
            execution.error = "the pipeline was deleted".into();
            return Ok(());
        };
        if !compiled.enabled() {
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
            Err(err) => return Err(Stop::Fail(err.to_string())),
        };

        // A resumed execution may have placed its order before the crash:
        // then it carries on from that order, booked and counted already.
        let order = match self.placed_order(execution).await {
            Some(order) => {
                let summary = format!(
                    "order {} {}, placed before the restart",
                    order.id,
                    status_word(order.status)
                );
                record(execution, "order", &Ok(summary), Instant::now());
                order
            }
            None => {
                self.size_check_and_place(&compiled, &signal, execution, trace_id)
                    .await?
            }
        };
        execution.order_ids.push(order.id.clone());
        execution.fees = order.fee_total.clone();
        match OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified) {
            OrderStatus::Rejected | OrderStatus::Failed => {
                return Err(Stop::Fail(format!(
                    "order {}: {}",
                    status_word(order.status),
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
                let protective = self.protect(&compiled, execution, &order, trace_id).await;
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
        execution.status = ExecutionStatus::Succeeded as i32;
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

    /// The sizing, risk and order steps of a fresh attempt.
    async fn size_check_and_place(
        &self,
        compiled: &Compiled,
        signal: &Signal,
        execution: &mut Execution,
        trace_id: &str,
    ) -> Result<Order, Stop> {
        let started = Instant::now();
        let plan = self.size(compiled, signal).await;
        record(
            execution,
            "sizing",
            &plan.as_ref().map(|p| {
                format!(
                    "{} {} {} at {}",
                    side_word(p.side),
                    p.quantity,
                    p.symbol,
                    p.price
                )
            }),
            started,
        );
        let plan = plan?;

        let started = Instant::now();
        let risk = self.check_risk(compiled, &plan);
        record(
            execution,
            "risk",
            &risk.as_ref().map(|()| "within every limit".to_string()),
            started,
        );
        risk?;

        let started = Instant::now();
        let order = self.order(compiled, execution, &plan, trace_id).await;
        record(
            execution,
            "order",
            &order
                .as_ref()
                .map(|o| format!("order {} {}", o.id, status_word(o.status))),
            started,
        );
        let order = order?;
        self.metrics.fees(&compiled.pipeline.name, &order);
        if let Ok(mut book) = self.book.lock() {
            book.book_order(&compiled.pipeline.id, &order, 0);
            book.recent_orders
                .entry(compiled.pipeline.id.clone())
                .or_default()
                .push_back(now_ms());
        }
        Ok(order)
    }

    /// Works out side, quantity and price from the intent and the sizing
    /// rule, rounded to the venue's rules.
    async fn size(&self, compiled: &Compiled, signal: &Signal) -> Result<Plan, Stop> {
        let pipeline = &compiled.pipeline;
        let symbol = signal
            .instrument
            .as_ref()
            .map(|i| i.symbol.clone())
            .unwrap_or_default();
        let exchange = self
            .desk
            .exchange(&pipeline.exchange)
            .map_err(|e| Stop::Fail(e.to_string()))?
            .clone();
        let rules = exchange
            .rules(&symbol)
            .await
            .map_err(|e| Stop::Fail(e.to_string()))?;
        let price = match parse_decimal(&signal.price) {
            Ok(price) => price,
            Err(_) => exchange
                .last_price(&symbol)
                .await
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Stop::Fail(format!(
                        "no price for {symbol}: the signal has none and {} knows none",
                        pipeline.exchange
                    ))
                })?,
        };
        let position = self
            .book
            .lock()
            .map(|b| b.position(&pipeline.id, &symbol))
            .unwrap_or_default();
        let action = SignalAction::try_from(signal.action).unwrap_or(SignalAction::Unspecified);
        let (side, quantity) = match action {
            SignalAction::Buy | SignalAction::Sell => {
                let side = if action == SignalAction::Buy {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let quantity = match compiled.sizing {
                    SizingRule::Quantity(q) => q,
                    SizingRule::QuoteAmount(amount) => amount / price,
                    SizingRule::FromSignal => parse_decimal(&signal.quantity).map_err(|_| {
                        Stop::Fail("sizing is from_signal, and the signal has no quantity".into())
                    })?,
                    SizingRule::PercentOfBalance(percent) => {
                        let instrument = signal.instrument.clone().unwrap_or_default();
                        let asset = if side == Side::Buy {
                            instrument.quote
                        } else {
                            instrument.base
                        };
                        let free = exchange
                            .balances()
                            .await
                            .map_err(|e| Stop::Fail(e.to_string()))?
                            .into_iter()
                            .find(|(a, _, _)| *a == asset)
                            .map(|(_, free, _)| free)
                            .unwrap_or_default();
                        let amount = free * percent / Decimal::ONE_HUNDRED;
                        if side == Side::Buy {
                            amount / price
                        } else {
                            amount
                        }
                    }
                };
                (side, quantity)
            }
            SignalAction::Exit => {
                if position.quantity.is_zero() {
                    return Err(Stop::Skip(
                        SkipReason::NoPosition,
                        format!("nothing to close in {symbol}"),
                    ));
                }
                let side = if position.quantity > Decimal::ZERO {
                    Side::Sell
                } else {
                    Side::Buy
                };
                (side, position.quantity.abs())
            }
            SignalAction::TargetPosition => {
                let target = parse_decimal(&signal.target_position).map_err(|_| {
                    Stop::Fail("a target_position signal needs target_position".into())
                })?;
                let difference = target - position.quantity;
                if difference.is_zero() {
                    return Err(Stop::Skip(
                        SkipReason::AtTarget,
                        format!("already at {target} {symbol}"),
                    ));
                }
                let side = if difference > Decimal::ZERO {
                    Side::Buy
                } else {
                    Side::Sell
                };
                (side, difference.abs())
            }
            SignalAction::Unspecified => return Err(Stop::Fail("the signal has no action".into())),
        };
        let quantity = round_quantity(quantity, &rules);
        if quantity.is_zero()
            || quantity < rules.min_quantity
            || quantity * price < rules.min_notional
        {
            return Err(Stop::Skip(
                SkipReason::BelowMinNotional,
                format!(
                    "{quantity} {symbol} at {price} is below the minimum (quantity {}, notional {})",
                    rules.min_quantity, rules.min_notional
                ),
            ));
        }
        let limit_price = (compiled.order.order_type == OrderType::Limit).then(|| {
            let offset = price * compiled.order.limit_offset_bps / BPS;
            let raw = if side == Side::Buy {
                price + offset
            } else {
                price - offset
            };
            round_price(raw, side, &rules)
        });
        Ok(Plan {
            symbol,
            side,
            quantity,
            price,
            limit_price,
            position,
        })
    }

    fn check_risk(&self, compiled: &Compiled, plan: &Plan) -> Result<(), Stop> {
        let risk = &compiled.risk;
        let pipeline = &compiled.pipeline;
        let reject = |rule: RiskRule, detail: String| {
            self.metrics.risk_rejected(&pipeline.name, rule.as_str());
            Stop::Skip(
                SkipReason::RiskRejected,
                format!("{}: {detail}", rule.as_str()),
            )
        };
        if !risk.allowed_sides.is_empty() && !risk.allowed_sides.contains(&plan.side) {
            return Err(reject(
                RiskRule::AllowedSides,
                format!("{} orders are not allowed", side_word(plan.side)),
            ));
        }
        let notional = plan.quantity * plan.limit_price.unwrap_or(plan.price);
        if let Some(max) = risk.max_order_notional
            && notional > max
        {
            return Err(reject(
                RiskRule::MaxOrderNotional,
                format!("{notional} is above {max}"),
            ));
        }
        if let Some(max) = risk.max_position {
            let signed = if plan.side == Side::Sell {
                -plan.quantity
            } else {
                plan.quantity
            };
            let after = plan.position.quantity + signed;
            if after.abs() > max && after.abs() > plan.position.quantity.abs() {
                return Err(reject(
                    RiskRule::MaxPosition,
                    format!("the position would be {after}, beyond {max}"),
                ));
            }
        }
        let now = now_ms();
        let Ok(mut book) = self.book.lock() else {
            return Err(Stop::Fail("risk book unavailable".into()));
        };
        if risk.max_orders_per_minute > 0 {
            let recent = book.orders_in_last_minute(&pipeline.id, now);
            if recent >= risk.max_orders_per_minute as usize {
                return Err(reject(
                    RiskRule::MaxOrdersPerMinute,
                    format!("{recent} orders in the last minute"),
                ));
            }
        }
        if let Some(limit) = risk.daily_loss_limit {
            let today = now.div_euclid(DAY_MS);
            let realized: Decimal = book
                .positions
                .iter()
                .filter(|((p, _), position)| *p == pipeline.id && position.day == today)
                .map(|(_, position)| position.realized)
                .sum();
            if realized <= -limit {
                return Err(reject(
                    RiskRule::DailyLossLimit,
                    format!("realised {realized} today, limit {limit}"),
                ));
            }
        }
        if !risk.cooldown.is_zero()
            && let Some(last) = book.last_fill_ms.get(&pipeline.id)
        {
            let since = now - last;
            let cooldown = i64::try_from(risk.cooldown.as_millis()).unwrap_or(i64::MAX);
            if since < cooldown {
                return Err(Stop::Skip(
                    SkipReason::Cooldown,
                    format!("last fill {since} ms ago"),
                ));
            }
        }
        Ok(())
    }

    async fn order(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        plan: &Plan,
        trace_id: &str,
    ) -> Result<Order, Stop> {
        let request = PlaceOrderRequest {
            request_id: order_request_id(execution),
            exchange: compiled.pipeline.exchange.clone(),
            symbol: plan.symbol.clone(),
            side: plan.side as i32,
            r#type: compiled.order.order_type as i32,
            quantity: plan.quantity.normalize().to_string(),
            price: plan
                .limit_price
                .map(|p| p.normalize().to_string())
                .unwrap_or_default(),
            time_in_force: compiled.order.time_in_force as i32,
            reference_price: plan.price.normalize().to_string(),
            ..Default::default()
        };
        self.desk
            .place_for(
                request,
                Some((&execution.id, &execution.signal_id)),
                pipeline_audit(compiled, trace_id),
            )
            .await
            .map_err(Stop::from)
    }

    /// Places the stop-loss and take-profit of a filled entry.
    async fn protect(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        entry: &Order,
        trace_id: &str,
    ) -> Option<Result<Vec<String>, Stop>> {
        let levels = [
            ("stop_loss", compiled.order.stop_loss),
            ("take_profit", compiled.order.take_profit),
        ];
        if levels.iter().all(|(_, l)| l.is_none()) {
            return None;
        }
        let Ok(filled) = parse_decimal(&entry.average_fill_price) else {
            return Some(Err(Stop::Fail("the entry has no fill price".into())));
        };
        let entry_side = Side::try_from(entry.side).unwrap_or(Side::Buy);
        let symbol = entry
            .instrument
            .as_ref()
            .map(|i| i.symbol.clone())
            .unwrap_or_default();
        let exit_side = if entry_side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
        let mut ids = Vec::new();
        for (name, level) in levels {
            let Some(level) = level else { continue };
            // A stop sits on the losing side of the entry, a target on the
            // winning side.
            let losing = name == "stop_loss";
            let price = match level {
                Level::Price(price) => price,
                Level::OffsetBps(bps) => {
                    let offset = filled * bps / BPS;
                    let below = (entry_side == Side::Buy) == losing;
                    if below {
                        filled - offset
                    } else {
                        filled + offset
                    }
                }
            };
            let (order_type, price_field, stop_field) = if losing {
                (
                    OrderType::Stop,
                    String::new(),
                    price.normalize().to_string(),
                )
            } else {
                (
                    OrderType::Limit,
                    price.normalize().to_string(),
                    String::new(),
                )
            };
            let request = PlaceOrderRequest {
                request_id: format!("{}:{name}", order_request_id(execution)),
                exchange: compiled.pipeline.exchange.clone(),
                symbol: symbol.clone(),
                side: exit_side as i32,
                r#type: order_type as i32,
                quantity: entry.filled_quantity.clone(),
                price: price_field,
                stop_price: stop_field,
                ..Default::default()
            };
            match self
                .desk
                .place_for(
                    request,
                    Some((&execution.id, &execution.signal_id)),
                    pipeline_audit(compiled, trace_id),
                )
                .await
            {
                Ok(order) => ids.push(order.id),
                Err(err) => return Some(Err(Stop::Fail(format!("{name}: {err}")))),
            }
        }
        Some(Ok(ids))
    }
}

/// The request id of an execution's order: the same on every attempt, so
/// the order desk places it once.
fn order_request_id(execution: &Execution) -> String {
    format!("execution:{}", execution.id)
}

/// Orders a pipeline places are audited as its own, in the trace of the
/// call that started the execution.
fn pipeline_audit(compiled: &Compiled, trace_id: &str) -> AuditEntry {
    AuditEntry {
        actor: format!("pipeline:{}", compiled.pipeline.name),
        trace_id: trace_id.to_string(),
        ..Default::default()
    }
}

/// Appends a step with its outcome and duration.
fn record(
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
        duration: prost_types::Duration::try_from(started.elapsed()).ok(),
    });
}

fn side_word(side: Side) -> &'static str {
    if side == Side::Sell { "sell" } else { "buy" }
}

fn status_word(status: i32) -> String {
    OrderStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("ORDER_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn positions_average_in_and_realise_out() {
        let mut p = Position::default();
        p.apply(Side::Buy, d("1"), d("100"), 0);
        p.apply(Side::Buy, d("1"), d("200"), 0);
        assert_eq!((p.quantity, p.average_cost), (d("2"), d("150")));
        p.apply(Side::Sell, d("0.5"), d("110"), 0);
        assert_eq!(p.realized, d("-20"));
        assert_eq!(p.quantity, d("1.5"));
        p.apply(Side::Sell, d("2.5"), d("100"), 0);
        assert_eq!(p.quantity, d("-1"), "flipped short");
        assert_eq!(p.average_cost, d("100"));
        assert_eq!(p.realized, d("-95"));
        p.apply(Side::Buy, d("1"), d("90"), DAY_MS);
        assert_eq!(p.realized, d("10"), "a new day starts from zero");
        assert!(p.quantity.is_zero());
    }
}

//! The bracket keeper: what a pipeline's orders need after its execution
//! ended. A resting limit entry that fills later gets its bracket; one
//! resting longer than `cancel_after` is canceled (its partial fill
//! protected); stops move to the entry price once a take-profit executes
//! (breakeven) and follow the price (trailing stops, emulated from the
//! exchange's last price, unless the venue trails them natively); a
//! take-profit that executed in part resizes its bracket (see
//! `resize.rs`). Every order it places has a request id derived from the
//! order it follows, so a repeat (a restart, a second event) never places
//! twice.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use rust_decimal::Decimal;
use tokio::sync::{broadcast::error::RecvError, watch};

use super::{Pipelines, protect::Protected, spec::Compiled, worker::pipeline_audit};
use crate::{
    audit::AuditEntry,
    duty::Duty,
    market::side::Side,
    model::{
        execution::{Execution, ExecutionStatus},
        order::{Order, OrderRequest, OrderRole, OrderStatus},
    },
    orders::desk::{Leg, client_order_id},
    proto_time::now_ms,
    store::OrderQuery,
};

/// How often resting orders are checked for cancel-after and trailing.
const TICK: Duration = Duration::from_millis(500);
/// A trailing stop moves once the price gained a tenth of its distance:
/// fewer replacements, a stop at most 10 % of the distance behind.
const TRAIL_STEP: Decimal = Decimal::from_parts(1, 0, 0, false, 1);

impl Pipelines {
    /// Keeps brackets until `stopped`: reacts to this replica's order
    /// changes and ended executions; while it is on `duty`, checks resting
    /// orders every [`TICK`] and reconciles positions with their venues
    /// every `reconcile_every`.
    pub async fn keep_brackets(
        self: Arc<Self>,
        reconcile_every: Duration,
        duty: Duty,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut changes = self.desk.subscribe();
        let mut executions = self.subscribe();
        self.catch_up().await;
        let mut tick = tokio::time::interval(TICK);
        let mut reconcile = tokio::time::interval(reconcile_every);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(order) => self.order_changed(&order).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "the bracket keeper missed order changes; catching up");
                        self.catch_up().await;
                    }
                    Err(RecvError::Closed) => return,
                },
                ended = executions.recv() => match ended {
                    Ok(execution) => self.execution_ended(&execution).await,
                    Err(RecvError::Lagged(_)) => self.catch_up().await,
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => match self.desk.refresh_view().await {
                    Ok(view) if duty.is_on() => self.check_resting(&view.open).await,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the positions and open orders; next tick");
                    }
                },
                _ = reconcile.tick() => if duty.is_on() {
                    self.reconcile_positions().await;
                    self.check_coverage().await;
                },
                _ = stopped.changed() => return,
            }
        }
    }

    /// What missed order changes (the last run's end, a lagging feed) may
    /// have left undone, read from the open orders only: a stop whose
    /// bracket had a take-profit execute moves to breakeven. An entry that
    /// filled unseen is left to coverage; a take-profit that executed in
    /// part unseen is resized by the first tick (`check_resting`).
    async fn catch_up(&self) {
        let snapshot = self.snapshot();
        let brackets: BTreeSet<(String, String, String)> = self
            .resting_stops(|o| !o.origin.bracket_id.is_empty())
            .await
            .into_iter()
            .filter(|o| {
                snapshot
                    .get(&o.origin.pipeline_id)
                    .is_some_and(|c| c.order.breakeven)
            })
            .map(|o| {
                (
                    o.origin.pipeline_id,
                    o.origin.execution_id,
                    o.origin.bracket_id,
                )
            })
            .collect();
        for (pipeline_id, execution_id, bracket_id) in brackets {
            let query = OrderQuery {
                execution_id: Some(execution_id),
                limit: 1000,
                ..Default::default()
            };
            let Ok(orders) = self.store.list_orders(&query).await else {
                continue;
            };
            let target_traded = orders.iter().any(|o| {
                o.origin.role == Some(OrderRole::TakeProfit)
                    && o.origin.bracket_id == bracket_id
                    && !o.filled_quantity.is_zero()
            });
            if target_traded && let Some(compiled) = snapshot.get(&pipeline_id) {
                self.move_to_breakeven(compiled, &bracket_id).await;
            }
        }
    }

    async fn order_changed(&self, order: &Order) {
        let Some(compiled) = self.snapshot().get(&order.origin.pipeline_id).cloned() else {
            return;
        };
        let traded = !order.filled_quantity.is_zero();
        match order.origin.role {
            Some(OrderRole::Entry) if traded && !order.status.is_open() => {
                self.protect_later(&compiled, order).await
            }
            Some(OrderRole::TakeProfit) if traded => {
                self.resize_after_partial_target(&compiled, order).await;
                if compiled.order.breakeven {
                    self.move_to_breakeven(&compiled, &order.origin.bracket_id)
                        .await
                }
            }
            _ => {}
        }
    }

    /// An entry that filled while its execution ran but after the order
    /// step saw it is bracketed once the execution ends.
    async fn execution_ended(&self, execution: &Execution) {
        if execution.status != ExecutionStatus::Succeeded {
            return;
        }
        if let Some(entry_id) = execution.order_ids.first()
            && let Ok(entry) = self.desk.get(entry_id).await
        {
            self.order_changed(&entry).await;
        }
    }

    /// Brackets an entry that filled after its execution ended, for what
    /// of it the pipeline still holds. While the execution runs, its own
    /// protect step does it.
    async fn protect_later(&self, compiled: &Compiled, entry: &Order) {
        let held = match self.held(compiled, entry.symbol()).await {
            Ok(position) => position.quantity,
            Err(err) => {
                tracing::warn!(order = %entry.id, error = %err, "cannot read the position to bracket a late fill; the coverage check will");
                return;
            }
        };
        let same_way = (entry.side == Side::Buy) == held.is_sign_positive();
        if held.is_zero() || !same_way {
            return;
        }
        let execution = match self.store.get_execution(&entry.origin.execution_id).await {
            Ok(Some(execution))
                if !matches!(
                    execution.status,
                    ExecutionStatus::Pending | ExecutionStatus::Running
                ) =>
            {
                execution
            }
            Ok(Some(_)) => return,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, entry = %entry.id, "cannot read the entry's execution");
                return;
            }
        };
        let protected = Protected {
            entry,
            quantity: entry.base_moved().min(held.abs()),
        };
        let compiled = &self.as_signal_runs(compiled, &execution.signal_id).await;
        if let Some(Err(stop)) = self.protect(compiled, &execution, protected, "").await {
            tracing::warn!(entry = %entry.id, error = ?stop.describe(), "late bracket not placed");
        }
    }

    /// Moves every resting stop of the bracket of `entry_id` to the
    /// entry's average fill price, where that is better than where it is.
    pub(super) async fn move_to_breakeven(&self, compiled: &Compiled, entry_id: &str) {
        let Ok(entry) = self.desk.get(entry_id).await else {
            return;
        };
        let Some(entry_price) = entry.average_fill_price else {
            return;
        };
        for stop in self
            .resting_stops(|o| o.origin.bracket_id == entry_id)
            .await
        {
            self.move_stop(compiled, &stop, entry_price, "breakeven")
                .await;
        }
    }

    /// Cancel-after for resting entries; trailing stops follow the price;
    /// a take-profit that executed in part gets its bracket resized once
    /// the price allows it.
    async fn check_resting(&self, open: &[Order]) {
        let now = now_ms();
        let snapshot = self.snapshot();
        for order in open {
            let Some(compiled) = snapshot.get(&order.origin.pipeline_id) else {
                continue;
            };
            match order.origin.role {
                Some(OrderRole::Entry) => {
                    let Some(after) = compiled.order.cancel_after else {
                        continue;
                    };
                    let after_ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
                    if now.saturating_sub(order.create_time_ms) >= after_ms {
                        self.cancel_stale_entry(compiled, order, after).await;
                    }
                }
                Some(OrderRole::StopLoss) => self.trail(compiled, order).await,
                Some(OrderRole::TakeProfit) if order.status == OrderStatus::PartiallyFilled => {
                    self.resize_after_partial_target(compiled, order).await
                }
                _ => {}
            }
        }
    }

    async fn cancel_stale_entry(&self, compiled: &Compiled, order: &Order, after: Duration) {
        let audit = AuditEntry {
            detail: format!("not filled within cancel_after {after:?}"),
            ..pipeline_audit(compiled, "")
        };
        if let Err(err) = self.desk.cancel(&order.id, audit).await {
            tracing::warn!(order = %order.id, error = %err, "cancel-after failed; trying again");
        }
    }

    /// Moves a trailing stop behind the exchange's last price, once the
    /// price gained [`TRAIL_STEP`] of the distance on it.
    async fn trail(&self, compiled: &Compiled, stop: &Order) {
        // A stop with a trailing delta is trailed by its venue.
        if stop.trailing_delta_bips.is_some() {
            return;
        }
        let (Some(trail), Some(current)) = (compiled.order.trailing_stop, stop.stop_price) else {
            return;
        };
        let Ok(exchange) = self.desk.exchange(&stop.exchange, &stop.account) else {
            return;
        };
        let Ok(Some(price)) = exchange.last_price(stop.symbol()).await else {
            return;
        };
        let distance = trail.distance(price);
        let wanted = match stop.side {
            Side::Sell => price - distance,
            Side::Buy => price + distance,
        };
        if gain(stop.side, current, wanted) >= distance * TRAIL_STEP
            && self.may_trail(&stop.origin.signal_id).await
        {
            self.move_stop(compiled, stop, wanted, "trail").await;
        }
    }

    /// The stop's open orders `which` selects.
    /// The orders of `order`'s OCO group, open or ended, as stored
    /// (none when it has no group or the store cannot be read).
    pub(super) async fn oco_group_of(&self, order: &Order) -> Vec<Order> {
        if order.origin.oco_group.is_empty() {
            return Vec::new();
        }
        let query = OrderQuery {
            execution_id: Some(order.origin.execution_id.clone()),
            limit: 1000,
            ..Default::default()
        };
        match self.store.list_orders(&query).await {
            Ok(orders) => orders
                .into_iter()
                .filter(|o| o.origin.oco_group == order.origin.oco_group)
                .collect(),
            Err(err) => {
                tracing::warn!(order = %order.id, error = %err, "cannot read the order's OCO group");
                Vec::new()
            }
        }
    }

    async fn resting_stops(&self, which: impl Fn(&Order) -> bool) -> Vec<Order> {
        match self.desk.open_orders().await {
            Ok(open) => open
                .into_iter()
                .filter(|o| o.origin.role == Some(OrderRole::StopLoss) && which(o))
                .collect(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the resting stops");
                Vec::new()
            }
        }
    }

    /// Replaces `stop` (and the take-profit of its OCO group) by a stop at
    /// `to`, when that protects more than where it is.
    async fn move_stop(&self, compiled: &Compiled, stop: &Order, to: Decimal, why: &str) {
        let Some(current) = stop.stop_price else {
            return;
        };
        if gain(stop.side, current, to) <= Decimal::ZERO {
            return;
        }
        let partners: Vec<Order> = self
            .oco_group_of(stop)
            .await
            .into_iter()
            .filter(|o| o.id != stop.id)
            .collect();
        // A group whose take-profit traded is closed (all of it traded) or
        // resized (part of it), and its stop with it: moving the stop now
        // would size it for what was sold.
        if partners.iter().any(|o| !o.filled_quantity.is_zero()) {
            return;
        }
        let target = partners.into_iter().find(|o| o.status.is_open());
        let request_id = format!("{}:{why}", stop.id);
        let group = target
            .as_ref()
            .map(|_| client_order_id(&format!("{request_id}:group")))
            .unwrap_or_default();
        let mut legs = vec![follow(stop, &request_id, &group, Some(to))];
        if let Some(target) = &target {
            legs.push(follow(
                target,
                &format!("{}:{why}", target.id),
                &group,
                None,
            ));
        }
        let audit = AuditEntry {
            detail: format!("stop {} moved from {current} to {to} ({why})", stop.id),
            ..pipeline_audit(compiled, "")
        };
        if let Err(err) = self.desk.replace(&stop.id, legs, audit).await {
            tracing::warn!(stop = %stop.id, error = %err, why, "stop not moved");
        }
    }
}

/// How much more a stop at `to` protects than one at `from`: up for a
/// sell stop (under a long), down for a buy stop.
fn gain(side: Side, from: Decimal, to: Decimal) -> Decimal {
    match side {
        Side::Sell => to - from,
        Side::Buy => from - to,
    }
}

/// A leg like `order` for what is left of it, in OCO `group`, with its
/// stop at `stop_price` when given.
pub(super) fn follow(
    order: &Order,
    request_id: &str,
    group: &str,
    stop_price: Option<Decimal>,
) -> Leg {
    let request = OrderRequest {
        request_id: request_id.to_string(),
        exchange: order.exchange.clone(),
        account: order.account.clone(),
        symbol: order.symbol().to_string(),
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        quantity: order.quantity - order.filled_quantity,
        price: order.price,
        stop_price: stop_price.or(order.stop_price),
        reference_price: None,
        trailing_delta_bips: order.trailing_delta_bips,
        reduce_only: order.reduce_only,
        attachment: None,
    };
    let mut origin = order.origin.clone();
    origin.oco_group = group.to_string();
    (request, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_gains_toward_the_price_only() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(gain(Side::Sell, d("95"), d("98")), d("3"));
        assert_eq!(gain(Side::Sell, d("95"), d("90")), d("-5"));
        assert_eq!(gain(Side::Buy, d("105"), d("101")), d("4"));
    }
}

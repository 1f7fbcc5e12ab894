//! Coverage, the keeper's safety net: once a pipeline's fills in a symbol
//! have settled, a position it protects is covered by resting stops for
//! all of it (a partial exit canceled its bracket, a venue expired a stop
//! after a partial take-profit, a restart cut a bracket short), and a
//! flat pipeline leaves no protective order resting.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::{
    Pipelines,
    sizing::BPS,
    spec::{Compiled, Level},
    worker::pipeline_audit,
};
use crate::{
    audit::AuditEntry,
    market::{position::Position, side::Side, symbol::is_perpetual},
    model::order::{Order, OrderOrigin, OrderRequest, OrderRole, OrderType, TimeInForce},
    orders::error::{InvalidReason, PlaceError},
    proto_time::now_ms,
};

/// How long after a pipeline's last fill in a symbol coverage waits: the
/// execution's own protect step, or the keeper's late bracket, comes first.
const SETTLE_MS: i64 = 10_000;

/// Positions no resting stop covers after coverage tried: (pipeline id,
/// symbol).
pub(super) type Uncovered = BTreeSet<(String, String)>;

impl Pipelines {
    /// The positions the last coverage check could not protect.
    pub(super) fn uncovered_positions(&self) -> Uncovered {
        self.uncovered
            .lock()
            .map(|uncovered| uncovered.clone())
            .unwrap_or_default()
    }

    /// Covers every settled position of a pipeline with a stop, and
    /// cancels the protective orders of every settled flat one.
    pub(super) async fn check_coverage(&self) {
        let now = now_ms();
        let snapshot = self.snapshot();
        let (open, positions) = match (self.desk.open_orders().await, self.desk.positions().await) {
            (Ok(open), Ok(positions)) => (open, positions),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, "cannot read the positions and open orders to check coverage; next round");
                return;
            }
        };
        let mut uncovered_now = Uncovered::new();
        for (pipeline_id, symbol, position) in positions {
            let Some(compiled) = snapshot.get(&pipeline_id) else {
                continue;
            };
            let mine: Vec<&Order> = open
                .iter()
                .filter(|o| o.origin.pipeline_id == pipeline_id && o.symbol() == symbol)
                .collect();
            let in_flight = mine.iter().any(|o| {
                !matches!(
                    o.origin.role,
                    Some(OrderRole::StopLoss | OrderRole::TakeProfit)
                )
            });
            if in_flight || now.saturating_sub(position.last_fill_ms) < SETTLE_MS {
                continue;
            }
            let position = match self.held(compiled, &symbol).await {
                Ok(position) => position,
                Err(err) => {
                    tracing::warn!(pipeline = %compiled.name, error = %err, "cannot read the position to cover; next round");
                    continue;
                }
            };
            if position.quantity.is_zero() {
                for orphan in mine {
                    self.cancel_orphan(compiled, orphan).await;
                }
                continue;
            }
            let covered: Decimal = mine
                .iter()
                .filter(|o| o.origin.role == Some(OrderRole::StopLoss))
                .map(|o| o.quantity - o.filled_quantity)
                .sum();
            let uncovered = position.quantity.abs() - covered;
            if uncovered > Decimal::ZERO
                && !self.cover(compiled, &symbol, &position, uncovered).await
            {
                uncovered_now.insert((pipeline_id, symbol));
            }
        }
        if let Ok(mut uncovered) = self.uncovered.lock() {
            *uncovered = uncovered_now;
        }
    }

    async fn cancel_orphan(&self, compiled: &Compiled, orphan: &Order) {
        let audit = AuditEntry {
            detail: "the pipeline holds no position for it to protect".into(),
            ..pipeline_audit(compiled, "")
        };
        if let Err(err) = self.desk.cancel(&orphan.id, audit).await {
            tracing::warn!(order = %orphan.id, error = %err, "orphan protective order not canceled");
        }
    }

    /// Places a stop for `quantity` of the position, at the pipeline's
    /// stop level from its average cost. Returns whether the position is
    /// covered now (or needs no stop: dust, or no stop settings).
    async fn cover(
        &self,
        compiled: &Compiled,
        symbol: &str,
        position: &Position,
        quantity: Decimal,
    ) -> bool {
        let cost = position.average_cost;
        let long = position.quantity > Decimal::ZERO;
        let distance = match (compiled.order.stop_loss, compiled.order.trailing_stop) {
            (Some(Level::Price(price)), _) => (cost - price).abs(),
            (Some(Level::OffsetBps(bps)), _) => cost * bps / BPS,
            (None, Some(trail)) => trail.distance(cost),
            (None, None) => return true,
        };
        let stop_price = if long {
            cost - distance
        } else {
            cost + distance
        };
        let request = OrderRequest {
            // The same position state always asks for the same stop.
            request_id: format!(
                "cover:{}:{symbol}:{}:{quantity}",
                compiled.id, position.last_fill_ms
            ),
            exchange: compiled.exchange.clone(),
            account: compiled.account.clone(),
            symbol: symbol.to_string(),
            side: if long { Side::Sell } else { Side::Buy },
            order_type: OrderType::Stop,
            time_in_force: TimeInForce::Gtc,
            quantity,
            price: None,
            stop_price: Some(stop_price),
            reference_price: None,
            // The keeper trails this stop (emulated), whatever the venue.
            trailing_delta_bips: None,
            reduce_only: is_perpetual(symbol),
            attachment: None,
        };
        let origin = OrderOrigin {
            pipeline_id: compiled.id.clone(),
            role: Some(OrderRole::StopLoss),
            ..Default::default()
        };
        let audit = AuditEntry {
            detail: format!("{quantity} {symbol} of the position had no stop"),
            ..pipeline_audit(compiled, "")
        };
        match self.desk.place_for(request, origin, audit).await {
            Ok(stop) => {
                tracing::info!(pipeline = %compiled.name, stop = %stop.id, "covered a position with no stop");
                true
            }
            // Dust under the lot cannot be covered.
            Err(PlaceError::Invalid {
                reason: InvalidReason::QuantityBelowLot,
                ..
            }) => true,
            Err(err) => {
                tracing::warn!(pipeline = %compiled.name, error = %err, "position not covered");
                false
            }
        }
    }
}

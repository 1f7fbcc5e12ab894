//! The order life cycle: status transitions, applying what an exchange
//! reports, and reading stored orders' statuses.

use rust_decimal::Decimal;
use tradeplane_api::{Fill, Order, OrderStatus, OrderTransition, ProtoEnum, UnknownEnum};

use super::ticket::ticket_of;
use crate::{
    market::decimal::parse_decimal,
    orders::exchanges::{ExchangeFill, ExchangeOrder},
    proto_time::ms_to_timestamp,
};

/// Records a status change (once per status).
pub(super) fn transition(order: &mut Order, status: OrderStatus, note: &str, now: i64) {
    if order.status == status as i32 && !order.transitions.is_empty() {
        return;
    }
    order.status = status as i32;
    order.update_time = Some(ms_to_timestamp(now));
    order.transitions.push(OrderTransition {
        status: status as i32,
        time: Some(ms_to_timestamp(now)),
        note: note.to_string(),
    });
}

/// Brings an order up to what the exchange reports.
pub(super) fn apply(order: &mut Order, view: &ExchangeOrder, now: i64) {
    if !view.exchange_order_id.is_empty() {
        order.exchange_order_id = view.exchange_order_id.clone();
    }
    if status_of(order) == Ok(OrderStatus::New) && view.status != OrderStatus::Rejected {
        transition(order, OrderStatus::Submitted, "", now);
    }
    let known = order.fills.len();
    for fill in view.fills.iter().skip(known) {
        order.fills.push(Fill {
            trade_id: fill.trade_id.clone(),
            quantity: fill.quantity.normalize().to_string(),
            price: fill.price.normalize().to_string(),
            fee: fill.fee.normalize().to_string(),
            fee_asset: fill.fee_asset.clone(),
            time: Some(ms_to_timestamp(if fill.time_ms > 0 {
                fill.time_ms
            } else {
                now
            })),
        });
    }
    let (filled, notional, fees) = view.fills.iter().fold(
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
        |(q, n, f), fill| {
            (
                q + fill.quantity,
                n + fill.quantity * fill.price,
                f + fill.fee,
            )
        },
    );
    order.filled_quantity = filled.normalize().to_string();
    if !filled.is_zero() {
        order.average_fill_price = (notional / filled).round_dp(12).normalize().to_string();
        order.fee_total = fees.normalize().to_string();
        order.fee_asset = view
            .fills
            .last()
            .map(|f| f.fee_asset.clone())
            .unwrap_or_default();
    }
    if !view.reason.is_empty() {
        order.status_reason = view.reason.clone();
    }
    transition(order, view.status, &view.reason, now);
}

/// A stored order as its exchange reported it.
pub(super) fn exchange_view(order: &Order) -> Result<ExchangeOrder, UnknownEnum> {
    let decimal = |text: &str| parse_decimal(text).unwrap_or_default();
    Ok(ExchangeOrder {
        exchange_order_id: order.exchange_order_id.clone(),
        status: status_of(order)?,
        fills: order
            .fills
            .iter()
            .map(|f| ExchangeFill {
                trade_id: f.trade_id.clone(),
                quantity: decimal(&f.quantity),
                price: decimal(&f.price),
                fee: decimal(&f.fee),
                fee_asset: f.fee_asset.clone(),
                time_ms: f
                    .time
                    .as_ref()
                    .map(crate::proto_time::timestamp_ms)
                    .unwrap_or_default(),
            })
            .collect(),
        reason: order.status_reason.clone(),
    })
}

pub(super) fn symbol_of(order: &Order) -> String {
    order
        .instrument
        .as_ref()
        .map(|i| i.symbol.clone())
        .unwrap_or_default()
}

/// An order's status; a number no status has is an error, not a guess.
pub(super) fn status_of(order: &Order) -> Result<OrderStatus, UnknownEnum> {
    OrderStatus::known(order.status, "status")
}

/// The stored orders the desk can read: one with an enum number no value
/// has is logged and left out, never read as a guessed value.
pub(super) fn readable(orders: Vec<Order>) -> Vec<Order> {
    orders
        .into_iter()
        .filter(|order| match ticket_of(order).and(status_of(order)) {
            Ok(_) => true,
            Err(err) => {
                tracing::error!(order = %order.id, error = %err, "stored order is unreadable; left out");
                false
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use tradeplane_api::{OrderType, Side, TimeInForce};

    use super::*;

    fn stored(id: &str) -> Order {
        Order {
            id: id.into(),
            side: Side::Buy as i32,
            r#type: OrderType::Market as i32,
            time_in_force: TimeInForce::Gtc as i32,
            status: OrderStatus::Filled as i32,
            ..Default::default()
        }
    }

    #[test]
    fn stored_orders_with_unknown_enum_numbers_are_left_out_not_guessed() {
        let mut bad_status = stored("status");
        bad_status.status = 999;
        let mut bad_side = stored("side");
        bad_side.side = 999;
        assert_eq!(
            status_of(&bad_status),
            Err(UnknownEnum {
                field: "status",
                number: 999
            })
        );
        assert!(ticket_of(&bad_side).is_err());
        assert!(exchange_view(&bad_status).is_err());
        let kept = readable(vec![stored("good"), bad_status, bad_side]);
        let ids: Vec<_> = kept.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["good"]);
    }
}

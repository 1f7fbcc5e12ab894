//! The order life cycle: status transitions, applying what an exchange
//! reports, and the words orders are described with.

use rust_decimal::Decimal;
use tradeplane_api::{Fill, Order, OrderStatus, OrderTransition, Side};

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
    if status_of(order) == OrderStatus::New && view.status != OrderStatus::Rejected {
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
pub(super) fn exchange_view(order: &Order) -> ExchangeOrder {
    let decimal = |text: &str| parse_decimal(text).unwrap_or_default();
    ExchangeOrder {
        exchange_order_id: order.exchange_order_id.clone(),
        status: status_of(order),
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
    }
}

pub(super) fn symbol_of(order: &Order) -> String {
    order
        .instrument
        .as_ref()
        .map(|i| i.symbol.clone())
        .unwrap_or_default()
}

pub(super) fn status_of(order: &Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified)
}

pub(super) fn status_word(status: OrderStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("ORDER_STATUS_")
        .to_lowercase()
}

pub(super) fn side_word(side: Side) -> &'static str {
    if side == Side::Buy { "buy" } else { "sell" }
}

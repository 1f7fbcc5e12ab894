//! The futures mock's book: orders checked the way Binance checks them
//! (filters, initial margin, reduce-only), fills that move positions and
//! realize P&L, and triggers at the mark price.

use std::{collections::HashMap, str::FromStr};

use rust_decimal::Decimal;

use crate::{mock_binance::error, mock_venue::Answer};

use super::{COMMISSION, FuturesOrder, Position, State, Trade};

/// Leverage before the account sets one.
const DEFAULT_LEVERAGE: u32 = 20;

/// Whether an order can still execute.
pub(super) fn is_open(status: &str) -> bool {
    matches!(status, "NEW" | "PARTIALLY_FILLED")
}

/// The leverage and whether the margin is isolated, for `symbol`.
pub(super) fn margin_settings(s: &State, symbol: &str) -> (u32, bool) {
    (
        s.leverage.get(symbol).copied().unwrap_or(DEFAULT_LEVERAGE),
        s.isolated.get(symbol).copied().unwrap_or(false),
    )
}

/// A decimal parameter, if sent and readable.
pub(super) fn decimal_param(p: &HashMap<String, String>, name: &str) -> Option<Decimal> {
    p.get(name).and_then(|v| Decimal::from_str(v).ok())
}

fn sign(side: &str) -> Decimal {
    if side == "BUY" {
        Decimal::ONE
    } else {
        Decimal::NEGATIVE_ONE
    }
}

/// -1, 0 or 1, as `amount` is short, flat or long.
fn direction(amount: Decimal) -> Decimal {
    if amount.is_zero() {
        Decimal::ZERO
    } else if amount.is_sign_negative() {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    }
}

fn position_key(order: &FuturesOrder) -> (String, String) {
    (order.symbol.clone(), order.position_side.clone())
}

/// Binance's checks of a new order against the market at `mark`: the
/// filters, reduce-only, and the initial margin an increase needs.
pub(super) fn check(s: &State, order: &FuturesOrder, mark: Decimal) -> Result<(), Answer> {
    let step = Decimal::new(1, 5);
    if !order.close_position && (!(order.quantity % step).is_zero() || order.quantity < step) {
        return Err(error(
            400,
            -1111,
            "Precision is over the maximum defined for this asset.",
        ));
    }
    let off_tick = |p: &Option<Decimal>| p.is_some_and(|p| !(p % Decimal::new(1, 2)).is_zero());
    if off_tick(&order.price) || off_tick(&order.stop_price) {
        return Err(error(400, -4014, "Price not increased by tick size."));
    }
    let priced_at = order.price.or(order.stop_price).unwrap_or(mark);
    if !order.close_position && !order.reduce_only && order.quantity * priced_at < Decimal::from(5)
    {
        return Err(error(
            400,
            -4164,
            "Order's notional must be no smaller than 5 (unless you choose reduce only).",
        ));
    }
    let held = s
        .positions
        .get(&position_key(order))
        .copied()
        .unwrap_or_default();
    let reduces = held.amount * sign(&order.side) < Decimal::ZERO;
    if (order.reduce_only || order.close_position) && !reduces {
        return Err(error(400, -2022, "ReduceOnly Order is rejected."));
    }
    if !reduces {
        let (leverage, _) = margin_settings(s, &order.symbol);
        let needed = order.quantity * priced_at / Decimal::from(leverage);
        if needed > available(s) {
            return Err(error(400, -2019, "Margin is insufficient."));
        }
    }
    Ok(())
}

/// What the wallet has beyond the margin its positions hold.
pub(super) fn available(s: &State) -> Decimal {
    let used: Decimal = s
        .positions
        .iter()
        .map(|((symbol, _), p)| {
            let (leverage, _) = margin_settings(s, symbol);
            p.amount.abs() * p.entry_price / Decimal::from(leverage)
        })
        .sum();
    s.wallet - used
}

/// Fills the rest of an order at `price`: the position moves, P&L on the
/// part that reduced it is realized, and the commission is paid in USDT.
/// A position left flat expires its reduce-only and close-position orders.
pub(super) fn fill(s: &mut State, index: usize, price: Decimal, time: i64) {
    let key = position_key(&s.orders[index]);
    let held = s.positions.get(&key).copied().unwrap_or_default();
    let order = &mut s.orders[index];
    if order.close_position || order.reduce_only {
        let rest = if order.close_position {
            held.amount.abs()
        } else {
            (order.quantity - order.executed).min(held.amount.abs())
        };
        order.quantity = order.executed + rest;
    }
    let qty = order.quantity - order.executed;
    let signed = qty * sign(&order.side);
    let closing = if held.amount * signed < Decimal::ZERO {
        qty.min(held.amount.abs())
    } else {
        Decimal::ZERO
    };
    let realized = closing * (price - held.entry_price) * direction(held.amount);
    let amount = held.amount + signed;
    let entry_price = if amount.is_zero() {
        Decimal::ZERO
    } else if direction(amount) != direction(held.amount) {
        price
    } else if closing.is_zero() {
        (held.amount.abs() * held.entry_price + qty * price) / amount.abs()
    } else {
        held.entry_price
    };
    let commission = qty * price * COMMISSION;
    order.average_price = if order.executed.is_zero() {
        price
    } else {
        (order.average_price * order.executed + price * qty) / (order.executed + qty)
    };
    order.executed += qty;
    order.status = "FILLED";
    let trade = Trade {
        id: s.next_id,
        order_id: order.order_id,
        price,
        qty,
        commission,
        realized_pnl: realized,
        side: order.side.clone(),
        time,
    };
    s.next_id += 1;
    s.trades.push(trade);
    s.wallet += realized - commission;
    s.positions.insert(
        key.clone(),
        Position {
            amount,
            entry_price,
        },
    );
    if amount.is_zero() {
        for o in s.orders.iter_mut() {
            if position_key(o) == key && is_open(o.status) && (o.reduce_only || o.close_position) {
                o.status = "EXPIRED";
            }
        }
    }
}

/// Moves the mark of `symbol`: limits it crosses fill at their limit,
/// stops it reaches fill at the mark.
pub(super) fn move_mark(s: &mut State, symbol: &str, mark: Decimal) {
    s.marks.insert(symbol.to_string(), mark);
    let time = super::routes::now_ms() + s.clock_offset_ms;
    for index in 0..s.orders.len() {
        let order = &mut s.orders[index];
        if order.symbol != symbol || !is_open(order.status) {
            continue;
        }
        super::trailing::follow(order, mark);
        if let Some(at) = execution_price(order, mark) {
            fill(s, index, at, time);
        }
    }
}

/// The price an open order executes at with the mark at `mark`, if it
/// executes now.
pub(super) fn execution_price(order: &FuturesOrder, mark: Decimal) -> Option<Decimal> {
    let selling = order.side == "SELL";
    match order.kind.as_str() {
        "MARKET" => Some(mark),
        "LIMIT" => {
            let limit = order.price?;
            let crosses = if selling {
                limit <= mark
            } else {
                limit >= mark
            };
            crosses.then_some(limit)
        }
        "STOP_MARKET" => {
            let stop = order.stop_price?;
            let hit = if selling { mark <= stop } else { mark >= stop };
            hit.then_some(mark)
        }
        "TAKE_PROFIT_MARKET" => {
            let stop = order.stop_price?;
            let hit = if selling { mark >= stop } else { mark <= stop };
            hit.then_some(mark)
        }
        "TRAILING_STOP_MARKET" => super::trailing::triggered(order, mark),
        _ => None,
    }
}

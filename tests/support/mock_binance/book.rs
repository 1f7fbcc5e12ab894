//! The mock's order book: placing orders with Binance's filters, and
//! matching them against a settable market price.

use std::{collections::HashMap, str::FromStr};

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::mock_venue::{Answer, answer};

use super::{
    COMMISSION, MockOrder, State, Trade, error, now_ms, order_list::expire_siblings, trailing,
};

/// Whether an order can still execute.
pub(super) fn is_open(status: &str) -> bool {
    matches!(status, "NEW" | "PARTIALLY_FILLED")
}

/// Whether a limit (or market) order executes at `market`.
pub(super) fn marketable(order: &MockOrder, market: Decimal) -> bool {
    match (order.side.as_str(), order.price) {
        (_, None) => true,
        ("BUY", Some(limit)) => limit >= market,
        (_, Some(limit)) => limit <= market,
    }
}

/// Fills the rest of an order at `price`, with Binance's commission in
/// the asset received.
pub(super) fn fill(state: &mut State, index: usize, price: Decimal) {
    let rest = state.orders[index].quantity - state.orders[index].executed;
    fill_part(state, index, price, rest);
}

/// Fills `qty` of an order (at most its rest) at `price`: it is then
/// `FILLED`, or `PARTIALLY_FILLED` while some of it is left.
pub(super) fn fill_part(state: &mut State, index: usize, price: Decimal, qty: Decimal) {
    let time = now_ms() + state.clock_offset_ms;
    let id = state.next_id;
    state.next_id += 1;
    let order = &mut state.orders[index];
    let qty = qty.min(order.quantity - order.executed);
    let base = order.symbol.trim_end_matches("USDT").to_string();
    let notional = qty * price;
    let (commission, asset, gained, spent) = if order.side == "BUY" {
        let fee = qty * COMMISSION;
        (
            fee,
            base.clone(),
            (base, qty - fee),
            ("USDT".to_string(), notional),
        )
    } else {
        let fee = notional * COMMISSION;
        (
            fee,
            "USDT".into(),
            ("USDT".into(), notional - fee),
            (base, qty),
        )
    };
    order.executed += qty;
    order.quote += notional;
    order.status = if order.executed == order.quantity {
        "FILLED"
    } else {
        "PARTIALLY_FILLED"
    };
    let trade = Trade {
        id,
        order_id: order.order_id,
        price,
        qty,
        commission,
        commission_asset: asset,
        time,
    };
    *state.balances.entry(gained.0).or_default() += gained.1;
    *state.balances.entry(spent.0).or_default() -= spent.1;
    state.trades.push(trade);
}

/// An order to add to the book, once read and checked.
pub(super) struct NewOrder {
    pub(super) client_order_id: String,
    pub(super) symbol: String,
    pub(super) side: String,
    pub(super) kind: String,
    pub(super) quantity: Decimal,
    pub(super) price: Option<Decimal>,
    pub(super) stop_price: Option<Decimal>,
    pub(super) trailing_delta: Option<u32>,
    pub(super) order_list_id: i64,
}

/// A decimal parameter, if sent and readable.
pub(super) fn decimal_param(p: &HashMap<String, String>, name: &str) -> Option<Decimal> {
    p.get(name).and_then(|v| Decimal::from_str(v).ok())
}

/// Binance's refusal of a missing mandatory parameter.
pub(super) fn missing(name: &str) -> Answer {
    error(
        400,
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

/// Whether an open order already carries `client_order_id`.
pub(super) fn duplicate(s: &State, client_order_id: &str) -> bool {
    s.orders
        .iter()
        .any(|o| o.client_order_id == client_order_id && is_open(o.status))
}

/// Binance's filters (lot size, tick size, notional) and the balance an
/// order needs, priced at its limit or stop, or else the market.
pub(super) fn check(s: &State, order: &NewOrder, market: Decimal) -> Result<(), Answer> {
    let quantity = order.quantity;
    if !(quantity % Decimal::new(1, 5)).is_zero() || quantity < Decimal::new(1, 5) {
        return Err(error(400, -1013, "Filter failure: LOT_SIZE"));
    }
    let off_tick = |p: &Option<Decimal>| p.is_some_and(|p| !(p % Decimal::new(1, 2)).is_zero());
    if off_tick(&order.price) || off_tick(&order.stop_price) {
        return Err(error(400, -1013, "Filter failure: PRICE_FILTER"));
    }
    let priced_at = order.price.or(order.stop_price).unwrap_or(market);
    if quantity * priced_at < Decimal::from(5) {
        return Err(error(400, -1013, "Filter failure: NOTIONAL"));
    }
    let (asset, needed) = if order.side == "BUY" {
        ("USDT".to_string(), quantity * priced_at)
    } else {
        (order.symbol.trim_end_matches("USDT").to_string(), quantity)
    };
    if free(s, &asset) < needed {
        return Err(error(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        ));
    }
    Ok(())
}

/// What the account holds of `asset` that no open order holds.
pub(super) fn free(s: &State, asset: &str) -> Decimal {
    s.balances.get(asset).copied().unwrap_or_default() - locked(s, asset)
}

/// What open orders hold of `asset`, as at Binance: a buy its quote at its
/// limit (or trigger, or the market), a sell its base; the legs of an
/// order list hold one quantity between them.
pub(super) fn locked(s: &State, asset: &str) -> Decimal {
    let mut lists: HashMap<i64, Decimal> = HashMap::new();
    let mut alone = Decimal::ZERO;
    for order in s.orders.iter().filter(|o| is_open(o.status)) {
        let rest = order.quantity - order.executed;
        let held = match order.side.as_str() {
            "BUY" if asset == "USDT" => {
                let market = s.prices.get(&order.symbol).copied().unwrap_or_default();
                rest * order.price.or(order.stop_price).unwrap_or(market)
            }
            "SELL" if order.symbol.strip_suffix("USDT") == Some(asset) => rest,
            _ => continue,
        };
        if order.order_list_id < 0 {
            alone += held;
        } else {
            let list = lists.entry(order.order_list_id).or_default();
            *list = (*list).max(held);
        }
    }
    alone + lists.values().copied().sum::<Decimal>()
}

/// Adds a checked order to the book; returns its index.
pub(super) fn open(s: &mut State, order: NewOrder, time: i64) -> usize {
    let order_id = s.next_id;
    s.next_id += 1;
    let trail_best = trailing::starting_best(
        order.trailing_delta,
        order.stop_price,
        s.prices.get(&order.symbol).copied(),
    );
    s.orders.push(MockOrder {
        order_id,
        client_order_id: order.client_order_id,
        symbol: order.symbol,
        side: order.side,
        kind: order.kind,
        quantity: order.quantity,
        price: order.price,
        stop_price: order.stop_price,
        trailing_delta: order.trailing_delta,
        trail_best,
        order_list_id: order.order_list_id,
        status: "NEW",
        executed: Decimal::ZERO,
        quote: Decimal::ZERO,
        time,
    });
    s.orders.len() - 1
}

/// `POST /api/v3/order`.
pub(super) fn place(s: &mut State, p: &HashMap<String, String>, server_time: i64) -> Answer {
    let text = |k: &str| p.get(k).cloned().unwrap_or_default();
    let symbol = text("symbol");
    let Some(&market) = s.prices.get(&symbol) else {
        return error(400, -1121, "Invalid symbol.");
    };
    let client_order_id = text("newClientOrderId");
    if duplicate(s, &client_order_id) {
        return error(400, -2010, "Duplicate order sent.");
    }
    let Some(quantity) = decimal_param(p, "quantity") else {
        return missing("quantity");
    };
    let kind = text("type");
    let trailing_delta = match trailing::trailing_delta(p, "trailingDelta", &kind) {
        Ok(delta) => delta,
        Err(refusal) => return refusal,
    };
    let order = NewOrder {
        client_order_id,
        symbol,
        side: text("side"),
        kind,
        quantity,
        price: decimal_param(p, "price"),
        stop_price: decimal_param(p, "stopPrice"),
        trailing_delta,
        order_list_id: -1,
    };
    if let Err(refusal) = check(s, &order, market) {
        return refusal;
    }
    let index = open(s, order, server_time);
    let trades_before = s.trades.len();
    let kind = s.orders[index].kind.as_str();
    if kind == "MARKET" || (kind == "LIMIT" && marketable(&s.orders[index], market)) {
        fill(s, index, market);
    } else if kind == "LIMIT" && matches!(text("timeInForce").as_str(), "IOC" | "FOK") {
        s.orders[index].status = "EXPIRED";
    }
    let fills: Vec<Value> = s.trades[trades_before..]
        .iter()
        .map(|t| {
            json!({"price": t.price.to_string(), "qty": t.qty.to_string(),
                "commission": t.commission.to_string(), "commissionAsset": t.commission_asset,
                "tradeId": t.id})
        })
        .collect();
    answer(200, order_json(&s.orders[index], &fills))
}

/// Moves the market of `symbol` to `price`: every open order the price
/// reaches executes, and an order list whose leg executed expires the
/// others.
pub(super) fn move_market(s: &mut State, symbol: &str, price: Decimal) {
    s.prices.insert(symbol.to_string(), price);
    trailing::follow(s, symbol, price);
    let due: Vec<(usize, Decimal)> = s
        .orders
        .iter()
        .enumerate()
        .filter(|(_, o)| o.symbol == symbol && is_open(o.status))
        .filter_map(|(i, o)| execution_price(o, price).map(|at| (i, at)))
        .collect();
    for (index, at) in due {
        // An earlier leg of its list may have expired it in this loop.
        if !is_open(s.orders[index].status) {
            continue;
        }
        fill(s, index, at);
        expire_siblings(s, index);
    }
}

/// The price an open order executes at with the market at `market`, if
/// it executes: a limit at its limit, a stop once triggered at the market
/// (a stop-limit at its limit, if that is then marketable).
fn execution_price(order: &MockOrder, market: Decimal) -> Option<Decimal> {
    let limit = order.price.unwrap_or(market);
    match order.kind.as_str() {
        "LIMIT" | "LIMIT_MAKER" => marketable(order, market).then_some(limit),
        "STOP_LOSS" => triggered(order, market).then_some(market),
        "STOP_LOSS_LIMIT" => {
            (triggered(order, market) && marketable(order, market)).then_some(limit)
        }
        _ => None,
    }
}

/// Whether the market reached a stop's trigger: at or under it for a
/// sell, at or over it for a buy.
fn triggered(order: &MockOrder, market: Decimal) -> bool {
    if order.trailing_delta.is_some() {
        return trailing::triggered(order, market);
    }
    match (order.side.as_str(), order.stop_price) {
        (_, None) => false,
        ("BUY", Some(stop)) => market >= stop,
        (_, Some(stop)) => market <= stop,
    }
}

/// An order as Binance reports it.
pub(super) fn order_json(order: &MockOrder, fills: &[Value]) -> Value {
    let mut reported = json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
        "updateTime": order.time,
        "price": order.price.unwrap_or_default().to_string(),
        "stopPrice": order.stop_price.unwrap_or_default().to_string(),
        "origQty": order.quantity.to_string(),
        "executedQty": order.executed.to_string(),
        "cummulativeQuoteQty": order.quote.to_string(),
        "status": order.status,
        "type": order.kind,
        "side": order.side,
        "fills": fills,
    });
    if let Some(bips) = order.trailing_delta {
        reported["trailingDelta"] = json!(bips);
    }
    reported
}

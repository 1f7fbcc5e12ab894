//! The mock's matching: placing (with Bybit's refusals), filling at the
//! market, resting limits and conditional orders until the price crosses
//! them, the spot wallet and perpetual positions (one-way, or per side in
//! hedge mode).

use rust_decimal::{Decimal, prelude::Signed};
use serde_json::{Value, json};

use super::{Execution, MockOrder, State, TpSl, error, now_ms, position_mode, routes::ok, tpsl};
use crate::mock_venue::Answer;

/// Fee per fill: 10 bps (spot: of the asset received; linear: of the
/// notional, in USDT).
const FEE: Decimal = Decimal::from_parts(1, 0, 0, false, 3);
const LOT: Decimal = Decimal::from_parts(1, 0, 0, false, 5);
const MIN_NOTIONAL: Decimal = Decimal::from_parts(5, 0, 0, false, 0);

/// Whether an order in `status` can still fill.
pub(super) fn is_open(status: &str) -> bool {
    matches!(status, "New" | "PartiallyFilled" | "Untriggered")
}

/// An order as Bybit's order endpoints show it.
pub(super) fn order_json(o: &MockOrder) -> Value {
    json!({
        "orderId": o.order_id, "orderLinkId": o.order_link_id, "symbol": o.symbol,
        "side": o.side, "qty": o.qty.to_string(), "orderStatus": o.status,
        "price": o.price.map(|p| p.to_string()).unwrap_or_default(),
        "triggerPrice": o.trigger.map(|p| p.to_string()).unwrap_or_default(),
        "cumExecQty": o.executed.to_string(), "reduceOnly": o.reduce_only,
        "orderType": if o.price.is_some() { "Limit" } else { "Market" },
        "rejectReason": "EC_NoError", "createdTime": o.created.to_string(),
        "stopOrderType": o.stop_order_type, "positionIdx": o.position_idx,
        "takeProfit": o.tpsl.take_profit.map(|p| p.to_string()).unwrap_or_default(),
        "stopLoss": o.tpsl.stop_loss.map(|p| p.to_string()).unwrap_or_default(),
    })
}

fn decimal(body: &Value, name: &str) -> Option<Decimal> {
    body.get(name)?.as_str()?.parse().ok()
}

/// What open spot orders lock of `coin`.
pub(super) fn locked(s: &State, coin: &str) -> Decimal {
    s.orders
        .iter()
        .filter(|o| o.category == "spot" && is_open(o.status))
        .map(|o| match (o.side.as_str(), coin) {
            ("Buy", "USDT") => (o.qty - o.executed) * o.price.or(o.trigger).unwrap_or_default(),
            ("Sell", "BTC") => o.qty - o.executed,
            _ => Decimal::ZERO,
        })
        .sum()
}

fn free(s: &State, coin: &str) -> Decimal {
    s.balances.get(coin).copied().unwrap_or_default() - locked(s, coin) - margin_held(s, coin)
}

fn margin_held(s: &State, coin: &str) -> Decimal {
    if coin != "USDT" {
        return Decimal::ZERO;
    }
    s.positions
        .iter()
        .map(|((symbol, _), p)| p.size.abs() * p.entry / Decimal::from(leverage_of(s, symbol)))
        .sum()
}

fn leverage_of(s: &State, symbol: &str) -> u32 {
    s.leverage.get(symbol).map_or(1, |(l, _)| (*l).max(1))
}

/// `POST /v5/order/create`.
pub(super) fn place(s: &mut State, body: &Value) -> Answer {
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let category = text("category");
    let spot = match category.as_str() {
        "spot" => true,
        "linear" => false,
        _ => return error(200, 10001, "params error: category"),
    };
    let (symbol, side, link) = (text("symbol"), text("side"), text("orderLinkId"));
    let Some(market) = s.prices.get(&symbol).copied() else {
        return error(200, if spot { 170121 } else { 10001 }, "Invalid symbol.");
    };
    if !matches!(side.as_str(), "Buy" | "Sell") || link.is_empty() {
        return error(200, 10001, "params error: side or orderLinkId");
    }
    if s.orders.iter().any(|o| o.order_link_id == link) {
        let code = if spot { 170141 } else { 110072 };
        return error(200, code, "Duplicate clientOrderId / OrderLinkedID exists.");
    }
    let Some(qty) = decimal(body, "qty").filter(|q| *q > Decimal::ZERO && (*q % LOT).is_zero())
    else {
        return error(200, 10001, "params error: qty");
    };
    if spot && text("orderType") == "Market" && text("marketUnit") != "baseCoin" {
        return error(
            200,
            10001,
            "params error: the mock only fills market qty in baseCoin",
        );
    }
    let price = match text("orderType").as_str() {
        "Limit" => match decimal(body, "price") {
            Some(price) => Some(price),
            None => return error(200, 10001, "params error: price"),
        },
        "Market" => None,
        _ => return error(200, 10001, "params error: orderType"),
    };
    let trigger = decimal(body, "triggerPrice");
    let reduce_only = body
        .get("reduceOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let reference = price.or(trigger).unwrap_or(market);
    let notional = qty * reference;
    if notional < MIN_NOTIONAL && !reduce_only {
        let (code, msg) = if spot {
            (170140, "Order value exceeded lower limit.")
        } else {
            (110094, "Order does not meet minimum order value.")
        };
        return error(200, code, msg);
    }
    let carried = match tpsl::carried(body, spot, side == "Buy", reference) {
        Ok(carried) => carried,
        Err(refusal) => return refusal,
    };
    let signed = if side == "Buy" { qty } else { -qty };
    let position_idx =
        match position_mode::position_idx(s, body, (spot, &symbol), (side == "Buy", reduce_only)) {
            Ok(idx) => idx,
            Err(refusal) => return refusal,
        };
    if spot {
        let (coin, needed) = if side == "Buy" {
            ("USDT", notional)
        } else {
            ("BTC", qty)
        };
        if free(s, coin) < needed {
            return error(200, 170131, "Insufficient balance.");
        }
    } else if reduce_only {
        if !reduces(s, (&symbol, position_idx), signed) {
            return error(200, 110017, "Reduce-only rule not satisfied");
        }
    } else if free(s, "USDT") < notional / Decimal::from(leverage_of(s, &symbol)) {
        return error(200, 110007, "ab not enough for new order");
    }
    let order_id = next_order_id(s);
    s.orders.push(MockOrder {
        order_id: order_id.clone(),
        order_link_id: link.clone(),
        category,
        symbol: symbol.clone(),
        side,
        qty,
        price,
        trigger,
        reduce_only,
        position_idx,
        status: if trigger.is_some() {
            "Untriggered"
        } else {
            "New"
        },
        executed: Decimal::ZERO,
        tpsl: carried,
        stop_order_type: "",
        created: now_ms(),
    });
    let index = s.orders.len() - 1;
    try_fill(s, index, market);
    ok(json!({"orderId": order_id, "orderLinkId": link}))
}

/// A fresh Bybit `orderId`.
pub(super) fn next_order_id(s: &mut State) -> String {
    let id = format!("{}", 1_000_000 + s.next_id);
    s.next_id += 1;
    id
}

/// `POST /v5/order/cancel`.
pub(super) fn cancel(s: &mut State, category: &str, link: &str) -> Answer {
    let found = s
        .orders
        .iter_mut()
        .rev()
        .find(|o| o.order_link_id == link && o.category == category && is_open(o.status));
    match found {
        Some(order) => {
            order.status = "Cancelled";
            ok(json!({"orderId": order.order_id, "orderLinkId": link}))
        }
        None if category == "spot" => error(200, 170213, "Order does not exist."),
        None => error(200, 110001, "Order does not exist."),
    }
}

/// Moves the market of `symbol` and works every open order in it.
pub(super) fn move_market(s: &mut State, symbol: &str, price: Decimal) {
    s.prices.insert(symbol.to_string(), price);
    for index in 0..s.orders.len() {
        if s.orders[index].symbol == symbol && is_open(s.orders[index].status) {
            try_fill(s, index, price);
        }
    }
    tpsl::trigger(s, symbol, price);
}

/// Triggers and fills the order at `index` if `market` reaches it.
pub(super) fn try_fill(s: &mut State, index: usize, market: Decimal) {
    let order = s.orders[index].clone();
    let buy = order.side == "Buy";
    if let Some(trigger) = order.trigger.filter(|_| order.status == "Untriggered") {
        let reached = if buy {
            market >= trigger
        } else {
            market <= trigger
        };
        if !reached {
            return;
        }
        s.orders[index].status = "New";
    }
    let crosses = order.price.is_none_or(|limit| {
        if buy {
            market <= limit
        } else {
            market >= limit
        }
    });
    if !crosses {
        return;
    }
    let qty = order.qty - order.executed;
    if order.category == "linear" {
        let signed = if buy { qty } else { -qty };
        let position = (order.symbol.as_str(), order.position_idx);
        if order.reduce_only && !reduces(s, position, signed) {
            // Bybit cancels a reduce-only order the position no longer allows.
            s.orders[index].status = "Cancelled";
            return;
        }
        fill_linear(s, position, signed, market);
        if order.tpsl != TpSl::default() {
            tpsl::set_on(s, position, order.tpsl);
        }
    } else {
        fill_spot(s, buy, qty, market);
    }
    let fee_currency = match (order.category.as_str(), buy) {
        ("spot", true) => "BTC",
        _ => "USDT",
    };
    let fee = if fee_currency == "BTC" {
        qty * FEE
    } else {
        qty * market * FEE
    };
    s.executions.push(Execution {
        id: s.next_id,
        order_id: order.order_id.clone(),
        price: market,
        qty,
        fee,
        fee_currency: fee_currency.into(),
        time: now_ms(),
    });
    s.next_id += 1;
    s.orders[index].executed = order.qty;
    s.orders[index].status = "Filled";
}

/// Whether trading the signed `quantity` only reduces the position.
fn reduces(s: &State, (symbol, idx): (&str, i64), quantity: Decimal) -> bool {
    let held = s
        .positions
        .get(&(symbol.to_string(), idx))
        .map_or(Decimal::ZERO, |p| p.size);
    !held.is_zero() && held.signum() != quantity.signum() && quantity.abs() <= held.abs()
}

fn add(s: &mut State, coin: &str, amount: Decimal) {
    *s.balances.entry(coin.to_string()).or_default() += amount;
}

fn fill_spot(s: &mut State, buy: bool, qty: Decimal, price: Decimal) {
    if buy {
        add(s, "USDT", -qty * price);
        add(s, "BTC", qty - qty * FEE);
    } else {
        add(s, "BTC", -qty);
        add(s, "USDT", qty * price * (Decimal::ONE - FEE));
    }
}

fn fill_linear(s: &mut State, (symbol, idx): (&str, i64), signed: Decimal, price: Decimal) {
    add(s, "USDT", -(signed.abs() * price * FEE));
    let position = s.positions.entry((symbol.to_string(), idx)).or_default();
    let size = position.size;
    if size.is_zero() || size.signum() == signed.signum() {
        let total = size + signed;
        position.entry = (size * position.entry + signed * price) / total;
        position.size = total;
        return;
    }
    let closed = signed.abs().min(size.abs());
    let pnl = closed * (price - position.entry) * size.signum();
    position.realized += pnl;
    position.size = size + signed;
    if position.size.is_zero() {
        position.entry = Decimal::ZERO;
    } else if position.size.signum() != size.signum() {
        position.entry = price;
    }
    if position.size.signum() != size.signum() {
        // Closed or flipped: Bybit cancels the position's TP/SL with it.
        position.tpsl = TpSl::default();
    }
    add(s, "USDT", pnl);
}

/// Open positions as `/v5/position/list` shows them
/// (all of them, or `symbol`'s).
pub(super) fn positions_json(s: &State, symbol: &str) -> Vec<Value> {
    s.positions
        .iter()
        .filter(|((held, _), p)| !p.size.is_zero() && (symbol.is_empty() || held == symbol))
        .map(|((symbol, idx), p)| {
            let mark = s.prices.get(symbol).copied().unwrap_or(p.entry);
            let (leverage, mode) = s.leverage.get(symbol).copied().unwrap_or((1, 0));
            json!({
                "symbol": symbol, "side": if p.size > Decimal::ZERO { "Buy" } else { "Sell" },
                "size": p.size.abs().to_string(), "avgPrice": p.entry.to_string(),
                "markPrice": mark.to_string(), "unrealisedPnl": (p.size * (mark - p.entry)).to_string(),
                "cumRealisedPnl": p.realized.to_string(), "leverage": leverage.to_string(),
                "positionIM": (p.size.abs() * p.entry / Decimal::from(leverage.max(1))).to_string(),
                "liqPrice": "", "tradeMode": mode, "positionIdx": idx, "tpslMode": "Full",
                "takeProfit": p.tpsl.take_profit.map(|p| p.to_string()).unwrap_or_default(),
                "stopLoss": p.tpsl.stop_loss.map(|p| p.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// `switch-isolated` (margin mode and leverage) or `set-leverage`.
pub(super) fn set_leverage(s: &mut State, switch_mode: bool, body: &Value) -> Answer {
    let symbol = body
        .get("symbol")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let buy = body
        .get("buyLeverage")
        .and_then(Value::as_str)
        .and_then(|l| l.parse::<u32>().ok());
    let sell = body
        .get("sellLeverage")
        .and_then(Value::as_str)
        .and_then(|l| l.parse::<u32>().ok());
    let Some(leverage) = buy.filter(|b| Some(*b) == sell && (1..=100).contains(b)) else {
        return error(200, 10001, "params error: buyLeverage and sellLeverage");
    };
    let (old_leverage, old_mode) = s.leverage.get(&symbol).copied().unwrap_or((1, 0));
    if switch_mode {
        let Some(mode) = body
            .get("tradeMode")
            .and_then(Value::as_i64)
            .filter(|m| matches!(m, 0 | 1))
        else {
            return error(200, 10001, "params error: tradeMode");
        };
        if mode == old_mode {
            return error(200, 110026, "Cross/isolated margin mode is not modified");
        }
        if s.positions
            .iter()
            .any(|((held, _), p)| *held == symbol && !p.size.is_zero())
        {
            return error(
                200,
                110027,
                "Margin mode cannot be switched with an open position",
            );
        }
        s.leverage.insert(symbol, (leverage, mode));
        return ok(json!({}));
    }
    if leverage == old_leverage {
        return error(200, 110043, "Set leverage not modified");
    }
    s.leverage.insert(symbol, (leverage, old_mode));
    ok(json!({}))
}

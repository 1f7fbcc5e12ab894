//! The mock's matching: placing (with Alpaca's refusals), filling at the
//! last trade while the market is open, resting limits and stops until
//! the price crosses them, OCO pairs, brackets (see `bracket`), the cash
//! and the shares.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Execution, MockOrder, State, bracket, error, now_ms, routes::rfc3339};
use crate::mock_venue::{Answer, answer};

/// The step fractional quantities trade in.
const STEP: Decimal = Decimal::from_parts(1, 0, 0, false, 5);

/// Whether an order in `status` can still fill (a bracket's leg `held`
/// until its entry fills).
pub(super) fn is_open(status: &str) -> bool {
    matches!(status, "new" | "accepted" | "partially_filled" | "held")
}

/// Whether an open order holds cash or shares: not a leg held for its
/// entry.
fn is_working(status: &str) -> bool {
    is_open(status) && status != "held"
}

/// An order as Alpaca's order endpoints show it; `nested`, a parent with
/// its legs (an OCO's stop leg, a bracket's take-profit and stop-loss).
pub(super) fn order_json(s: &State, o: &MockOrder, nested: bool) -> Value {
    let legs: Vec<Value> = s
        .orders
        .iter()
        .filter(|l| o.legs.contains(&l.id))
        .map(|l| order_json(s, l, false))
        .collect();
    let average = s
        .executions
        .iter()
        .find(|e| e.order_id == o.id)
        .map(|e| e.price.to_string());
    json!({
        "id": o.id, "client_order_id": o.client_order_id, "symbol": o.symbol,
        "asset_class": "us_equity", "qty": o.qty.to_string(), "filled_qty": o.filled.to_string(),
        "filled_avg_price": average, "order_class": o.order_class, "type": o.kind,
        "order_type": o.kind, "side": o.side, "time_in_force": o.time_in_force,
        "limit_price": o.limit.map(|p| p.to_string()), "stop_price": o.stop.map(|p| p.to_string()),
        "status": o.status, "created_at": rfc3339(now_ms()),
        "legs": (nested && !legs.is_empty()).then_some(legs),
    })
}

fn decimal(body: &Value, name: &str) -> Option<Decimal> {
    body.get(name)?.as_str()?.parse().ok()
}

/// The decimal at a JSON `pointer` of the body, such as
/// `/take_profit/limit_price`.
pub(super) fn price_at(body: &Value, pointer: &str) -> Option<Decimal> {
    body.pointer(pointer)?.as_str()?.parse().ok()
}

/// Cash held by open buy orders.
pub(super) fn reserved_cash(s: &State) -> Decimal {
    s.orders
        .iter()
        .filter(|o| o.side == "buy" && o.parent.is_none() && is_working(o.status))
        .map(|o| {
            let price = o.limit.or(o.stop).unwrap_or_else(|| last(s, &o.symbol));
            (o.qty - o.filled) * price
        })
        .sum()
}

/// Shares of `symbol` held by open sell orders (an OCO pair or a
/// bracket's legs once: its take-profit leg holds them).
pub(super) fn reserved_shares(s: &State, symbol: &str) -> Decimal {
    s.orders
        .iter()
        .filter(|o| o.side == "sell" && o.symbol == symbol)
        .filter(|o| o.parent.is_none() || (o.order_class == "bracket" && o.kind == "limit"))
        .filter(|o| is_working(o.status))
        .map(|o| o.qty - o.filled)
        .sum()
}

fn last(s: &State, symbol: &str) -> Decimal {
    s.assets.get(symbol).map(|a| a.price).unwrap_or_default()
}

/// `POST /v2/orders`.
pub(super) fn place(s: &mut State, body: &Value) -> Answer {
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (symbol, side, kind, tif) = (
        text("symbol"),
        text("side"),
        text("type"),
        text("time_in_force"),
    );
    let client_order_id = text("client_order_id");
    let order_class = match text("order_class").as_str() {
        "" | "simple" => "simple",
        "oco" => "oco",
        "bracket" => "bracket",
        other => return error(422, 40010001, &format!("order_class {other} is not mocked")),
    };
    if client_order_id.is_empty() || !matches!(side.as_str(), "buy" | "sell") {
        return error(422, 40010001, "client_order_id and side are required");
    }
    if s.orders
        .iter()
        .any(|o| o.client_order_id == client_order_id)
    {
        return error(422, 40010001, "client_order_id must be unique");
    }
    let Some(asset) = s.assets.get(&symbol).copied() else {
        return error(422, 40010001, &format!("asset \"{symbol}\" not found"));
    };
    let Some(qty) = decimal(body, "qty").filter(|q| *q > Decimal::ZERO && (*q % STEP).is_zero())
    else {
        return error(422, 40010001, "qty must be a positive multiple of 0.00001");
    };
    let (mut limit, mut stop) = (decimal(body, "limit_price"), decimal(body, "stop_price"));
    if order_class == "oco" {
        limit = price_at(body, "/take_profit/limit_price");
        stop = price_at(body, "/stop_loss/stop_price");
        if kind != "limit" || limit.is_none() || stop.is_none() || !qty.fract().is_zero() {
            return error(
                422,
                40010001,
                "an oco order is a limit with take_profit.limit_price and stop_loss.stop_price, in whole shares",
            );
        }
    }
    let needs = match kind.as_str() {
        "market" => (false, false),
        "limit" => (true, false),
        "stop" => (false, true),
        "stop_limit" => (true, true),
        _ => return error(422, 40010001, "invalid order type"),
    };
    if order_class != "oco" && needs != (limit.is_some(), stop.is_some()) {
        return error(
            422,
            40010001,
            "limit_price or stop_price does not fit the order type",
        );
    }
    if !matches!(tif.as_str(), "day" | "gtc" | "ioc" | "fok" | "opg" | "cls") {
        return error(422, 40010001, "invalid time_in_force");
    }
    let notional = qty * limit.or(stop).unwrap_or(asset.price);
    let exits = if order_class == "bracket" {
        let base = limit.or(stop).unwrap_or(asset.price);
        match bracket::check(body, &side, &tif, qty, base) {
            Ok(exits) => Some(exits),
            Err(refused) => return refused,
        }
    } else {
        None
    };
    if !qty.fract().is_zero() {
        let refusal = if !asset.fractionable {
            Some(format!("asset \"{symbol}\" is not fractionable"))
        } else if !matches!(kind.as_str(), "market" | "limit") || tif != "day" {
            Some("fractional orders must be day market or limit orders".into())
        } else if notional < Decimal::ONE {
            Some("order notional must be >= 1.00 for fractional orders".into())
        } else {
            None
        };
        if let Some(message) = refusal {
            return error(422, 40010001, &message);
        }
    }
    if side == "buy" && notional > s.cash - reserved_cash(s) {
        return error(403, 40310000, "insufficient buying power");
    }
    let held = s.shares.get(&symbol).copied().unwrap_or_default();
    let available = held - reserved_shares(s, &symbol);
    if side == "sell" && qty > available {
        return error(
            403,
            40310000,
            &format!(
                "insufficient qty available for order (requested: {qty}, available: {available})"
            ),
        );
    }
    let status = if s.open { "new" } else { "accepted" };
    let mut order = MockOrder {
        id: format!("order-{}", s.next_id),
        client_order_id,
        symbol,
        side,
        kind,
        time_in_force: tif,
        qty,
        limit,
        stop: if order_class == "oco" { None } else { stop },
        order_class: order_class.into(),
        status,
        filled: Decimal::ZERO,
        legs: Vec::new(),
        parent: None,
    };
    s.next_id += 1;
    if order_class == "oco" {
        let leg = MockOrder {
            id: format!("order-{}", s.next_id),
            client_order_id: format!("leg-{}", s.next_id),
            kind: "stop".into(),
            limit: None,
            stop,
            parent: Some(order.id.clone()),
            ..order.clone()
        };
        s.next_id += 1;
        order.legs = vec![leg.id.clone()];
        s.orders.push(leg);
    }
    s.orders.push(order.clone());
    if let Some(exits) = exits {
        bracket::add_legs(s, &order, exits);
    }
    work_all(s);
    let placed = s.orders.iter().find(|o| o.id == order.id).unwrap_or(&order);
    answer(200, order_json(s, placed, true))
}

/// `DELETE /v2/orders/{id}`: an OCO parent or leg cancels the pair, a
/// bracket's leg its sibling, an open bracket entry its legs.
pub(super) fn cancel(s: &mut State, id: &str) -> Answer {
    let Some(index) = s.orders.iter().position(|o| o.id == id) else {
        return error(404, 40410000, "order not found");
    };
    if !is_open(s.orders[index].status) {
        return error(422, 42210000, "order is not cancelable");
    }
    close_pair(s, index, "canceled");
    answer(200, json!({}))
}

/// Sets the order at `index` and its linked orders (its legs, its
/// parent, its sibling legs), those still open, to `status`.
fn close_pair(s: &mut State, index: usize, status: &'static str) {
    let order = s.orders[index].clone();
    for o in &mut s.orders {
        let partner = order.legs.contains(&o.id)
            || order.parent.as_ref() == Some(&o.id)
            || (order.parent.is_some() && o.parent == order.parent);
        if (o.id == order.id || partner) && is_open(o.status) {
            o.status = status;
        }
    }
}

/// Moves the last trade of `symbol` and works every open order.
pub(super) fn move_market(s: &mut State, symbol: &str, price: Decimal) {
    if let Some(asset) = s.assets.get_mut(symbol) {
        asset.price = price;
    }
    work_all(s);
}

/// Works every open order against its symbol's last trade, if the market
/// is open.
pub(super) fn work_all(s: &mut State) {
    if !s.open {
        return;
    }
    for index in 0..s.orders.len() {
        let order = &mut s.orders[index];
        if order.status == "accepted" {
            order.status = "new";
        }
        try_fill(s, index);
    }
}

/// Fills the order at `index` if the last trade reaches it.
fn try_fill(s: &mut State, index: usize) {
    let order = s.orders[index].clone();
    if !is_working(order.status) {
        return;
    }
    let market = last(s, &order.symbol);
    let buy = order.side == "buy";
    let crosses =
        |limit: Option<Decimal>| limit.is_none_or(|l| if buy { market <= l } else { market >= l });
    let triggered = order
        .stop
        .is_none_or(|stop| if buy { market >= stop } else { market <= stop });
    if !(triggered && crosses(order.limit)) {
        return;
    }
    let price = match order.limit {
        Some(limit) if buy => market.min(limit),
        Some(limit) => market.max(limit),
        None => market,
    };
    let cost = order.qty * price;
    s.cash += if buy { -cost } else { cost };
    *s.shares.entry(order.symbol.clone()).or_default() += if buy { order.qty } else { -order.qty };
    let time = now_ms();
    s.executions.push(Execution {
        id: format!("{time:020}::{:08}", s.next_id),
        order_id: order.id.clone(),
        symbol: order.symbol.clone(),
        side: order.side.clone(),
        price,
        qty: order.qty,
        time,
    });
    s.next_id += 1;
    if order.order_class == "bracket" && order.parent.is_none() {
        bracket::activate(s, &order.id);
    } else {
        close_pair(s, index, "canceled");
    }
    s.orders[index].status = "filled";
    s.orders[index].filled = order.qty;
}

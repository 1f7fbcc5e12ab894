//! The mock's book: placing orders with OKX's checks, matching them at a
//! settable price, conditional stops, and net-mode swap positions.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    CONTRACT_VALUE, MockAlgo, MockOrder, State, Trade, error, now_ms, ok, position_key, refused,
    routes::decimal,
};
use crate::mock_venue::Answer;

/// Fee per fill: 10 bps, of the asset received on spot, of the notional
/// in USDT on swaps.
const FEE: Decimal = Decimal::from_parts(1, 0, 0, false, 3);
/// OKX's smallest spot order, in USDT (the kit's minimum notional).
const MIN_NOTIONAL: Decimal = Decimal::from_parts(5, 0, 0, false, 0);

fn is_open(state: &str) -> bool {
    matches!(state, "live" | "partially_filled")
}

fn is_swap(inst_id: &str) -> bool {
    inst_id.ends_with("-SWAP")
}

/// Base units of a size.
fn base(inst_id: &str, size: Decimal) -> Decimal {
    if is_swap(inst_id) {
        size * CONTRACT_VALUE
    } else {
        size
    }
}

/// An order as `GET /api/v5/trade/order` shows it.
pub(super) fn order_json(o: &MockOrder) -> Value {
    let attached: Vec<Value> = o
        .attached
        .iter()
        .map(|a| {
            json!({"attachAlgoClOrdId": a.algo_cl_ord_id, "tpTriggerPx": a.take_profit.0.to_string(),
                "tpOrdPx": a.take_profit.1.to_string(), "slTriggerPx": a.stop.to_string(), "slOrdPx": "-1"})
        })
        .collect();
    json!({"attachAlgoOrds": attached,"instId": o.inst_id, "ordId": o.ord_id, "clOrdId": o.cl_ord_id,
        "px": o.price.map(|p| p.to_string()).unwrap_or_default(), "sz": o.size.to_string(),
        "ordType": o.ord_type, "side": o.side, "tdMode": o.td_mode, "state": o.state,
        "accFillSz": o.filled.to_string(), "reduceOnly": o.reduce_only.to_string()})
}

/// What open spot orders and live `oco` groups lock of `ccy`.
pub(super) fn frozen(s: &State, ccy: &str) -> Decimal {
    super::oco::reserved(s, ccy)
        + s.orders
            .iter()
            .filter(|o| is_open(o.state) && !is_swap(&o.inst_id))
            .map(|o| {
                let rest = o.size - o.filled;
                match (o.side.as_str(), ccy) {
                    ("buy", "USDT") => rest * o.price.unwrap_or_default(),
                    ("sell", "BTC") => rest,
                    _ => Decimal::ZERO,
                }
            })
            .sum::<Decimal>()
}

fn available(s: &State, ccy: &str) -> Decimal {
    s.balances.get(ccy).copied().unwrap_or_default() - frozen(s, ccy)
}

/// `POST /api/v5/trade/order`.
pub(super) fn place(s: &mut State, body: &Value) -> Answer {
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let (inst_id, side, ord_type, td_mode, cl_ord_id) = (
        field("instId"),
        field("side"),
        field("ordType"),
        field("tdMode"),
        field("clOrdId"),
    );
    let Some(&market) = s.prices.get(&inst_id) else {
        return refused("51001", "Instrument ID does not exist.");
    };
    let valid_id =
        (1..=32).contains(&cl_ord_id.len()) && cl_ord_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let Some(size) = decimal(body, "sz").filter(|sz| *sz > Decimal::ZERO) else {
        return refused("51000", "Parameter sz error");
    };
    if !valid_id
        || !matches!(side.as_str(), "buy" | "sell")
        || !matches!(ord_type.as_str(), "market" | "limit" | "ioc" | "fok")
    {
        return refused("51000", "Parameter clOrdId, side or ordType error");
    }
    let td_ok = if is_swap(&inst_id) {
        matches!(td_mode.as_str(), "isolated" | "cross")
    } else {
        td_mode == "cash"
    };
    if !td_ok {
        return refused("51000", "Parameter tdMode error");
    }
    let price = decimal(body, "px");
    if ord_type != "market" && price.is_none() {
        return refused("51000", "Parameter px error");
    }
    let lot = if is_swap(&inst_id) {
        Decimal::new(1, 2)
    } else {
        Decimal::new(1, 5)
    };
    // A spot market buy without `tgtCcy=base_ccy` is sized in USDT.
    let quote_sized = !is_swap(&inst_id)
        && ord_type == "market"
        && side == "buy"
        && field("tgtCcy") != "base_ccy";
    let size = if quote_sized {
        (size / market).round_dp(5)
    } else {
        size
    };
    if !(size % lot).is_zero() {
        return refused(
            "51121",
            "Order quantity must be a multiple of the lot size.",
        );
    }
    if s.orders
        .iter()
        .any(|o| o.cl_ord_id == cl_ord_id && is_open(o.state))
    {
        return refused("51016", "Duplicated clOrdId");
    }
    let pos_side = match position_side(s, &inst_id, body) {
        Ok(pos_side) => pos_side,
        Err(refusal) => return refusal,
    };
    let reduce_only = body["reduceOnly"].as_bool().unwrap_or(false);
    let at = price.unwrap_or(market);
    let attached = match super::attached::read(body, &side, at) {
        Ok(attached) => attached,
        Err(refusal) => return refusal,
    };
    let key = position_key(&inst_id, &pos_side);
    let closing = closes(&side, &pos_side) || reduce_only;
    if let Some(refusal) = check_funds(s, (&inst_id, &key), &side, size, at, closing) {
        return refusal;
    }
    let ord_id = s.next_id.to_string();
    s.next_id += 1;
    s.orders.push(MockOrder {
        ord_id: ord_id.clone(),
        cl_ord_id: cl_ord_id.clone(),
        inst_id: inst_id.clone(),
        side,
        ord_type: ord_type.clone(),
        td_mode,
        size,
        price,
        reduce_only,
        pos_side,
        state: "live",
        filled: Decimal::ZERO,
        attached,
    });
    let index = s.orders.len() - 1;
    if marketable(&s.orders[index], market) {
        fill(s, index, market);
    } else if matches!(ord_type.as_str(), "ioc" | "fok") {
        s.orders[index].state = "canceled";
    }
    ok(vec![
        json!({"ordId": ord_id, "clOrdId": cl_ord_id, "tag": "", "sCode": "0", "sMsg": "Order placed"}),
    ])
}

/// The `posSide` of an order or algo order, checked the way OKX does: in
/// long/short mode a swap order names `long` or `short` and takes no
/// `reduceOnly`; in net mode, and on spot, it names none.
pub(super) fn position_side(s: &State, inst_id: &str, body: &Value) -> Result<String, Answer> {
    let pos_side = body["posSide"].as_str().unwrap_or_default();
    let reduce_only = !body["reduceOnly"].is_null();
    let fits = match (is_swap(inst_id), s.long_short) {
        (true, true) => matches!(pos_side, "long" | "short") && !reduce_only,
        (true, false) => matches!(pos_side, "" | "net"),
        (false, _) => pos_side.is_empty(),
    };
    if !fits {
        return Err(refused("51000", "Parameter posSide or reduceOnly error"));
    }
    Ok(if s.long_short && is_swap(inst_id) {
        pos_side.to_string()
    } else {
        String::new()
    })
}

/// Whether `side` closes the long/short position `pos_side`.
fn closes(side: &str, pos_side: &str) -> bool {
    matches!((side, pos_side), ("sell", "long") | ("buy", "short"))
}

/// OKX's refusals for money: the minimum order, the balance, and
/// reduce-only (or closing) orders that would not reduce the position
/// kept under `key`.
fn check_funds(
    s: &State,
    (inst_id, key): (&str, &str),
    side: &str,
    size: Decimal,
    at: Decimal,
    reduce_only: bool,
) -> Option<Answer> {
    if is_swap(inst_id) {
        let held = s
            .positions
            .get(key)
            .map(|p| p.contracts)
            .unwrap_or_default();
        let reduces = (side == "sell" && held >= size) || (side == "buy" && -held >= size);
        if reduce_only && !reduces {
            return Some(refused(
                "51169",
                "Order failed because you don't have any positions in this direction for this contract to reduce or close.",
            ));
        }
        let lever = s.leverage.get(inst_id).map_or(1, |(l, _)| *l);
        let margin = base(inst_id, size) * at / Decimal::from(lever);
        if !reduce_only && margin > available(s, "USDT") {
            return Some(refused(
                "51008",
                "Order failed. Insufficient USDT margin in account",
            ));
        }
        return None;
    }
    if size * at < MIN_NOTIONAL {
        return Some(refused(
            "51020",
            "Your order should meet or exceed the minimum order amount.",
        ));
    }
    let (ccy, needed) = if side == "buy" {
        ("USDT", size * at)
    } else {
        ("BTC", size)
    };
    (needed > available(s, ccy)).then(|| {
        refused(
            "51008",
            &format!("Order failed. Insufficient {ccy} balance in account."),
        )
    })
}

fn marketable(o: &MockOrder, market: Decimal) -> bool {
    match (o.side.as_str(), o.price, o.ord_type.as_str()) {
        (_, _, "market") | (_, None, _) => true,
        ("buy", Some(limit), _) => limit >= market,
        (_, Some(limit), _) => limit <= market,
    }
}

/// Fills the rest of an order at `price`.
fn fill(s: &mut State, index: usize, price: Decimal) {
    let time = now_ms() + s.clock_offset_ms;
    let o = s.orders[index].clone();
    let size = o.size - o.filled;
    let qty = base(&o.inst_id, size);
    let notional = qty * price;
    let buy = o.side == "buy";
    let (fee, fee_ccy) = if is_swap(&o.inst_id) {
        let key = position_key(&o.inst_id, &o.pos_side);
        let realized = book_position(s, &key, if buy { size } else { -size }, price);
        *s.balances.entry("USDT".into()).or_default() += realized - notional * FEE;
        (notional * FEE, "USDT")
    } else if buy {
        *s.balances.entry("USDT".into()).or_default() -= notional;
        *s.balances.entry("BTC".into()).or_default() += qty - qty * FEE;
        (qty * FEE, "BTC")
    } else {
        *s.balances.entry("BTC".into()).or_default() -= qty;
        *s.balances.entry("USDT".into()).or_default() += notional - notional * FEE;
        (notional * FEE, "USDT")
    };
    let id = s.next_id;
    s.next_id += 1;
    s.trades.push(Trade {
        id,
        ord_id: o.ord_id.clone(),
        inst_id: o.inst_id.clone(),
        price,
        size,
        fee,
        fee_ccy: fee_ccy.into(),
        time,
    });
    let order = &mut s.orders[index];
    order.filled = order.size;
    order.state = "filled";
    super::attached::filled(s, index);
}

/// Moves the position under `key` by `contracts` at `price`; returns the
/// profit realised in USDT.
fn book_position(s: &mut State, key: &str, contracts: Decimal, price: Decimal) -> Decimal {
    let p = s.positions.entry(key.to_string()).or_default();
    let held = p.contracts;
    let after = held + contracts;
    let closed = if held.is_zero() || held.is_sign_positive() == contracts.is_sign_positive() {
        Decimal::ZERO
    } else {
        contracts.abs().min(held.abs())
    };
    let realized = closed
        * CONTRACT_VALUE
        * (price - p.entry)
        * if held.is_sign_positive() {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
    p.entry = if after.is_zero() {
        Decimal::ZERO
    } else if closed.is_zero() {
        (held.abs() * p.entry + contracts.abs() * price) / after.abs()
    } else if after.is_sign_positive() != held.is_sign_positive() {
        price
    } else {
        p.entry
    };
    p.contracts = after;
    realized
}

/// `POST /api/v5/trade/cancel-order`.
pub(super) fn cancel(s: &mut State, body: &Value) -> Answer {
    let id = body["clOrdId"].as_str().unwrap_or_default();
    let inst_id = body["instId"].as_str().unwrap_or_default();
    let Some(order) = s
        .orders
        .iter_mut()
        .rev()
        .find(|o| o.cl_ord_id == id && o.inst_id == inst_id)
    else {
        return refused("51603", "Order does not exist");
    };
    if !is_open(order.state) {
        return refused(
            "51400",
            "Order cancellation failed as the order has been filled, canceled or does not exist.",
        );
    }
    order.state = "canceled";
    ok(vec![
        json!({"ordId": order.ord_id, "clOrdId": id, "sCode": "0", "sMsg": ""}),
    ])
}

/// `POST /api/v5/trade/order-algo`: conditional stops only.
pub(super) fn place_algo(s: &mut State, body: &Value) -> Answer {
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let id = field("algoClOrdId");
    if field("ordType") == "oco" {
        return super::oco::place(s, body);
    }
    if field("ordType") != "conditional" || field("slOrdPx") != "-1" {
        return refused("51000", "Parameter ordType or slOrdPx error");
    }
    let (Some(size), Some(trigger)) = (decimal(body, "sz"), decimal(body, "slTriggerPx")) else {
        return refused("51000", "Parameter sz or slTriggerPx error");
    };
    if s.algos
        .iter()
        .any(|a| a.algo_cl_ord_id == id && a.state == "live")
    {
        return refused("51016", "Duplicated clOrdId");
    }
    let pos_side = match position_side(s, &field("instId"), body) {
        Ok(pos_side) => pos_side,
        Err(refusal) => return refusal,
    };
    let algo_id = format!("a{}", s.next_id);
    s.next_id += 1;
    s.algos.push(MockAlgo {
        algo_id: algo_id.clone(),
        algo_cl_ord_id: id.clone(),
        inst_id: field("instId"),
        ord_type: "conditional",
        pos_side,
        side: field("side"),
        td_mode: field("tdMode"),
        size,
        trigger,
        take_profit: None,
        reduce_only: body["reduceOnly"].as_bool().unwrap_or(false),
        state: "live",
        actual_side: "",
        ord_id: String::new(),
        attached_to: String::new(),
    });
    ok(vec![
        json!({"algoId": algo_id, "algoClOrdId": id, "sCode": "0", "sMsg": ""}),
    ])
}

/// `POST /api/v5/trade/cancel-algos`.
pub(super) fn cancel_algos(s: &mut State, body: &Value) -> Answer {
    let Some(items) = body.as_array() else {
        return error(400, "50002", "JSON syntax error");
    };
    let mut data = Vec::new();
    for item in items {
        let id = item["algoId"].as_str().unwrap_or_default();
        match s.algos.iter_mut().find(|a| a.algo_id == id) {
            Some(algo) if algo.state == "live" => {
                algo.state = "canceled";
                data.push(json!({"algoId": id, "sCode": "0", "sMsg": ""}));
            }
            _ => {
                return refused(
                    "51400",
                    "Cancellation failed as the order does not exist or is done.",
                );
            }
        }
    }
    ok(data)
}

/// Moves the market: resting limits it crosses fill at their limit,
/// stops it reaches trigger a market order.
pub(super) fn move_market(s: &mut State, inst_id: &str, price: Decimal) {
    s.prices.insert(inst_id.to_string(), price);
    for index in 0..s.orders.len() {
        let o = &s.orders[index];
        if o.inst_id == inst_id && is_open(o.state) && marketable(o, price) {
            let at = o.price.unwrap_or(price);
            fill(s, index, at);
        }
    }
    for index in 0..s.algos.len() {
        let a = s.algos[index].clone();
        if a.inst_id != inst_id || a.state != "live" {
            continue;
        }
        let Some((actual_side, limit)) = super::oco::reached(&a, price) else {
            continue;
        };
        let ord_id = s.next_id.to_string();
        s.next_id += 1;
        let held = s
            .positions
            .get(&position_key(inst_id, &a.pos_side))
            .map(|p| p.contracts)
            .unwrap_or_default();
        let reduces = (a.side == "sell" && held >= a.size) || (a.side == "buy" && -held >= a.size);
        let reduce_only = a.reduce_only || closes(&a.side, &a.pos_side);
        s.orders.push(MockOrder {
            ord_id: ord_id.clone(),
            cl_ord_id: String::new(),
            inst_id: a.inst_id.clone(),
            side: a.side.clone(),
            ord_type: if limit.is_some() { "limit" } else { "market" }.into(),
            td_mode: a.td_mode.clone(),
            size: a.size,
            price: limit,
            reduce_only: a.reduce_only,
            pos_side: a.pos_side.clone(),
            state: "canceled",
            filled: Decimal::ZERO,
            attached: None,
        });
        let placed = s.orders.len() - 1;
        if reduces || !reduce_only {
            s.orders[placed].state = "live";
            if marketable(&s.orders[placed], price) {
                fill(s, placed, limit.unwrap_or(price));
            }
        }
        s.algos[index].state = "effective";
        s.algos[index].actual_side = actual_side;
        s.algos[index].ord_id = ord_id;
    }
}

/// `GET /api/v5/account/positions`: the open net positions.
pub(super) fn positions_json(s: &State) -> Vec<Value> {
    s.positions
        .iter()
        .filter(|(_, p)| !p.contracts.is_zero())
        .map(|(key, p)| {
            let (inst_id, pos_side) = key.split_once(':').unwrap_or((key.as_str(), "net"));
            let (lever, mode) = s.leverage.get(inst_id).cloned().unwrap_or((1, "cross".into()));
            let mark = s.prices.get(inst_id).copied().unwrap_or(p.entry);
            let qty = base(inst_id, p.contracts);
            let margin = (qty.abs() * p.entry / Decimal::from(lever)).round_dp(8);
            json!({"instId": inst_id, "instType": "SWAP", "pos": p.contracts.to_string(), "posSide": pos_side,
                "mgnMode": mode, "avgPx": p.entry.to_string(), "markPx": mark.to_string(),
                "upl": (qty * (mark - p.entry)).to_string(), "realizedPnl": "0", "lever": lever.to_string(),
                "imr": margin.to_string(), "margin": margin.to_string(), "liqPx": ""})
        })
        .collect()
}

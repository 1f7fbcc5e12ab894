//! The mock's spot `oco` algo orders: a stop and a take-profit in one
//! order, keyed by `algoClOrdId`, reserving the base (or the quote) once
//! for both legs; when the market reaches either trigger, that leg
//! places its order and the other is gone with the group.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{MockAlgo, State, ok, refused, routes::decimal};
use crate::mock_venue::Answer;

/// `POST /api/v5/trade/order-algo` with `ordType=oco`, checked the way
/// OKX does: spot in cash mode, a valid id, both triggers on the right
/// sides of the market, and the funds for one leg.
pub(super) fn place(s: &mut State, body: &Value) -> Answer {
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let (id, inst_id, side) = (field("algoClOrdId"), field("instId"), field("side"));
    let valid_id = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let Some(&market) = s.prices.get(&inst_id) else {
        return refused("51001", "Instrument ID does not exist.");
    };
    if !valid_id || inst_id.ends_with("-SWAP") || field("tdMode") != "cash" {
        return refused("51000", "Parameter algoClOrdId, instId or tdMode error");
    }
    if field("slOrdPx") != "-1" {
        return refused("51000", "Parameter slOrdPx error");
    }
    let (Some(size), Some(stop), Some(tp_trigger), Some(tp_price)) = (
        decimal(body, "sz").filter(|sz| *sz > Decimal::ZERO),
        decimal(body, "slTriggerPx"),
        decimal(body, "tpTriggerPx"),
        decimal(body, "tpOrdPx"),
    ) else {
        return refused(
            "51000",
            "Parameter sz, slTriggerPx, tpTriggerPx or tpOrdPx error",
        );
    };
    let sides_ok = match side.as_str() {
        "sell" => stop < market && market < tp_trigger,
        "buy" => tp_trigger < market && market < stop,
        _ => false,
    };
    if !sides_ok {
        return refused(
            "51277",
            "TP trigger price cannot be higher than the last price or SL trigger price lower",
        );
    }
    if s.algos
        .iter()
        .any(|a| a.algo_cl_ord_id == id && a.state == "live")
    {
        return refused("51016", "Duplicated clOrdId");
    }
    let (ccy, needed) = if side == "sell" {
        ("BTC", size)
    } else {
        ("USDT", size * stop.max(tp_price))
    };
    let held = s.balances.get(ccy).copied().unwrap_or_default();
    if needed > held - super::book::frozen(s, ccy) {
        return refused(
            "51008",
            &format!("Order failed. Insufficient {ccy} balance in account."),
        );
    }
    let algo_id = format!("a{}", s.next_id);
    s.next_id += 1;
    s.algos.push(MockAlgo {
        algo_id: algo_id.clone(),
        algo_cl_ord_id: id.clone(),
        inst_id,
        ord_type: "oco",
        side,
        td_mode: "cash".into(),
        size,
        trigger: stop,
        take_profit: Some((tp_trigger, tp_price)),
        reduce_only: false,
        pos_side: String::new(),
        state: "live",
        actual_side: "",
        ord_id: String::new(),
        attached_to: String::new(),
    });
    ok(vec![
        json!({"algoId": algo_id, "algoClOrdId": id, "sCode": "0", "sMsg": ""}),
    ])
}

/// What live `oco` groups reserve of `ccy`: the size once, whichever leg
/// executes.
pub(super) fn reserved(s: &State, ccy: &str) -> Decimal {
    s.algos
        .iter()
        .filter(|a| a.ord_type == "oco" && a.state == "live" && !a.inst_id.ends_with("-SWAP"))
        .map(|a| match (a.side.as_str(), ccy, a.take_profit) {
            ("sell", "BTC", _) => a.size,
            ("buy", "USDT", Some((_, tp))) => a.size * a.trigger.max(tp),
            _ => Decimal::ZERO,
        })
        .sum()
}

/// Whether a live algo order triggers at `price`: the leg (`sl` or `tp`)
/// and the limit of the order it places (`None`: a market).
pub(super) fn reached(a: &MockAlgo, price: Decimal) -> Option<(&'static str, Option<Decimal>)> {
    let sell = a.side == "sell";
    let stopped = if sell {
        price <= a.trigger
    } else {
        price >= a.trigger
    };
    if stopped {
        return Some(("sl", None));
    }
    let (tp_trigger, tp_price) = a.take_profit?;
    let taken = if sell {
        price >= tp_trigger
    } else {
        price <= tp_trigger
    };
    taken.then_some(("tp", Some(tp_price)))
}

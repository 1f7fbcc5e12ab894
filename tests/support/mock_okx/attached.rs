//! The mock's attached TP/SL: an order may carry `attachAlgoOrds` (one
//! take-profit and one stop, keyed by `attachAlgoClOrdId`), checked the
//! way OKX checks it when the order is placed. When the order fills, OKX
//! places them as one `oco` algo order under that id, on the other side
//! and for the order's size (closing only the position on a swap); the
//! base it sells is reserved once, and the position closing by any other
//! order cancels it. (OKX also places them for the filled part of an order
//! canceled partly filled; the mock fills an order whole, so never does.)

use rust_decimal::Decimal;

use super::{MockAlgo, State, position_key, refused, routes::decimal};
use crate::mock_venue::Answer;

/// The TP/SL an order carries until it fills.
#[derive(Debug, Clone, PartialEq)]
pub struct MockAttached {
    /// `attachAlgoClOrdId`: the algo order's `algoClOrdId` once placed.
    pub algo_cl_ord_id: String,
    /// The take-profit trigger and limit (`tpTriggerPx`, `tpOrdPx`).
    pub take_profit: (Decimal, Decimal),
    /// The stop's trigger (`slTriggerPx`); it sells (buys) at the market.
    pub stop: Decimal,
}

/// The `attachAlgoOrds` of an order on `side` at `at` (its limit, or the
/// market): `None` without any; refused with OKX's code when malformed,
/// or when the take-profit or the stop is on the wrong side of `at`.
pub(super) fn read(
    body: &serde_json::Value,
    side: &str,
    at: Decimal,
) -> Result<Option<MockAttached>, Answer> {
    let attached = &body["attachAlgoOrds"];
    if attached.is_null() {
        return Ok(None);
    }
    let malformed = || refused("51000", "Parameter attachAlgoOrds error");
    let [one] = attached.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(malformed());
    };
    let id = one["attachAlgoClOrdId"].as_str().unwrap_or_default();
    let valid_id = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let (true, Some(tp_trigger), Some(tp_price), Some(stop), Some("-1")) = (
        valid_id,
        decimal(one, "tpTriggerPx"),
        decimal(one, "tpOrdPx"),
        decimal(one, "slTriggerPx"),
        one["slOrdPx"].as_str(),
    ) else {
        return Err(malformed());
    };
    let wrong_side = match side {
        "buy" if tp_trigger <= at => Some((
            "51279",
            "TP trigger price cannot be lower than the last price",
        )),
        "buy" if stop >= at => Some((
            "51280",
            "SL trigger price cannot be higher than the last price",
        )),
        "sell" if tp_trigger >= at => Some((
            "51277",
            "TP trigger price cannot be higher than the last price",
        )),
        "sell" if stop <= at => Some((
            "51278",
            "SL trigger price cannot be lower than the last price",
        )),
        _ => None,
    };
    if let Some((code, message)) = wrong_side {
        return Err(refused(code, message));
    }
    Ok(Some(MockAttached {
        algo_cl_ord_id: id.to_string(),
        take_profit: (tp_trigger, tp_price),
        stop,
    }))
}

/// After the order at `index` filled: the algo order its TP/SL become,
/// and, once a swap position is flat, the end of every attached algo
/// order still live on it.
pub(super) fn filled(s: &mut State, index: usize) {
    let order = s.orders[index].clone();
    let swap = order.inst_id.ends_with("-SWAP");
    if let Some(attached) = order.attached {
        let algo_id = format!("a{}", s.next_id);
        s.next_id += 1;
        s.algos.push(MockAlgo {
            algo_id,
            algo_cl_ord_id: attached.algo_cl_ord_id,
            inst_id: order.inst_id.clone(),
            ord_type: "oco",
            side: if order.side == "buy" { "sell" } else { "buy" }.into(),
            td_mode: order.td_mode.clone(),
            size: order.size,
            trigger: attached.stop,
            take_profit: Some(attached.take_profit),
            reduce_only: swap,
            pos_side: order.pos_side.clone(),
            state: "live",
            actual_side: "",
            ord_id: String::new(),
            attached_to: order.cl_ord_id.clone(),
        });
    }
    let key = position_key(&order.inst_id, &order.pos_side);
    let flat = s.positions.get(&key).is_none_or(|p| p.contracts.is_zero());
    if swap && flat {
        for algo in s.algos.iter_mut().filter(|a| {
            !a.attached_to.is_empty()
                && a.state == "live"
                && a.inst_id == order.inst_id
                && a.pos_side == order.pos_side
        }) {
            algo.state = "canceled";
        }
    }
}

//! The Bybit mock's TP/SL on a linear position, as Bybit does it with
//! `tpslMode` Full: an entry may carry `takeProfit` / `stopLoss` (each on
//! the winning / losing side of its base price, else 10001), set on its
//! position when it fills; the price reaching one closes the whole
//! position with a market order whose `stopOrderType` names it (and the
//! other goes with the position); `POST /v5/position/trading-stop` sets
//! or clears them ("0"), refusing a position that is flat (10001) or a
//! change that changes nothing (34040).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{MockOrder, State, TpSl, book, error, now_ms, routes::ok};
use crate::mock_venue::Answer;

/// A price field: absent or `""` is none, `"0"` clears, else a price.
fn level(body: &Value, name: &str) -> Result<Option<Decimal>, Answer> {
    match body.get(name).and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<Decimal>()
            .ok()
            .filter(|p| *p >= Decimal::ZERO)
            .map(Some)
            .ok_or_else(|| error(200, 10001, &format!("params error: {name}"))),
    }
}

/// Bybit's check of a TP/SL for a `long` (or short) position against
/// `base`: the take-profit beyond it, the stop-loss short of it.
fn check_sides(tpsl: TpSl, long: bool, base: Decimal) -> Result<(), Answer> {
    let side = if long { "Buy" } else { "Sell" };
    if let Some(tp) = tpsl.take_profit.filter(|tp| (*tp > base) != long) {
        let want = if long { "higher" } else { "lower" };
        return Err(error(
            200,
            10001,
            &format!(
                "TakeProfit:{tp} set for {side} position should be {want} than base_price:{base}??LastPrice"
            ),
        ));
    }
    if let Some(sl) = tpsl.stop_loss.filter(|sl| (*sl < base) != long) {
        let want = if long { "lower" } else { "higher" };
        return Err(error(
            200,
            10001,
            &format!(
                "StopLoss:{sl} set for {side} position should be {want} than base_price:{base}??LastPrice"
            ),
        ));
    }
    Ok(())
}

/// The TP/SL an order create carries for the position a `buy` (or
/// sell) opens at `base`: only on linear, only `tpslMode` Full,
/// triggered by a price type Bybit knows.
pub(super) fn carried(body: &Value, spot: bool, buy: bool, base: Decimal) -> Result<TpSl, Answer> {
    let tpsl = TpSl {
        take_profit: level(body, "takeProfit")?.filter(|p| !p.is_zero()),
        stop_loss: level(body, "stopLoss")?.filter(|p| !p.is_zero()),
    };
    if tpsl == TpSl::default() {
        return Ok(tpsl);
    }
    if spot {
        return Err(error(
            200,
            10001,
            "params error: the mock sets TP/SL on linear positions only",
        ));
    }
    if body.get("tpslMode").and_then(Value::as_str) != Some("Full") {
        return Err(error(200, 10001, "params error: tpslMode"));
    }
    for name in ["tpTriggerBy", "slTriggerBy"] {
        match body.get(name).and_then(Value::as_str) {
            None | Some("LastPrice" | "MarkPrice" | "IndexPrice") => {}
            Some(_) => return Err(error(200, 10001, &format!("params error: {name}"))),
        }
    }
    check_sides(tpsl, buy, base)?;
    Ok(tpsl)
}

/// Sets `tpsl` on the position an entry filled into.
pub(super) fn set_on(s: &mut State, (symbol, idx): (&str, i64), tpsl: TpSl) {
    if let Some(position) = s.positions.get_mut(&(symbol.to_string(), idx))
        && !position.size.is_zero()
    {
        position.tpsl = tpsl;
    }
}

/// Closes at `market` every position in `symbol` whose TP or SL it
/// reached, with a market order named by `stopOrderType`.
pub(super) fn trigger(s: &mut State, symbol: &str, market: Decimal) {
    let due: Vec<(i64, Decimal, Decimal, &'static str)> = s
        .positions
        .iter()
        .filter(|((held, _), p)| held == symbol && !p.size.is_zero())
        .filter_map(|((_, idx), p)| {
            let long = p.size > Decimal::ZERO;
            let take = p
                .tpsl
                .take_profit
                .filter(|tp| if long { market >= *tp } else { market <= *tp });
            let stop = p
                .tpsl
                .stop_loss
                .filter(|sl| if long { market <= *sl } else { market >= *sl });
            take.map(|tp| (tp, "TakeProfit"))
                .or(stop.map(|sl| (sl, "StopLoss")))
                .map(|(level, kind)| (*idx, p.size, level, kind))
        })
        .collect();
    for (idx, size, level, kind) in due {
        let order_id = book::next_order_id(s);
        s.orders.push(MockOrder {
            order_id,
            order_link_id: String::new(),
            category: "linear".into(),
            symbol: symbol.to_string(),
            side: if size > Decimal::ZERO { "Sell" } else { "Buy" }.into(),
            qty: size.abs(),
            price: None,
            trigger: Some(level),
            reduce_only: true,
            position_idx: idx,
            status: "New",
            executed: Decimal::ZERO,
            tpsl: TpSl::default(),
            stop_order_type: kind,
            created: now_ms(),
        });
        let index = s.orders.len() - 1;
        book::try_fill(s, index, market);
    }
}

/// `POST /v5/position/trading-stop` (`tpslMode` Full only).
pub(super) fn trading_stop(s: &mut State, body: &Value) -> Answer {
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    if text("category") != "linear" {
        return error(200, 10001, "params error: category");
    }
    if text("tpslMode") != "Full" {
        return error(200, 10001, "params error: tpslMode");
    }
    let symbol = text("symbol").to_string();
    let Some(idx) = body.get("positionIdx").and_then(Value::as_i64) else {
        return error(200, 10001, "params error: positionIdx");
    };
    let fits = if s.hedged.contains(&symbol) {
        matches!(idx, 1 | 2)
    } else {
        idx == 0
    };
    if !fits {
        return error(200, 10001, "position idx not match position mode");
    }
    let (take_profit, stop_loss) = match (level(body, "takeProfit"), level(body, "stopLoss")) {
        (Ok(tp), Ok(sl)) => (tp, sl),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal,
    };
    let market = s.prices.get(&symbol).copied().unwrap_or_default();
    let Some(position) = s
        .positions
        .get_mut(&(symbol, idx))
        .filter(|p| !p.size.is_zero())
    else {
        return error(200, 10001, "can not set tp/sl/ts for zero position");
    };
    // Absent keeps a level, "0" clears it.
    let keep_or_set = |old: Option<Decimal>, new: Option<Decimal>| match new {
        None => old,
        Some(p) if p.is_zero() => None,
        Some(p) => Some(p),
    };
    let new = TpSl {
        take_profit: keep_or_set(position.tpsl.take_profit, take_profit),
        stop_loss: keep_or_set(position.tpsl.stop_loss, stop_loss),
    };
    if let Err(refusal) = check_sides(new, position.size > Decimal::ZERO, market) {
        return refusal;
    }
    if new == position.tpsl {
        return error(200, 34040, "not modified");
    }
    position.tpsl = new;
    ok(json!({}))
}

//! Alpaca's bracket orders in the mock: the checks Alpaca makes on an
//! entry's take-profit and stop-loss (422 otherwise), the two legs it
//! creates with the entry and holds (`held`) until the entry fills, and
//! their activation then. Once active, the legs are one-cancels-the-other
//! (see `book`).

use rust_decimal::Decimal;
use serde_json::Value;

use super::{MockOrder, State, book::price_at, error};
use crate::mock_venue::Answer;

/// A bracket entry's exits.
pub(super) struct Exits {
    target: Decimal,
    stop: Decimal,
}

/// The smallest distance Alpaca wants between an exit and the entry's
/// base price.
const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Checks a bracket entry on `side` the way Alpaca does: whole shares, a
/// `day` or `gtc` order, a take-profit limit price and a stop-loss stop
/// price on their sides of `base` (the entry's limit or stop price, else
/// the market) by at least a cent.
pub(super) fn check(
    body: &Value,
    side: &str,
    tif: &str,
    qty: Decimal,
    base: Decimal,
) -> Result<Exits, Answer> {
    let refuse = |message: &str| Err(error(422, 42210000, message));
    if !qty.fract().is_zero() {
        return refuse("fractional orders must be simple orders");
    }
    if !matches!(tif, "day" | "gtc") {
        return refuse("bracket orders must be day or gtc orders");
    }
    let (Some(target), Some(stop)) = (
        price_at(body, "/take_profit/limit_price"),
        price_at(body, "/stop_loss/stop_price"),
    ) else {
        return refuse("bracket orders require take_profit.limit_price and stop_loss.stop_price");
    };
    let buy = side == "buy";
    if buy && target < base + CENT || !buy && target > base - CENT {
        return refuse(&format!(
            "take_profit.limit_price must be {} base_price {base} by 0.01",
            if buy { "above" } else { "below" }
        ));
    }
    if buy && stop > base - CENT || !buy && stop < base + CENT {
        return refuse(&format!(
            "stop_loss.stop_price must be {} base_price {base} by 0.01",
            if buy { "below" } else { "above" }
        ));
    }
    Ok(Exits { target, stop })
}

/// Adds the legs of the bracket entry `entry` (already in the book),
/// held until it fills: a take-profit limit and a stop-loss stop on the
/// other side, under ids and client order ids Alpaca assigns.
pub(super) fn add_legs(s: &mut State, entry: &MockOrder, exits: Exits) {
    let side = if entry.side == "buy" { "sell" } else { "buy" };
    let mut ids = Vec::new();
    for (kind, limit, stop) in [
        ("limit", Some(exits.target), None),
        ("stop", None, Some(exits.stop)),
    ] {
        let id = format!("order-{}", s.next_id);
        s.next_id += 1;
        s.orders.push(MockOrder {
            id: id.clone(),
            client_order_id: format!("alpaca-{id}"),
            side: side.into(),
            kind: kind.into(),
            limit,
            stop,
            status: "held",
            legs: Vec::new(),
            parent: Some(entry.id.clone()),
            ..entry.clone()
        });
        ids.push(id);
    }
    if let Some(parent) = s.orders.iter_mut().find(|o| o.id == entry.id) {
        parent.legs = ids;
    }
}

/// Activates the held legs of the bracket entry `entry_id`, which
/// filled.
pub(super) fn activate(s: &mut State, entry_id: &str) {
    for leg in &mut s.orders {
        if leg.parent.as_deref() == Some(entry_id) && leg.status == "held" {
            leg.status = "new";
        }
    }
}

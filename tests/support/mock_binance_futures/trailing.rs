//! The futures mock's trailing stops, as Binance runs
//! `TRAILING_STOP_MARKET`: a `callbackRate` of 0.1 % to 10 % in steps of
//! 0.1 %, an optional `activationPrice` the mark must reach before the
//! stop trails (from the mark at placement without one), and a trigger
//! once the mark retraces the rate from its best since.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::{FuturesOrder, book::decimal_param};
use crate::{mock_binance::error, mock_venue::Answer};

/// Binance's checks of a trailing stop's parameters: a callback rate in
/// range and on its step, and no trigger price (the activation price
/// takes its place).
pub(super) fn check(p: &HashMap<String, String>) -> Result<(), Answer> {
    let kind = p.get("type").map(String::as_str);
    let rate = decimal_param(p, "callbackRate");
    if kind != Some("TRAILING_STOP_MARKET") {
        if rate.is_some() || p.contains_key("activationPrice") {
            return Err(error(
                400,
                -1106,
                "Parameter 'callbackRate' sent when not required.",
            ));
        }
        return Ok(());
    }
    let Some(rate) = rate else {
        return Err(error(
            400,
            -1102,
            "Mandatory parameter 'callbackRate' was not sent, was empty/null, or malformed.",
        ));
    };
    let step = Decimal::new(1, 1);
    if rate < step || rate > Decimal::TEN || !(rate % step).is_zero() {
        return Err(error(400, -2007, "Invalid callBack rate."));
    }
    if p.contains_key("stopPrice") {
        return Err(error(
            400,
            -1106,
            "Parameter 'stopPrice' sent when not required.",
        ));
    }
    Ok(())
}

/// Where a new trailing stop starts: at the mark, unless it waits for its
/// activation price.
pub(super) fn start(activation: Option<Decimal>, mark: Decimal) -> Option<Decimal> {
    activation.is_none().then_some(mark)
}

/// A trailing stop's best mark follows the market its way, once the mark
/// has reached its activation price (a sell's from below, a buy's from
/// above).
pub(super) fn follow(order: &mut FuturesOrder, mark: Decimal) {
    if order.callback_rate.is_none() {
        return;
    }
    let selling = order.side == "SELL";
    let best = match (order.trail_best, order.activation_price) {
        (Some(best), _) => best,
        (None, Some(at)) if (selling && mark >= at) || (!selling && mark <= at) => mark,
        _ => return,
    };
    order.trail_best = Some(if selling {
        best.max(mark)
    } else {
        best.min(mark)
    });
}

/// Whether the mark retraced the callback rate from the best: the price
/// the stop executes at, if so.
pub(super) fn triggered(order: &FuturesOrder, mark: Decimal) -> Option<Decimal> {
    let best = order.trail_best?;
    let retrace = best * order.callback_rate? / Decimal::ONE_HUNDRED;
    let hit = if order.side == "SELL" {
        mark <= best - retrace
    } else {
        mark >= best + retrace
    };
    hit.then_some(mark)
}

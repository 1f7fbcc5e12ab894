//! Trailing stops (`trailingDelta`, in basis points) checked and trailed
//! the way Binance's spot trailing-stop FAQ describes them: only on
//! `STOP_LOSS` and `STOP_LOSS_LIMIT` orders here, within the
//! `TRAILING_DELTA` filter. A trailing stop without a stop price trails
//! from the market at placement; with one, from the first price that
//! reaches it. A sell triggers once the price falls the delta from the
//! highest price since, a buy once it rises the delta from the lowest.

use std::{collections::HashMap, ops::RangeInclusive};

use rust_decimal::Decimal;

use super::{MockOrder, State, book::is_open, error};
use crate::mock_venue::Answer;

/// The mock symbols' `TRAILING_DELTA` filter, as on most Binance symbols.
pub(super) const DELTA_BIPS: RangeInclusive<u32> = 10..=2000;
/// Basis points in one.
const BIPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The trailing delta parameter `name` of a new order of type `kind`,
/// checked as Binance checks it; `None` when not sent.
pub(super) fn trailing_delta(
    p: &HashMap<String, String>,
    name: &str,
    kind: &str,
) -> Result<Option<u32>, Answer> {
    let Some(text) = p.get(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if !matches!(kind, "STOP_LOSS" | "STOP_LOSS_LIMIT") {
        return Err(error(
            400,
            -1106,
            &format!("Parameter '{name}' sent when not required."),
        ));
    }
    let Ok(bips) = text.parse::<u32>() else {
        return Err(error(
            400,
            -1100,
            &format!(
                "Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
            ),
        ));
    };
    if !DELTA_BIPS.contains(&bips) {
        return Err(error(400, -1013, "Filter failure: TRAILING_DELTA"));
    }
    Ok(Some(bips))
}

/// The best price a new trailing order starts from: the market, unless a
/// stop price makes it wait for the market to reach that first.
pub(super) fn starting_best(
    trailing_delta: Option<u32>,
    stop_price: Option<Decimal>,
    market: Option<Decimal>,
) -> Option<Decimal> {
    trailing_delta.and(stop_price.is_none().then_some(market).flatten())
}

/// Records `market` in every open trailing order of `symbol`: one waiting
/// for its stop price starts trailing once the market reaches it, and a
/// trailing one keeps the best price seen.
pub(super) fn follow(s: &mut State, symbol: &str, market: Decimal) {
    for order in s
        .orders
        .iter_mut()
        .filter(|o| o.symbol == symbol && o.trailing_delta.is_some() && is_open(o.status))
    {
        let sell = order.side != "BUY";
        order.trail_best = match (order.trail_best, order.stop_price) {
            (Some(best), _) if sell => Some(best.max(market)),
            (Some(best), _) => Some(best.min(market)),
            (None, Some(stop)) if (sell && market <= stop) || (!sell && market >= stop) => {
                Some(market)
            }
            (None, _) => None,
        };
    }
}

/// Whether a trailing order triggers at `market`: the price retraced its
/// delta from the best price since it started trailing.
pub(super) fn triggered(order: &MockOrder, market: Decimal) -> bool {
    let (Some(bips), Some(best)) = (order.trailing_delta, order.trail_best) else {
        return false;
    };
    let delta = Decimal::from(bips) / BIPS;
    if order.side == "BUY" {
        market >= best * (Decimal::ONE + delta)
    } else {
        market <= best * (Decimal::ONE - delta)
    }
}

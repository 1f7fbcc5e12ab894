//! The Bybit mock's position modes, per linear symbol: one-way (mode 0,
//! `positionIdx` 0) or hedge (mode 3: `positionIdx` 1 for the long side,
//! 2 for the short). Like Bybit, the mode changes only while the symbol
//! holds no position, and an order's `positionIdx` must fit the mode and
//! the side it trades (a buy opens the long side or reduces the short,
//! a sell the other way round). Spot has no positions: no `positionIdx`.

use serde_json::Value;

use super::{State, error, routes::ok};
use crate::mock_venue::Answer;

/// `POST /v5/position/switch-mode`.
pub(super) fn switch_mode(s: &mut State, body: &Value) -> Answer {
    let symbol = body
        .get("symbol")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let hedge = match body.get("mode").and_then(Value::as_i64) {
        Some(0) => false,
        Some(3) => true,
        _ => return error(200, 10001, "params error: mode"),
    };
    if s.hedged.contains(&symbol) == hedge {
        return error(200, 110025, "Position mode is not modified");
    }
    let open = s
        .positions
        .iter()
        .any(|((held, _), p)| *held == symbol && !p.size.is_zero());
    if open {
        return error(
            200,
            110024,
            "You have an existing position, so position mode cannot be switched",
        );
    }
    if hedge {
        s.hedged.insert(symbol);
    } else {
        s.hedged.remove(&symbol);
    }
    ok(serde_json::json!({}))
}

/// The position an order trades, from its `positionIdx`: refused when
/// it does not fit the symbol's mode or the order's side.
pub(super) fn position_idx(
    s: &State,
    body: &Value,
    (spot, symbol): (bool, &str),
    (buy, reduce_only): (bool, bool),
) -> Result<i64, Answer> {
    let sent = body.get("positionIdx");
    if spot {
        return match sent {
            None => Ok(0),
            Some(_) => Err(error(200, 10001, "params error: positionIdx on spot")),
        };
    }
    let idx = match sent {
        None => 0,
        Some(idx) => idx
            .as_i64()
            .ok_or_else(|| error(200, 10001, "params error: positionIdx"))?,
    };
    let expected = if !s.hedged.contains(symbol) {
        0
    } else if buy != reduce_only {
        1
    } else {
        2
    };
    if idx != expected {
        return Err(error(200, 10001, "position idx not match position mode"));
    }
    Ok(idx)
}

//! The futures mock's rules for `closePosition=true`, as Binance's: only
//! on `STOP_MARKET` and `TAKE_PROFIT_MARKET`, and never with `reduceOnly`
//! (a quantity is refused where the order's quantity is read).

use std::collections::HashMap;

use crate::{mock_binance::error, mock_venue::Answer};

/// Refuses a close-position order Binance would refuse.
pub(super) fn check(p: &HashMap<String, String>) -> Result<(), Answer> {
    if p.get("closePosition").map(String::as_str) != Some("true") {
        return Ok(());
    }
    let kind = p.get("type").map(String::as_str).unwrap_or_default();
    if !matches!(kind, "STOP_MARKET" | "TAKE_PROFIT_MARKET") {
        return Err(error(
            400,
            -4136,
            &format!("Target strategy invalid for orderType {kind},closePosition true"),
        ));
    }
    if p.contains_key("reduceOnly") {
        return Err(error(
            400,
            -1106,
            "Parameter 'reduceOnly' sent when not required.",
        ));
    }
    Ok(())
}

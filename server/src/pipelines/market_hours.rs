//! Market hours in a pipeline: an order for an instrument whose market
//! the venue says is closed is refused (`market_closed`, naming the next
//! open), or, when the pipeline's `order.outside_market_hours` is
//! `queue`, sent for the venue to hold until the open and followed to its
//! fill like any other.

use chrono::{TimeZone, Utc};

use super::stop::{SkipReason, Stop};
use crate::{
    market::hours::OutsideMarketHours,
    orders::exchanges::{Exchange, MarketHours},
};

/// Checks `symbol`'s market at `exchange` under the pipeline's `rule`.
pub(super) async fn check(
    exchange: &dyn Exchange,
    symbol: &str,
    rule: OutsideMarketHours,
) -> Result<(), Stop> {
    let hours = exchange.market_hours(symbol).await.map_err(|e| {
        Stop::Fail(format!(
            "cannot tell whether the market for {symbol} is open: {e}"
        ))
    })?;
    match (hours, rule) {
        (MarketHours::Closed { next_open_ms }, OutsideMarketHours::Refuse) => {
            let opens = Utc
                .timestamp_millis_opt(next_open_ms)
                .single()
                .map_or_else(|| "an unknown time".into(), |t| t.to_rfc3339());
            Err(Stop::Skip(
                SkipReason::MarketClosed,
                format!(
                    "market_closed: the market for {symbol} at `{}` is closed until {opens}",
                    exchange.name()
                ),
            ))
        }
        _ => Ok(()),
    }
}

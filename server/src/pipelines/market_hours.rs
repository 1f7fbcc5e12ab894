//! Market hours in a pipeline: an order for a stock whose market the
//! venue says is closed is refused (`market_closed`, naming the next
//! open), or, when the pipeline's `order.outside_market_hours` is
//! `queue`, sent for the venue to hold until the open and followed to its
//! fill like any other.

use chrono::{TimeZone, Utc};

use super::{
    order_plan::OrderPlan,
    stop::{SkipReason, Stop},
};
use crate::{
    market::{
        hours::OutsideMarketHours,
        instrument::{Instrument, InstrumentKind},
    },
    orders::exchanges::{Exchange, MarketHours},
};

/// Checks the market of `instrument` at `exchange` under the pipeline's
/// `order.outside_market_hours`; only stocks trade in sessions.
pub(super) async fn check(
    exchange: &dyn Exchange,
    instrument: &Instrument,
    order: &OrderPlan,
) -> Result<(), Stop> {
    if instrument.kind != InstrumentKind::Equity {
        return Ok(());
    }
    let symbol = &instrument.symbol;
    let hours = exchange.market_hours(symbol).await.map_err(|e| {
        Stop::Fail(format!(
            "cannot tell whether the market for {symbol} is open: {e}"
        ))
    })?;
    match (hours, order.outside_market_hours) {
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

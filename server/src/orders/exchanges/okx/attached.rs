//! Attached TP/SL: an entry that carries its exits sends them in the same
//! `POST /api/v5/trade/order` as `attachAlgoOrds`, one take-profit and
//! one stop-loss keyed by the exits' group (`attachAlgoClOrdId`), so they
//! are placed exactly once, with the entry. When the entry fills, OKX
//! places them as one algo order whose `algoClOrdId` is that group (an
//! `oco` of both, closing only the position on a swap). The bracket's
//! legs are adopted from it, and found and canceled through it, as a spot
//! `oco` group's legs are (see `oco`); nothing is ever placed for them.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    OkxExchange,
    mapping::{order_error, venue_client_id},
    rest::Failure,
};
use crate::{
    model::order::AttachedExits,
    orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket},
};

impl OkxExchange {
    /// The legs of the algo order OKX attached to the entry with client
    /// order id `entry`, stop first. With no such algo order: refused
    /// when the entry is filled (the position is unprotected) or unknown
    /// to OKX, unknown while OKX shows it unfilled or cannot be read.
    pub(super) async fn adopt_attached(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
        entry: &str,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let group = stop.oco_group.as_deref().ok_or_else(|| {
            ExchangeError::Rejected("oco_group: an attached exit names its group".into())
        })?;
        let instrument = self.instrument(&stop.symbol).await?;
        let unsure = |failure| adoption_error(failure, &stop.symbol);
        if let Some(algo) = self.algo(group).await.map_err(unsure)? {
            let stop = self.oco_leg(&algo, stop, &instrument).await;
            let target = self.oco_leg(&algo, target, &instrument).await;
            return Ok([stop.map_err(unsure)?, target.map_err(unsure)?]);
        }
        match self.fetch_order(entry, &instrument).await.map_err(unsure)? {
            Some(order) if !order.fills.is_empty() => Err(ExchangeError::Rejected(format!(
                "OKX holds no TP/SL algo order `{group}` for the filled entry `{entry}`: the \
                 position is unprotected"
            ))),
            Some(_) => Err(ExchangeError::Unknown(format!(
                "OKX shows the entry `{entry}` unfilled, so it has not attached its exits yet"
            ))),
            None => Err(ExchangeError::Rejected(format!(
                "OKX has no entry `{entry}` to attach exits `{group}` to"
            ))),
        }
    }
}

/// `attachAlgoOrds` for an entry carrying `exits`: the take-profit a limit
/// at its price, the stop a market (`-1`) at its trigger.
pub(super) fn attach_algo_orders(exits: &AttachedExits) -> Result<Value, ExchangeError> {
    let decimal = |d: Decimal| d.normalize().to_string();
    Ok(json!([{
        "attachAlgoClOrdId": venue_client_id(&exits.group)?,
        "tpTriggerPx": decimal(exits.target_price),
        "tpOrdPx": decimal(exits.target_price),
        "slTriggerPx": decimal(exits.stop_price),
        "slOrdPx": "-1",
    }]))
}

/// A failed adoption: OKX's refusal as such; anything else leaves the
/// legs unknown, to be looked up again.
fn adoption_error(failure: Failure, symbol: &str) -> ExchangeError {
    match order_error(failure, symbol) {
        refused @ ExchangeError::Rejected(_) => refused,
        other => ExchangeError::Unknown(other.to_string()),
    }
}

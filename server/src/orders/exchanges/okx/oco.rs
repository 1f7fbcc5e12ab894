//! Native spot one-cancels-the-other: OKX's `oco` algo order
//! (`POST /api/v5/trade/order-algo`, `ordType=oco`), one order holding a
//! take-profit (`tpTriggerPx`/`tpOrdPx`) and a stop (`slTriggerPx`/
//! `slOrdPx`) that reserves the base (or quote) once for both.
//!
//! OKX keys the group by one `algoClOrdId`: the group's id (the legs'
//! `oco_group`, a client-order-id-shaped digest). It is placed exactly
//! once through [`OkxExchange::place_with_lookup`], looked up by that id;
//! each leg is then found, and canceled, through its group: live, both
//! work; canceled, both are; effective, the side OKX triggered
//! (`actualSide`) is the order it placed and the other leg is canceled.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    OkxExchange,
    algo::{ALGO_PATH, AlgoReply, stop_prices},
    mapping::{Instrument, read_error, venue_client_id},
    rest::Failure,
};
use crate::{
    market::side::Side,
    model::order::{OrderStatus, OrderType},
    orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket},
};

impl OkxExchange {
    /// Places a spot bracket's legs as one `oco` algo order; returns the
    /// legs, stop first, both working.
    pub(super) async fn place_spot_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
        instrument: &Instrument,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let group = group_ticket(stop)?;
        let body = oco_body(stop, target, instrument, &group.client_order_id)?;
        let placed = self.place_with_lookup(&group, ALGO_PATH, &body).await?;
        let working = ExchangeOrder {
            status: OrderStatus::Submitted,
            fills: Vec::new(),
            reason: String::new(),
            ..placed
        };
        Ok([working.clone(), working])
    }

    /// One leg of a spot `oco` group as OKX now holds it; `None` when OKX
    /// has no such group.
    pub(super) async fn fetch_oco_leg(
        &self,
        leg: &OrderTicket,
        group: &str,
        instrument: &Instrument,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let Some(algo) = self.algo(group).await.map_err(read_error)? else {
            return Ok(None);
        };
        self.oco_leg(&algo, leg, instrument)
            .await
            .map(Some)
            .map_err(read_error)
    }

    /// One leg of the `oco` algo order `algo`: live, it works; canceled,
    /// it is; effective, it is the order OKX placed if its side
    /// triggered, else canceled.
    pub(super) async fn oco_leg(
        &self,
        algo: &AlgoReply,
        leg: &OrderTicket,
        instrument: &Instrument,
    ) -> Result<ExchangeOrder, Failure> {
        let status = match algo.state.as_str() {
            "live" | "pause" | "partially_effective" => OrderStatus::Submitted,
            "canceled" => OrderStatus::Canceled,
            "order_failed" => OrderStatus::Rejected,
            "effective" => match (algo.actual_side.as_str(), is_stop(leg)) {
                ("sl", true) | ("tp", false) => return self.triggered(algo, instrument).await,
                ("sl" | "tp", _) => OrderStatus::Canceled,
                (other, _) => {
                    return Err(Failure::NoAnswer(format!(
                        "OKX reported the unfamiliar oco side `{other}`"
                    )));
                }
            },
            other => {
                return Err(Failure::NoAnswer(format!(
                    "OKX reported the unfamiliar algo order state `{other}`"
                )));
            }
        };
        Ok(ExchangeOrder {
            exchange_order_id: algo.algo_id.clone(),
            status,
            fills: Vec::new(),
            reason: String::new(),
        })
    }

    /// Cancels a leg of a spot `oco` group: the whole group, as OKX has
    /// it; then reports the leg.
    pub(super) async fn cancel_oco_leg(
        &self,
        leg: &OrderTicket,
        group: &str,
        instrument: &Instrument,
    ) -> Result<ExchangeOrder, ExchangeError> {
        self.cancel_algo(group, instrument).await?;
        self.fetch_oco_leg(leg, group, instrument)
            .await?
            .ok_or(ExchangeError::NotFound)
    }
}

/// Whether `leg` is the group's stop (else its take-profit).
fn is_stop(leg: &OrderTicket) -> bool {
    matches!(leg.order_type, OrderType::Stop | OrderType::StopLimit)
}

/// The ticket the group is placed and looked up under: the stop's, keyed
/// by the group's id.
fn group_ticket(stop: &OrderTicket) -> Result<OrderTicket, ExchangeError> {
    let group = stop.oco_group.clone().ok_or_else(|| {
        ExchangeError::Rejected("oco_group: a bracket's legs need their group".into())
    })?;
    Ok(OrderTicket {
        client_order_id: group,
        ..stop.clone()
    })
}

/// The `oco` algo order for `stop` and `target`: same side and size, the
/// take-profit a limit at its price, the stop a market (or its limit).
fn oco_body(
    stop: &OrderTicket,
    target: &OrderTicket,
    instrument: &Instrument,
    group: &str,
) -> Result<Value, ExchangeError> {
    let decimal = |d: Decimal| d.normalize().to_string();
    let (trigger, stop_price) = stop_prices(stop)?;
    let take = target.price.ok_or_else(|| {
        ExchangeError::Rejected("price: a take-profit leg needs a limit price".into())
    })?;
    if stop.side != target.side || stop.quantity != target.quantity {
        return Err(ExchangeError::Rejected(
            "unsupported_oco: OKX's oco legs share one side and size".into(),
        ));
    }
    Ok(json!({
        "instId": instrument.inst_id,
        "tdMode": "cash",
        "side": if stop.side == Side::Sell { "sell" } else { "buy" },
        "ordType": "oco",
        "sz": decimal(instrument.venue_size(stop.quantity)?),
        "tgtCcy": "base_ccy",
        "tpTriggerPx": decimal(take),
        "tpOrdPx": decimal(take),
        "slTriggerPx": decimal(trigger),
        "slOrdPx": stop_price,
        "algoClOrdId": venue_client_id(group)?,
    }))
}

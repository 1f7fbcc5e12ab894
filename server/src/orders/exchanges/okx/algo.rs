//! Brackets and their stop legs. A perpetual's bracket is two reduce-only
//! legs: the stop an OKX conditional algo order (`ordType=conditional`,
//! keyed by `algoClOrdId`), the target a plain limit order; the desk's
//! OCO emulation cancels one when the other is done. A spot bracket is
//! refused: OKX's spot one-cancels-the-other is an `oco` algo order this
//! connector does not send yet, and two separate legs would each lock
//! the same base asset.

use http::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    OkxExchange,
    mapping::{Instrument, lookup_id, order_body, order_error, venue_client_id},
    replies::OrderReply,
    rest::Failure,
};
use crate::{
    market::side::Side,
    model::order::{OrderStatus, OrderType},
    orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket},
};

/// Where algo orders are placed and looked up.
pub(super) const ALGO_PATH: &str = "/api/v5/trade/order-algo";

/// One algo order of `GET /api/v5/trade/order-algo`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlgoReply {
    pub(super) algo_id: String,
    pub(super) state: String,
    /// The order it placed when it triggered; empty before.
    #[serde(default)]
    pub(super) ord_id: String,
    /// Which leg of an `oco` triggered (`tp` or `sl`); empty before.
    #[serde(default)]
    pub(super) actual_side: String,
}

impl OkxExchange {
    /// Places a bracket's two legs (see the module doc).
    pub(super) async fn place_bracket(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let instrument = self.instrument(&stop.symbol).await?;
        if instrument.inst_type != "SWAP" {
            return self.place_spot_oco(stop, target, &instrument).await;
        }
        let mode = self.margin_mode(&stop.symbol);
        let stop = OrderTicket {
            reduce_only: true,
            ..stop.clone()
        };
        let target = OrderTicket {
            reduce_only: true,
            ..target.clone()
        };
        let stop_body = self.positioned(stop_body(&stop, &instrument, mode)?, &stop, &instrument);
        let target_body = self.positioned(
            order_body(&target, &instrument, mode)?,
            &target,
            &instrument,
        );
        let stop_view = self.place_with_lookup(&stop, ALGO_PATH, &stop_body).await?;
        match self
            .place_with_lookup(&target, "/api/v5/trade/order", &target_body)
            .await
        {
            Ok(target_view) => Ok([stop_view, target_view]),
            Err(err) => {
                if let Err(cancel) = self.cancel_algo(&stop.client_order_id, &instrument).await {
                    tracing::warn!(client_order_id = %stop.client_order_id, error = %cancel, "the stop of a failed bracket is not canceled yet");
                }
                Err(err)
            }
        }
    }

    /// Looks a stop leg up by its client order id.
    pub(super) async fn fetch_algo(
        &self,
        client_order_id: &str,
        instrument: &Instrument,
    ) -> Result<Option<ExchangeOrder>, Failure> {
        let Some(algo) = self.algo(client_order_id).await? else {
            return Ok(None);
        };
        let status = match algo.state.as_str() {
            "live" | "pause" => OrderStatus::Submitted,
            "canceled" => OrderStatus::Canceled,
            "order_failed" => OrderStatus::Rejected,
            "effective" | "partially_effective" => {
                return self.triggered(&algo, instrument).await.map(Some);
            }
            other => {
                return Err(Failure::NoAnswer(format!(
                    "OKX reported the unfamiliar algo order state `{other}`"
                )));
            }
        };
        Ok(Some(ExchangeOrder {
            exchange_order_id: algo.algo_id,
            status,
            fills: Vec::new(),
            reason: String::new(),
        }))
    }

    /// Cancels a stop leg; a leg already done is left as it is.
    pub(super) async fn cancel_algo(
        &self,
        client_order_id: &str,
        instrument: &Instrument,
    ) -> Result<(), ExchangeError> {
        let algo = self
            .algo(client_order_id)
            .await
            .map_err(|f| order_error(f, ""))?
            .ok_or(ExchangeError::NotFound)?;
        let body = json!([{ "algoId": algo.algo_id, "instId": instrument.inst_id }]);
        let (_, result) = self
            .rest
            .signed::<Value>(Method::POST, "/api/v5/trade/cancel-algos", &[], Some(&body))
            .await;
        match result {
            Ok(_)
            | Err(Failure::Refused {
                code: 51400..=51402,
                ..
            }) => Ok(()),
            Err(failure) => Err(order_error(failure, "")),
        }
    }

    pub(super) async fn algo(&self, client_order_id: &str) -> Result<Option<AlgoReply>, Failure> {
        self.lookup(ALGO_PATH, &[("algoClOrdId", lookup_id(client_order_id)?)])
            .await
    }

    /// A triggered stop as the order it placed.
    pub(super) async fn triggered(
        &self,
        algo: &AlgoReply,
        instrument: &Instrument,
    ) -> Result<ExchangeOrder, Failure> {
        let (_, result) = self
            .rest
            .signed::<OrderReply>(
                Method::GET,
                "/api/v5/trade/order",
                &[
                    ("instId", instrument.inst_id.clone()),
                    ("ordId", algo.ord_id.clone()),
                ],
                None,
            )
            .await;
        let order = result?.into_iter().next().ok_or_else(|| {
            Failure::NoAnswer("OKX does not show a triggered stop's order".into())
        })?;
        let mut view = self.with_fills(order, instrument).await?;
        view.exchange_order_id = algo.algo_id.clone();
        Ok(view)
    }
}

/// A stop leg as a conditional algo order: market at the trigger, or a
/// limit for a stop-limit.
fn stop_body(
    ticket: &OrderTicket,
    instrument: &Instrument,
    margin: Option<crate::market::margin::MarginMode>,
) -> Result<Value, ExchangeError> {
    let decimal = |d: Decimal| d.normalize().to_string();
    let (trigger, order_price) = stop_prices(ticket)?;
    let mode = margin.ok_or_else(|| {
        ExchangeError::Rejected(format!(
            "no margin mode is known for {}: set its leverage first",
            ticket.symbol
        ))
    })?;
    Ok(json!({
        "instId": instrument.inst_id,
        "tdMode": mode.word(),
        "side": if ticket.side == Side::Sell { "sell" } else { "buy" },
        "ordType": "conditional",
        "sz": decimal(instrument.venue_size(ticket.quantity)?),
        "slTriggerPx": decimal(trigger),
        "slOrdPx": order_price,
        "algoClOrdId": venue_client_id(&ticket.client_order_id)?,
        "reduceOnly": true,
    }))
}

/// A stop leg's trigger and OKX's order price for it: `-1` (a market at
/// the trigger) for a stop, its limit for a stop-limit.
pub(super) fn stop_prices(ticket: &OrderTicket) -> Result<(Decimal, String), ExchangeError> {
    let trigger = ticket.stop_price.ok_or_else(|| {
        ExchangeError::Rejected("stop_price: a stop leg needs a trigger price".into())
    })?;
    let order_price = match (ticket.order_type, ticket.price) {
        (OrderType::StopLimit, Some(price)) => price.normalize().to_string(),
        (OrderType::Stop, _) => "-1".to_string(),
        _ => {
            return Err(ExchangeError::Rejected(
                "price: a stop-limit leg needs a limit price".into(),
            ));
        }
    };
    Ok((trigger, order_price))
}

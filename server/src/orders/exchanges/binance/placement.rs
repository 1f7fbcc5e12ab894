//! Placement with lookup: an order whose outcome is unknown is looked up
//! by its client order id before it is ever sent again.

use std::time::Duration;

use http::Method;
use rust_decimal::Decimal;

use super::{
    BinanceExchange,
    mapping::{order_error, order_params, read_error, venue_symbol},
    replies::{OrderReply, TradeReply},
    rest::Failure,
};
use crate::orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket};

/// Beyond `recvWindow`, the slack allowed for clock uncertainty and for
/// the matching engine to finish a request the gateway accepted.
pub(super) const SETTLE_MARGIN: Duration = Duration::from_secs(2);
/// Times one order is sent at most (each only after the last is known not
/// to have been placed, or was refused unseen).
const MAX_SENDS: u32 = 3;
/// Lookups of an order whose placement outcome is unknown.
const MAX_LOOKUPS: u32 = 5;

impl BinanceExchange {
    /// Places an order, looking up any whose outcome is unknown before
    /// sending it again (see the module doc of `binance`).
    pub(super) async fn place_order(
        &self,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let params = order_params(ticket, self.market, self.hedge_mode)?;
        let mut sends = 0;
        loop {
            sends += 1;
            let (timestamp, result) = self
                .rest
                .signed::<OrderReply>(Method::POST, self.market.paths().order, &params)
                .await;
            let failure = match result {
                // Placed: if its trades cannot be read now, the desk marks
                // it unknown and the next sync completes it.
                Ok(reply) => {
                    return self
                        .with_fills(reply, &ticket.symbol)
                        .await
                        .map_err(|f| ExchangeError::Unknown(format!("placed; {}", read_error(f))));
                }
                Err(failure) => failure,
            };
            match failure {
                Failure::NoAnswer(why) => {
                    tracing::warn!(client_order_id = %ticket.client_order_id, %why, "order outcome unknown; looking it up");
                    if let Some(order) = self
                        .settle(&ticket.client_order_id, &ticket.symbol, timestamp)
                        .await?
                    {
                        return Ok(order);
                    }
                    if sends >= MAX_SENDS {
                        return Err(ExchangeError::Unavailable(format!(
                            "not placed after {sends} attempts: {why}"
                        )));
                    }
                }
                // Spot's -2010 "Duplicate order sent", USDⓈ-M's -4116.
                Failure::Refused { code, message }
                    if (code == -2010 && message.contains("Duplicate")) || code == -4116 =>
                {
                    // An open order already has this client order id: it
                    // is this order, placed by an earlier attempt.
                    return match self.fetch(&ticket.client_order_id, &ticket.symbol).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(ExchangeError::Unknown(message)),
                        Err(err) => Err(ExchangeError::Unknown(err.to_string())),
                    };
                }
                Failure::RateLimited { retry_after }
                    if retry_after <= self.max_retry_wait && sends < MAX_SENDS =>
                {
                    tokio::time::sleep(retry_after).await;
                }
                other => return Err(order_error(other, &ticket.symbol)),
            }
        }
    }

    /// Looks up an order whose placement outcome is unknown. `None` means
    /// it was not placed and cannot be placed by that request any more.
    async fn settle(
        &self,
        client_order_id: &str,
        symbol: &str,
        sent_timestamp: i64,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let final_after = sent_timestamp
            + self.rest.recv_window_ms()
            + i64::try_from(SETTLE_MARGIN.as_millis()).unwrap_or(2000);
        let mut last_error = String::new();
        for attempt in 0..MAX_LOOKUPS {
            match self.fetch(client_order_id, symbol).await {
                Ok(Some(order)) => return Ok(Some(order)),
                Ok(None) => {
                    let now = self.rest.server_now_ms();
                    if now >= final_after {
                        return Ok(None);
                    }
                    let wait = u64::try_from(final_after - now).unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(err) => {
                    last_error = err.to_string();
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        Err(ExchangeError::Unknown(format!(
            "sent, but no lookup could tell whether Binance placed it: {last_error}"
        )))
    }

    /// Brings an order reply up to a full view, with its trades.
    pub(super) async fn with_fills(
        &self,
        reply: OrderReply,
        symbol: &str,
    ) -> Result<ExchangeOrder, Failure> {
        let mut view = reply.view();
        if reply.executed_qty > Decimal::ZERO && view.fills.is_empty() {
            let (_, trades) = self
                .rest
                .signed::<Vec<TradeReply>>(
                    Method::GET,
                    self.market.paths().trades,
                    &[
                        ("symbol", venue_symbol(symbol)),
                        ("orderId", reply.order_id.to_string()),
                    ],
                )
                .await;
            view.fills = trades?.into_iter().map(TradeReply::fill).collect();
        }
        Ok(view)
    }
}

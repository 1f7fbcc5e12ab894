//! Placement with lookup: an order whose outcome is unknown is looked up
//! by its client order id before it is ever sent again.

use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::{OkxExchange, mapping::order_error, rest::Failure};
use crate::orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket};

/// Beyond the receive window, the slack allowed for clock uncertainty
/// and for the matching engine to finish a request the gateway accepted.
pub(super) const SETTLE_MARGIN: Duration = Duration::from_secs(2);
/// Times one order is sent at most (each only after the last is known not
/// to have been placed, or was refused unseen).
const MAX_SENDS: u32 = 3;
/// Lookups of an order whose placement outcome is unknown.
const MAX_LOOKUPS: u32 = 5;
/// 51016: an order with this `clOrdId` exists already.
const DUPLICATE_CLIENT_ID: i64 = 51016;

impl OkxExchange {
    /// Sends `body` to `path` (an order or an algo order carrying the
    /// ticket's client order id), looking up any whose outcome is unknown
    /// before sending it again (see the module doc of `okx`).
    pub(super) async fn place_with_lookup(
        &self,
        ticket: &OrderTicket,
        path: &str,
        body: &Value,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let mut sends = 0;
        loop {
            sends += 1;
            let (timestamp, result) = self
                .rest
                .signed::<Value>(Method::POST, path, &[], Some(body))
                .await;
            let failure = match result {
                // Placed: if it cannot be read now, the desk marks it
                // unknown and the next sync completes it.
                Ok(_) => {
                    return match self.fetch(&ticket.client_order_id, &ticket.symbol).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(ExchangeError::Unknown(
                            "placed, but OKX does not show it yet".into(),
                        )),
                        Err(err) => Err(ExchangeError::Unknown(format!("placed; {err}"))),
                    };
                }
                Err(failure) => failure,
            };
            match failure {
                Failure::NoAnswer(why) => {
                    tracing::warn!(client_order_id = %ticket.client_order_id, %why, "order outcome unknown; looking it up");
                    if let Some(order) = self.settle(ticket, timestamp).await? {
                        return Ok(order);
                    }
                    if sends >= MAX_SENDS {
                        return Err(ExchangeError::Unavailable(format!(
                            "not placed after {sends} attempts: {why}"
                        )));
                    }
                }
                Failure::Refused {
                    code: DUPLICATE_CLIENT_ID,
                    message,
                } => {
                    // It is this order, placed by an earlier attempt.
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
        ticket: &OrderTicket,
        sent_timestamp: i64,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let final_after = sent_timestamp
            + self.rest.recv_window_ms()
            + i64::try_from(SETTLE_MARGIN.as_millis()).unwrap_or(2000);
        let mut last_error = String::new();
        for attempt in 0..MAX_LOOKUPS {
            match self.fetch(&ticket.client_order_id, &ticket.symbol).await {
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
            "sent, but no lookup could tell whether OKX placed it: {last_error}"
        )))
    }
}

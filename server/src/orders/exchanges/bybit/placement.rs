//! Placement with lookup: an order whose outcome is unknown is looked up
//! by its `orderLinkId` before it is ever sent again, and only sent again
//! once Bybit can no longer accept the first request.

use std::time::Duration;

use rust_decimal::Decimal;

use super::{
    BybitExchange,
    mapping::{category, market_params, order_body, order_error, read_error},
    replies::{Created, ExecutionReply, Listed, OrderReply},
    rest::Failure,
};
use crate::orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket};

/// Beyond the receive window, the slack allowed for clock uncertainty and
/// for the matching engine to finish a request the gateway accepted.
pub(super) const SETTLE_MARGIN: Duration = Duration::from_secs(2);
/// Times one order is sent at most.
const MAX_SENDS: u32 = 3;
/// Lookups of an order whose placement outcome is unknown.
const MAX_LOOKUPS: u32 = 5;

impl BybitExchange {
    /// Places an order (see the module doc of `bybit`).
    pub(super) async fn place_order(
        &self,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let body = order_body(ticket)?;
        let (id, symbol) = (&ticket.client_order_id, &ticket.symbol);
        for sends in 1..=MAX_SENDS {
            let (timestamp, result) = self.rest.post::<Created>("/v5/order/create", &body).await;
            match result {
                Ok(created) => {
                    return match self.lookup(id, symbol).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(ExchangeError::Unknown(format!(
                            "Bybit acknowledged order {} but does not show it yet",
                            created.order_id
                        ))),
                        Err(f) => Err(ExchangeError::Unknown(format!("placed; {}", read_error(f)))),
                    };
                }
                Err(Failure::NoAnswer(why)) => {
                    tracing::warn!(client_order_id = %id, %why, "order outcome unknown; looking it up");
                    if let Some(order) = self.settle(id, symbol, timestamp).await? {
                        return Ok(order);
                    }
                    if sends == MAX_SENDS {
                        return Err(ExchangeError::Unavailable(format!(
                            "not placed after {sends} attempts: {why}"
                        )));
                    }
                }
                // A duplicate orderLinkId: an earlier attempt placed it.
                Err(Failure::Refused {
                    code: 110072 | 170141,
                    message,
                }) => {
                    return match self.lookup(id, symbol).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(ExchangeError::Unknown(message)),
                        Err(f) => Err(ExchangeError::Unknown(read_error(f).to_string())),
                    };
                }
                Err(Failure::RateLimited { retry_after })
                    if retry_after <= self.max_retry_wait && sends < MAX_SENDS =>
                {
                    tokio::time::sleep(retry_after).await;
                }
                Err(other) => return Err(order_error(other, symbol)),
            }
        }
        Err(ExchangeError::Unavailable(format!(
            "not placed after {MAX_SENDS} attempts"
        )))
    }

    /// Looks up an order whose placement outcome is unknown. `None`: it
    /// was not placed, and that request can no longer place it.
    async fn settle(
        &self,
        id: &str,
        symbol: &str,
        sent_at: i64,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let margin = i64::try_from(SETTLE_MARGIN.as_millis()).unwrap_or(2_000);
        let deadline = sent_at + self.rest.recv_window_ms() + margin;
        let mut last_error = String::new();
        for attempt in 0..MAX_LOOKUPS {
            let wait = match self.lookup(id, symbol).await {
                Ok(Some(order)) => return Ok(Some(order)),
                Ok(None) => match u64::try_from(deadline - self.rest.server_now_ms()) {
                    Ok(left) if left > 0 => Duration::from_millis(left),
                    _ => return Ok(None),
                },
                Err(failure) => {
                    last_error = read_error(failure).to_string();
                    Duration::from_millis(200 << attempt)
                }
            };
            tokio::time::sleep(wait).await;
        }
        Err(ExchangeError::Unknown(format!(
            "sent, but no lookup could tell whether Bybit placed it: {last_error}"
        )))
    }

    /// The order under `orderLinkId`, open (`/v5/order/realtime`) or
    /// closed (`/v5/order/history`), with its fills.
    pub(super) async fn lookup(
        &self,
        id: &str,
        symbol: &str,
    ) -> Result<Option<ExchangeOrder>, Failure> {
        let mut params = market_params(symbol);
        params.push(("orderLinkId", id.to_string()));
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            let (_, result) = self.rest.get::<Listed<OrderReply>>(path, &params).await;
            if let Some(reply) = result?.list.into_iter().next() {
                return self.with_fills(reply, symbol).await.map(Some);
            }
        }
        Ok(None)
    }

    /// The order's view with its fills from `/v5/execution/list`.
    async fn with_fills(&self, reply: OrderReply, symbol: &str) -> Result<ExchangeOrder, Failure> {
        let mut view = reply.view();
        if reply.cum_exec_qty <= Decimal::ZERO {
            return Ok(view);
        }
        let mut params = market_params(symbol);
        params.push(("orderId", reply.order_id.clone()));
        let (_, result) = self
            .rest
            .get::<Listed<ExecutionReply>>("/v5/execution/list", &params)
            .await;
        let settle_coin = (category(symbol) == "linear").then(|| settle_coin(symbol));
        for execution in result?.list {
            view.fills
                .push(execution.fill(settle_coin).map_err(Failure::NoAnswer)?);
        }
        Ok(view)
    }
}

/// The quote (and settle) coin of a canonical perpetual, `USDT` of
/// `BTC/USDT:PERP`.
pub(super) fn settle_coin(symbol: &str) -> &str {
    symbol
        .trim_end_matches(":PERP")
        .split_once('/')
        .map_or("", |(_, quote)| quote)
}

//! Placement with lookup: an order whose outcome is unknown is looked up
//! by its `orderLinkId` before it is ever sent again, and only sent again
//! once Bybit can no longer accept the first request.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::de::IgnoredAny;

use super::{
    BybitExchange,
    mapping::{category, market_params, order_body, order_error, read_error},
    replies::{ExecutionReply, Listed, OrderReply},
    rest::Failure,
};
use crate::orders::exchanges::{
    ExchangeError, ExchangeOrder, OrderTicket,
    exactly_once::{LookUp, Sent, place_exactly_once},
};

impl BybitExchange {
    /// Places an order exactly once (see [`place_exactly_once`]).
    pub(super) async fn place_order(
        &self,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let body = order_body(ticket, self.hedge_mode)?;
        place_exactly_once(self, ticket, || async {
            let (timestamp, result) = self
                .rest
                .post::<IgnoredAny>("/v5/order/create", &body)
                .await;
            let sent = match result {
                Ok(_) => Sent::Placed(None),
                // A duplicate orderLinkId: an earlier attempt placed it.
                Err(failure) => failure.into_sent(
                    |code, _| matches!(code, 110072 | 170141),
                    |other| order_error(other, &ticket.symbol),
                ),
            };
            (timestamp, sent)
        })
        .await
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
    pub(super) async fn with_fills(
        &self,
        reply: OrderReply,
        symbol: &str,
    ) -> Result<ExchangeOrder, Failure> {
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

#[async_trait]
impl LookUp for BybitExchange {
    fn venue(&self) -> &str {
        "Bybit"
    }

    async fn look_up(&self, ticket: &OrderTicket) -> Result<Option<ExchangeOrder>, ExchangeError> {
        self.lookup(&ticket.client_order_id, &ticket.symbol)
            .await
            .map_err(read_error)
    }

    fn venue_now_ms(&self) -> i64 {
        self.rest.server_now_ms()
    }

    fn window_ms(&self) -> i64 {
        self.rest.recv_window_ms()
    }

    fn max_retry_wait(&self) -> std::time::Duration {
        self.max_retry_wait
    }
}

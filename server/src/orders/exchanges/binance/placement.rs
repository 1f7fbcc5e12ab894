//! Placement on Binance: its side of [`place_exactly_once`], and order
//! replies completed with their trades.

use async_trait::async_trait;
use http::Method;
use rust_decimal::Decimal;

use super::{
    BinanceExchange,
    mapping::{order_error, order_params, venue_symbol},
    replies::{OrderReply, TradeReply},
    rest::Failure,
};
use crate::orders::exchanges::{
    Exchange, ExchangeError, ExchangeOrder, OrderTicket,
    exactly_once::{LookUp, Sent, place_exactly_once},
};

impl BinanceExchange {
    /// Places an order, looking up any whose outcome is unknown before
    /// sending it again (see [`place_exactly_once`]).
    pub(super) async fn place_order(
        &self,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let params = order_params(ticket, self.market, self.hedge_mode)?;
        self.place_with(ticket, params).await
    }

    /// Places `ticket` sent as `params`, exactly once.
    pub(super) async fn place_with(
        &self,
        ticket: &OrderTicket,
        params: Vec<(&'static str, String)>,
    ) -> Result<ExchangeOrder, ExchangeError> {
        place_exactly_once(self, ticket, || async {
            let (timestamp, result) = self
                .rest
                .signed::<OrderReply>(Method::POST, self.market.paths().order, &params)
                .await;
            let sent = match result {
                // Placed: without its trades now, the lookup reads them.
                Ok(reply) => Sent::Placed(self.with_fills(reply, &ticket.symbol).await.ok()),
                // Spot's -2010 "Duplicate order sent", USDⓈ-M's -4116.
                Err(failure) => failure.into_sent(
                    |code, message| {
                        (code == -2010 && message.contains("Duplicate")) || code == -4116
                    },
                    |other| order_error(other, &ticket.symbol),
                ),
            };
            (timestamp, sent)
        })
        .await
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

#[async_trait]
impl LookUp for BinanceExchange {
    fn venue(&self) -> &str {
        "Binance"
    }

    async fn look_up(&self, ticket: &OrderTicket) -> Result<Option<ExchangeOrder>, ExchangeError> {
        self.fetch(&ticket.client_order_id, &ticket.symbol).await
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

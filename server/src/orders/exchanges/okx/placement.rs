//! Placement on OKX: its side of [`place_exactly_once`]. An order or an
//! algo order, each carrying the ticket's client order id, is looked up
//! (`fetch` finds either) before it is ever sent again.

use async_trait::async_trait;
use http::Method;
use serde_json::Value;

use super::{OkxExchange, mapping::order_error};
use crate::orders::exchanges::{
    Exchange, ExchangeError, ExchangeOrder, OrderTicket,
    exactly_once::{LookUp, Sent, place_exactly_once},
};

/// 51016: an order with this `clOrdId` exists already.
const DUPLICATE_CLIENT_ID: i64 = 51016;

impl OkxExchange {
    /// Sends `body` to `path` (an order or an algo order carrying the
    /// ticket's client order id), exactly once.
    pub(super) async fn place_with_lookup(
        &self,
        ticket: &OrderTicket,
        path: &str,
        body: &Value,
    ) -> Result<ExchangeOrder, ExchangeError> {
        place_exactly_once(self, ticket, || async {
            let (timestamp, result) = self
                .rest
                .signed::<Value>(Method::POST, path, &[], Some(body))
                .await;
            let sent = match result {
                Ok(_) => Sent::Placed(None),
                Err(failure) => failure.into_sent(
                    |code, _| code == DUPLICATE_CLIENT_ID,
                    |other| order_error(other, &ticket.symbol),
                ),
            };
            (timestamp, sent)
        })
        .await
    }
}

#[async_trait]
impl LookUp for OkxExchange {
    fn venue(&self) -> &str {
        "OKX"
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

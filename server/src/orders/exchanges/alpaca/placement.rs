//! Placement with lookup: an order (or OCO pair) whose outcome is unknown
//! is looked up by its `client_order_id` before it is ever sent again, and
//! a second send is safe because Alpaca refuses a `client_order_id` it
//! already holds ("client_order_id must be unique", then looked up).

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::{
    AlpacaExchange,
    bracket::bracket_body,
    mapping::{
        DUPLICATE_ID, NOT_FOUND, UNPROCESSABLE, oco_body, order_body, order_error, read_error,
    },
    replies::{FillReply, OrderReply},
    rest::{Api, Failure},
};
use crate::{
    orders::exchanges::{
        Attachment, ExchangeError, ExchangeOrder, Fill, OrderTicket,
        exactly_once::{LookUp, Sent, place_exactly_once},
    },
    proto_time::now_ms,
};

/// Orders of a symbol read when looking for an OCO pair's leg.
const PAIR_SCAN: &str = "500";
/// Pages of fills read at most for one order.
const MAX_FILL_PAGES: usize = 10;

impl AlpacaExchange {
    /// Places an order exactly once (see [`place_exactly_once`]); an
    /// entry with exits goes as one bracket order.
    pub(super) async fn place_order(
        &self,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let body = match Attachment::exits(&ticket.attachment) {
            Some(exits) => bracket_body(ticket, exits)?,
            None => order_body(ticket)?,
        };
        place_exactly_once(self, ticket, || async {
            (now_ms(), sent(self.rest.post("/v2/orders", &body).await))
        })
        .await
    }

    /// Places a stop and a target as one OCO order exactly once; the pair
    /// is looked up through its target. Returns the legs, stop first.
    pub(super) async fn place_pair(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let body = oco_body(stop, target)?;
        let target_view = place_exactly_once(self, target, || async {
            (now_ms(), sent(self.rest.post("/v2/orders", &body).await))
        })
        .await?;
        let stop_view = self
            .lookup(&stop.client_order_id, &stop.symbol)
            .await
            .map_err(|e| ExchangeError::Unknown(format!("placed; {}", read_error(e))))?
            .ok_or_else(|| {
                ExchangeError::Unknown("Alpaca does not show the stop leg yet".into())
            })?;
        Ok([stop_view, target_view])
    }

    /// The order under `client_order_id`, with its fills: a plain order,
    /// or a leg of an OCO pair (found among the symbol's orders).
    pub(super) async fn lookup(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<Option<ExchangeOrder>, Failure> {
        let params = [("client_order_id", client_order_id.to_string())];
        let reply = match self
            .rest
            .get::<OrderReply>(Api::Trading, "/v2/orders:by_client_order_id", &params)
            .await
        {
            Ok(reply) => Some(reply),
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => self.pair_leg(client_order_id, symbol).await?,
            Err(failure) => return Err(failure),
        };
        match reply {
            Some(reply) => self.with_fills(&reply).await.map(Some),
            None => Ok(None),
        }
    }

    /// The leg `client_order_id` names of an OCO pair in `symbol`: the
    /// parent (the target) or its stop leg.
    async fn pair_leg(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<Option<OrderReply>, Failure> {
        let params = [
            ("status", "all".to_string()),
            ("nested", "true".to_string()),
            ("symbols", symbol.to_string()),
            ("limit", PAIR_SCAN.to_string()),
            ("direction", "desc".to_string()),
        ];
        let orders: Vec<OrderReply> = self.rest.get(Api::Trading, "/v2/orders", &params).await?;
        let (as_target, as_stop) = (format!("{client_order_id}_"), format!("_{client_order_id}"));
        for parent in orders {
            if parent.client_order_id.starts_with(&as_target) {
                return Ok(Some(parent));
            }
            if parent.client_order_id.ends_with(&as_stop) {
                return Ok(parent.legs.and_then(|legs| legs.into_iter().next()));
            }
        }
        Ok(None)
    }

    /// The order's view with its fills from `/v2/account/activities/FILL`,
    /// newest first until they add up to what Alpaca says has filled.
    pub(super) async fn with_fills(&self, reply: &OrderReply) -> Result<ExchangeOrder, Failure> {
        let mut fills: Vec<Fill> = Vec::new();
        let mut found = Decimal::ZERO;
        let mut page_token = String::new();
        for _ in 0..MAX_FILL_PAGES {
            if found >= reply.filled_qty {
                break;
            }
            let mut params = vec![
                ("direction", "desc".to_string()),
                ("page_size", "100".to_string()),
            ];
            if !page_token.is_empty() {
                params.push(("page_token", page_token.clone()));
            }
            let page: Vec<FillReply> = self
                .rest
                .get(Api::Trading, "/v2/account/activities/FILL", &params)
                .await?;
            let Some(last) = page.last() else { break };
            page_token = last.id.clone();
            for fill in page.into_iter().filter(|f| f.order_id == reply.id) {
                let fill = fill.fill();
                found += fill.quantity;
                fills.push(fill);
            }
        }
        if found != reply.filled_qty {
            return Err(Failure::NoAnswer(format!(
                "Alpaca lists fills of {found} of order {}'s {} filled",
                reply.id, reply.filled_qty
            )));
        }
        fills.reverse();
        reply.view(fills).map_err(Failure::NoAnswer)
    }
}

/// What one send of an order came to.
fn sent(result: Result<OrderReply, Failure>) -> Sent {
    match result {
        Ok(reply) if reply.filled_qty.is_zero() => match reply.view(Vec::new()) {
            Ok(view) => Sent::Placed(Some(view)),
            Err(_) => Sent::Placed(None),
        },
        Ok(_) => Sent::Placed(None),
        Err(failure) => failure.into_sent(
            |status, message| status == UNPROCESSABLE && message.contains(DUPLICATE_ID),
            order_error,
        ),
    }
}

#[async_trait]
impl LookUp for AlpacaExchange {
    fn venue(&self) -> &str {
        "Alpaca"
    }

    async fn look_up(&self, ticket: &OrderTicket) -> Result<Option<ExchangeOrder>, ExchangeError> {
        self.lookup(&ticket.client_order_id, &ticket.symbol)
            .await
            .map_err(read_error)
    }

    /// Alpaca's requests carry no timestamp; ours is the only clock.
    fn venue_now_ms(&self) -> i64 {
        now_ms()
    }

    /// No receive window: a request is final once answered or settled,
    /// and a duplicate `client_order_id` is refused anyway.
    fn window_ms(&self) -> i64 {
        0
    }

    fn max_retry_wait(&self) -> std::time::Duration {
        self.max_retry_wait
    }
}

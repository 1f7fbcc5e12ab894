//! Placing and canceling orders: the retry's answer, the halt and breaker
//! checks, the idempotent insert, the exchange call and its audit.

use std::time::Instant;

use sha2::{Digest, Sha256};
use tracing::Instrument;
use tradeplane_api::{AuditOutcome, ProtoEnum};

use super::OrderDesk;
use crate::{
    audit::{AuditEntry, actions},
    controls::breakers::{Admission, BreakerRecord, setting_key},
    model::order::{Order, OrderOrigin, OrderRequest, OrderStatus},
    orders::{
        error::{InvalidReason, OrderError, PlaceError},
        exchanges::{Exchange, ExchangeError, round_price, round_quantity},
    },
    proto_time::now_ms,
    settings::Setting,
    store::OrderInsert,
};

impl OrderDesk {
    /// Places an order. The same `request_id` always yields the same
    /// order: a retry returns it instead of placing a second one.
    pub async fn place(
        &self,
        request: OrderRequest,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        self.place_for(request, OrderOrigin::default(), audit).await
    }

    /// Places an order for a pipeline execution: `origin` is the
    /// pipeline, execution and signal the order is linked to.
    pub async fn place_for(
        &self,
        request: OrderRequest,
        origin: OrderOrigin,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        let span = tracing::info_span!(
            "order.place",
            exchange = %request.exchange,
            symbol = %request.symbol,
        );
        self.place_traced(request, origin, audit)
            .instrument(span)
            .await
    }

    async fn place_traced(
        &self,
        request: OrderRequest,
        origin: OrderOrigin,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        // A retry answers with the first order before any check: a halt or
        // an open breaker since then does not undo what was placed.
        if !request.request_id.is_empty()
            && let Some(first) = self.store.order_for_request(&request.request_id).await?
        {
            return Ok(first);
        }
        let started = Instant::now();
        let exchange_name = if request.exchange.is_empty() {
            "paper".to_string()
        } else {
            request.exchange.clone()
        };
        let exchange = self.exchanges.get(&exchange_name).cloned().ok_or_else(|| {
            PlaceError::invalid(
                InvalidReason::UnknownExchange,
                "exchange",
                format!("no exchange named `{exchange_name}`"),
            )
        })?;
        let mut ticket = self.ticket(&request)?;
        if self.halt.is_halted() {
            return Err(PlaceError::Halted);
        }
        let rules = exchange
            .rules(&ticket.symbol)
            .await
            .map_err(PlaceError::Exchange)?;
        ticket.quantity = round_quantity(ticket.quantity, &rules);
        if ticket.quantity.is_zero() {
            return Err(PlaceError::invalid(
                InvalidReason::QuantityBelowLot,
                "quantity",
                format!("rounds to zero at the lot size {}", rules.lot_size),
            ));
        }
        ticket.price = ticket.price.map(|p| round_price(p, ticket.side, &rules));
        ticket.stop_price = ticket
            .stop_price
            .map(|p| round_price(p, ticket.side, &rules));

        let request_id = if request.request_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            request.request_id.clone()
        };
        ticket.client_order_id = client_order_id(&request_id);
        let now = now_ms();
        let mut order = Order::new(&ticket, &exchange_name, origin, now);
        match self.breakers.admit(&exchange_name, Instant::now(), now) {
            Admission::Refused => {
                return Err(PlaceError::CircuitOpen {
                    exchange: exchange_name,
                });
            }
            Admission::Probe(record) => self.breaker_changed(&exchange_name, record).await,
            Admission::Admitted => {}
        }
        match self.store.insert_order(&order, Some(&request_id)).await {
            Ok(OrderInsert::Inserted) => {}
            Ok(OrderInsert::Existing(first)) => {
                self.breakers.abandon(&exchange_name);
                return Ok(*first);
            }
            Err(err) => {
                self.breakers.abandon(&exchange_name);
                return Err(err.into());
            }
        }

        if let Some(reference) = ticket.reference_price
            && exchange_name == self.paper.name()
        {
            let changed = self.paper.observe_price(&ticket.symbol, reference, now);
            self.apply_changes(changed).await;
        }
        let result = exchange.place(&ticket).await;
        self.metrics.ack_latency(&exchange_name, started.elapsed());
        // A rejection is an answer: only silence and errors count against
        // the exchange.
        let answered = !matches!(
            result,
            Err(ExchangeError::Unknown(_)
                | ExchangeError::Unavailable(_)
                | ExchangeError::Banned(_))
        );
        let changed = match &result {
            Err(ExchangeError::Banned(why)) => {
                self.breakers
                    .trip(&exchange_name, why, Instant::now(), now_ms())
            }
            _ => self
                .breakers
                .record(&exchange_name, answered, Instant::now(), now_ms()),
        };
        if let Some(record) = changed {
            self.breaker_changed(&exchange_name, record).await;
        }
        let mut entry = audit;
        entry.action = actions::ORDER_PLACE;
        entry.target = order.id.clone();
        match result {
            Ok(view) => {
                order.apply(&view, now_ms());
                entry.detail = format!(
                    "{} {} {} on {}: {}",
                    ticket.side.word(),
                    ticket.quantity,
                    ticket.symbol,
                    exchange_name,
                    order.status
                );
            }
            Err(ExchangeError::Unknown(message)) => {
                order.transition(OrderStatus::Unknown, &message, now_ms());
                entry.outcome = AuditOutcome::Failure;
                entry.detail = format!("outcome unknown: {message}");
            }
            Err(err) => {
                let status = if matches!(err, ExchangeError::Rejected(_)) {
                    OrderStatus::Rejected
                } else {
                    OrderStatus::Failed
                };
                order.transition(status, &err.to_string(), now_ms());
                order.status_reason = err.to_string();
                entry.action = actions::ORDER_FAIL;
                entry.outcome = AuditOutcome::Failure;
                entry.detail = err.to_string();
            }
        }
        self.record(&order, Some(started), Some(entry)).await?;
        Ok(order)
    }

    /// Cancels an open order.
    pub async fn cancel(&self, id: &str, audit: AuditEntry) -> Result<Order, OrderError> {
        let mut order = self.get(id).await?;
        let status = order.status;
        if !status.is_open() {
            return Err(OrderError::NotOpen {
                id: id.to_string(),
                status: status.word().to_string(),
            });
        }
        let exchange = self.exchange(&order.exchange)?.clone();
        let view = exchange
            .cancel(&order.client_order_id, order.symbol())
            .await
            .map_err(OrderError::Exchange)?;
        {
            let _writing = self.writes.lock().await;
            if let Some(latest) = self.tracked(&order.client_order_id) {
                order = latest;
            }
            order.apply(&view, now_ms());
            let mut entry = audit;
            entry.action = actions::ORDER_CANCEL;
            entry.target = order.id.clone();
            self.record(&order, None, Some(entry)).await?;
        }
        Ok(order)
    }

    /// Persists and audits an automatic breaker transition (already in
    /// force: the breakers made it).
    async fn breaker_changed(&self, exchange: &str, record: BreakerRecord) {
        let state = record.state.word();
        tracing::warn!(exchange, state, reason = %record.reason, "circuit breaker changed");
        let entry = AuditEntry {
            actor: "system".into(),
            action: actions::BREAKER_TRANSITION,
            target: exchange.to_string(),
            outcome: AuditOutcome::Success,
            detail: format!("{state}: {}", record.reason),
            ..Default::default()
        };
        let setting = Setting::new(setting_key(exchange));
        if let Err(err) = self.settings.change(&setting, record, entry, drop).await {
            tracing::error!(error = %err, exchange, "breaker state not saved");
        }
    }
}

/// The client order id of a request: `tp-` and 32 hex digits of its hash,
/// within every venue's 36-character limit, and the same on every retry.
pub fn client_order_id(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("tp-{}", &hex::encode(digest)[..32])
}

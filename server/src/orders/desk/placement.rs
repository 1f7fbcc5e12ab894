//! Placing orders: the retry's answer, the halt and breaker checks, the
//! idempotent insert, the exchange call and its audit. Every placement
//! runs in a task of its own: once started it reaches a known state,
//! whatever the caller does (a client that goes away, a deadline).

use std::{future::Future, sync::Arc, time::Instant};

use sha2::{Digest, Sha256};
use tracing::Instrument;
use tradeplane_api::{AuditOutcome, ProtoEnum};

use super::OrderDesk;
use crate::{
    audit::{AuditEntry, actions},
    controls::breakers::{Admission, BreakerRecord, setting_key},
    market::account,
    model::order::{Attachment, Order, OrderOrigin, OrderRequest, OrderStatus, OrderTicket},
    orders::{
        error::{InvalidReason, OrderError, PlaceError},
        exchanges::{Exchange, ExchangeError, ExchangeOrder, round_price, round_quantity},
    },
    proto_time::now_ms,
    settings::Setting,
    store::{OrderInsert, StoreError},
};

/// One order of a placement: what is asked, and what it is for.
pub type Leg = (OrderRequest, OrderOrigin);

/// A checked request, ready to be stored and sent.
pub(super) struct Prepared {
    /// The account's key (see [`account::key`]): what its breaker goes by.
    pub key: String,
    pub exchange: Arc<dyn Exchange>,
    pub ticket: OrderTicket,
    pub request_id: String,
}

impl Prepared {
    /// The exchange and account the order goes to.
    pub fn venue(&self) -> (&str, &str) {
        (self.exchange.name(), self.exchange.account())
    }
}

impl OrderDesk {
    /// Places an order. The same `request_id` always yields the same
    /// order: a retry returns it instead of placing a second one.
    pub async fn place(
        self: &Arc<Self>,
        request: OrderRequest,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        self.place_for(request, OrderOrigin::default(), audit).await
    }

    /// Places an order for a pipeline execution: `origin` is the
    /// pipeline, execution and signal the order is linked to.
    pub async fn place_for(
        self: &Arc<Self>,
        request: OrderRequest,
        origin: OrderOrigin,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        let span = tracing::info_span!(
            "order.place",
            exchange = %request.exchange,
            account = %request.account,
            symbol = %request.symbol,
        );
        let desk = self.clone();
        let placing = async move {
            let _op = desk.paper_ops.begin();
            desk.place_one(request, origin, audit).await
        };
        detached(placing.instrument(span)).await?
    }

    /// Places the two legs of a one-cancels-the-other group (see
    /// [`Exchange::place_oco`]); both origins carry the group id. The legs
    /// are stored together and sent together, and a retry returns both.
    pub async fn place_oco(
        self: &Arc<Self>,
        stop: Leg,
        target: Leg,
        audit: AuditEntry,
    ) -> Result<[Order; 2], PlaceError> {
        let span = tracing::info_span!(
            "order.place_oco",
            exchange = %stop.0.exchange,
            symbol = %stop.0.symbol,
        );
        let desk = self.clone();
        detached(async move { desk.place_pair(stop, target, audit).await }.instrument(span)).await?
    }

    async fn place_one(
        &self,
        request: OrderRequest,
        origin: OrderOrigin,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        // A retry answers with the first order before any check: a halt or
        // an open breaker since then does not undo what was placed.
        if let Some(first) = self.retried(&request.request_id).await? {
            return Ok(first);
        }
        let started = Instant::now();
        let prepared = self.prepare(&request, &origin).await?;
        let mut order = Order::new(&prepared.ticket, prepared.venue(), origin, now_ms());
        self.admit(&prepared.key).await?;
        let _sending = self.in_flight.begin([order.client_order_id.clone()]);
        if let Some(first) = self.insert(&prepared.key, &[(&order, &prepared)]).await? {
            return Ok(first);
        }
        if let Some(reference) = prepared.ticket.reference_price
            && prepared.key == self.paper.name()
        {
            let observed = self
                .paper
                .observe_price(&prepared.ticket.symbol, reference, now_ms());
            self.follow_price(observed).await;
        }
        let result = prepared.exchange.place(&prepared.ticket).await;
        self.answered(&prepared.key, started, &result).await;
        let entry = settle(&mut order, result, &prepared.ticket, audit);
        self.record(&order, Some(started), Some(entry)).await?;
        Ok(order)
    }

    async fn place_pair(
        &self,
        (stop, stop_origin): Leg,
        (target, target_origin): Leg,
        audit: AuditEntry,
    ) -> Result<[Order; 2], PlaceError> {
        if let Some(legs) = self.retried_pair(&stop, &target).await? {
            return Ok(legs);
        }
        let started = Instant::now();
        let stop = self.prepare(&stop, &stop_origin).await?;
        let target = self.prepare(&target, &target_origin).await?;
        if stop.key != target.key {
            return Err(PlaceError::invalid(
                InvalidReason::UnknownExchange,
                "exchange",
                "both legs of an OCO group go to one exchange account",
            ));
        }
        let now = now_ms();
        let mut legs = [
            Order::new(&stop.ticket, stop.venue(), stop_origin, now),
            Order::new(&target.ticket, target.venue(), target_origin, now),
        ];
        self.admit(&stop.key).await?;
        let _sending = self
            .in_flight
            .begin(legs.iter().map(|o| o.client_order_id.clone()));
        if self
            .insert(&stop.key, &[(&legs[0], &stop), (&legs[1], &target)])
            .await?
            .is_some()
        {
            return self
                .retried_pair_of(&stop.request_id, &target.request_id)
                .await;
        }
        let result = stop.exchange.place_oco(&stop.ticket, &target.ticket).await;
        self.answered(&stop.key, started, &result).await;
        let results = match result {
            Ok([stop_view, target_view]) => [Ok(stop_view), Ok(target_view)],
            Err(err) => [Err(err.clone()), Err(err)],
        };
        for ((order, prepared), result) in legs.iter_mut().zip([&stop, &target]).zip(results) {
            let entry = settle(order, result, &prepared.ticket, audit.clone());
            self.record(order, Some(started), Some(entry)).await?;
        }
        Ok(legs)
    }

    /// The order a retried `request_id` created, if any. (One still open
    /// that another process placed is followed by the sync, which reads
    /// every open order from the store.)
    async fn retried(&self, request_id: &str) -> Result<Option<Order>, StoreError> {
        if request_id.is_empty() {
            return Ok(None);
        }
        self.store.order_for_request(request_id).await
    }

    /// Both legs of a retried OCO placement, if it was stored.
    async fn retried_pair(
        &self,
        stop: &OrderRequest,
        target: &OrderRequest,
    ) -> Result<Option<[Order; 2]>, PlaceError> {
        if self.retried(&stop.request_id).await?.is_none() {
            return Ok(None);
        }
        self.retried_pair_of(&stop.request_id, &target.request_id)
            .await
            .map(Some)
    }

    async fn retried_pair_of(&self, stop: &str, target: &str) -> Result<[Order; 2], PlaceError> {
        match (self.retried(stop).await?, self.retried(target).await?) {
            (Some(stop), Some(target)) => Ok([stop, target]),
            _ => Err(PlaceError::invalid(
                InvalidReason::RequestIdReused,
                "request_id",
                "an order outside this OCO group already has one of its request ids",
            )),
        }
    }

    /// Checks a request against the exchange and reads it as a ticket
    /// with its lot and tick applied and its client order id.
    pub(super) async fn prepare(
        &self,
        request: &OrderRequest,
        origin: &OrderOrigin,
    ) -> Result<Prepared, PlaceError> {
        let exchange_name = if request.exchange.is_empty() {
            self.paper.name()
        } else {
            &request.exchange
        };
        let exchange = match self.exchange(exchange_name, &request.account) {
            Ok(exchange) => exchange.clone(),
            Err(OrderError::NoAccount { exchange, account }) => {
                return Err(PlaceError::invalid(
                    InvalidReason::UnknownAccount,
                    "account",
                    format!("`{exchange}` has no account named `{account}`"),
                ));
            }
            Err(_) => {
                return Err(PlaceError::invalid(
                    InvalidReason::UnknownExchange,
                    "exchange",
                    format!("no exchange named `{exchange_name}`"),
                ));
            }
        };
        let key = account::key(exchange.name(), exchange.account());
        let mut ticket = self.ticket(request, exchange.instrument_kinds())?;
        if !exchange.instrument_kinds().contains(&ticket.kind) {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedInstrument,
                "symbol",
                format!(
                    "`{}` is a {} instrument, and `{exchange_name}` does not trade {}s",
                    request.symbol, ticket.kind, ticket.kind
                ),
            ));
        }
        if let Some(bips) = ticket.trailing_delta_bips
            && !exchange
                .native_trailing()
                .is_some_and(|trailing| trailing.fits(bips))
        {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedTrailingDelta,
                "trailing_delta_bips",
                format!("`{exchange_name}` does not trail a stop by {bips} basis points natively"),
            ));
        }
        if ticket.attachment.is_some() && !exchange.attaches_exits(ticket.kind) {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedAttachedExits,
                "attach_exits",
                format!(
                    "`{exchange_name}` does not attach exits to an entry in a {}",
                    ticket.kind
                ),
            ));
        }
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
        if let Some(Attachment::Exits(exits)) = &mut ticket.attachment {
            let exit = ticket.side.opposite();
            exits.stop_price = round_price(exits.stop_price, exit, &rules);
            exits.target_price = round_price(exits.target_price, exit, &rules);
        }
        ticket.oco_group = Some(origin.oco_group.clone()).filter(|g| !g.is_empty());
        let request_id = if request.request_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            request.request_id.clone()
        };
        ticket.client_order_id = client_order_id(&request_id);
        Ok(Prepared {
            key,
            exchange,
            ticket,
            request_id,
        })
    }

    /// Asks the exchange's breaker for a slot.
    async fn admit(&self, exchange: &str) -> Result<(), PlaceError> {
        match self.breakers.admit(exchange, Instant::now(), now_ms()) {
            Admission::Refused => Err(PlaceError::CircuitOpen {
                exchange: exchange.to_string(),
            }),
            Admission::Probe(record) => {
                self.breaker_changed(exchange, record).await;
                Ok(())
            }
            Admission::Admitted => Ok(()),
        }
    }

    /// Stores new orders together; an existing one (a retry that raced
    /// the first attempt) is returned instead, and the breaker slot is
    /// given back.
    pub(super) async fn insert(
        &self,
        exchange: &str,
        orders: &[(&Order, &Prepared)],
    ) -> Result<Option<Order>, PlaceError> {
        let rows: Vec<_> = orders
            .iter()
            .map(|(order, prepared)| (*order, Some(prepared.request_id.as_str())))
            .collect();
        match self.store.insert_orders(&rows).await {
            Ok(OrderInsert::Inserted) => Ok(None),
            Ok(OrderInsert::Existing(first)) => {
                self.breakers.abandon(exchange);
                Ok(Some(*first))
            }
            Err(err) => {
                self.breakers.abandon(exchange);
                Err(err.into())
            }
        }
    }

    /// Meters an exchange's answer and tells its breaker: a rejection is
    /// an answer, only silence and errors count against the exchange.
    pub(super) async fn answered<T>(
        &self,
        exchange: &str,
        started: Instant,
        result: &Result<T, ExchangeError>,
    ) {
        self.metrics
            .ack_latency(account::split(exchange).0, started.elapsed());
        let answered = !matches!(
            result,
            Err(ExchangeError::Unknown(_)
                | ExchangeError::Unavailable(_)
                | ExchangeError::Banned(_))
        );
        let changed = match result {
            Err(ExchangeError::Banned(why)) => {
                self.breakers.trip(exchange, why, Instant::now(), now_ms())
            }
            _ => self
                .breakers
                .record(exchange, answered, Instant::now(), now_ms()),
        };
        if let Some(record) = changed {
            self.breaker_changed(exchange, record).await;
        }
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

    /// Cancels an open order; the cancellation runs to its end even if
    /// the caller goes away.
    pub async fn cancel(
        self: &Arc<Self>,
        id: &str,
        audit: AuditEntry,
    ) -> Result<Order, OrderError> {
        let desk = self.clone();
        let id = id.to_string();
        detached(async move {
            let _op = desk.paper_ops.begin();
            desk.cancel_now(&id, audit).await
        })
        .await?
    }
}

/// Brings `order` up to the exchange's answer to its placement; returns
/// the audit entry that reports it, after the reason `audit` gave for the
/// placement (if any).
pub(super) fn settle(
    order: &mut Order,
    result: Result<ExchangeOrder, ExchangeError>,
    ticket: &OrderTicket,
    audit: AuditEntry,
) -> AuditEntry {
    let mut entry = audit;
    let why = std::mem::take(&mut entry.detail);
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
                order.exchange,
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
    if !why.is_empty() {
        entry.detail = format!("{}; {why}", entry.detail);
    }
    entry
}

/// Runs `work` in a task of its own and waits for it: dropping the wait
/// (the caller went away) does not stop the work. A panic in the work
/// goes on in the caller.
pub(super) async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::spawn(work).await {
        Ok(done) => Ok(done),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => Err(StoreError::Unavailable(format!(
            "the server is stopping: {err}"
        ))),
    }
}

/// The client order id of a request: `tp-` and 32 hex digits of its hash,
/// within every venue's 36-character limit, and the same on every retry.
pub fn client_order_id(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("tp-{}", &hex::encode(digest)[..32])
}

//! The order desk: the one place every order passes. It checks the halt
//! and the exchange's breaker, derives the client order id from the
//! request id (so a retry is the same order), persists every state change
//! and fill, and tells watchers and the audit log.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Instant,
};

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tracing::Instrument;
use tradeplane_api::{
    AuditOutcome, CircuitBreakerState, Fill, Order, OrderStatus, OrderTransition, OrderType,
    PlaceOrderRequest, Side, TimeInForce,
};

use super::error::{InvalidReason, OrderError, PlaceError};
use super::{
    exchanges::{
        Exchange, ExchangeError, ExchangeOrder, OrderTicket,
        instrumented::{Instrumented, observe_rate_limits},
        is_open,
        paper::PaperExchange,
        round_price, round_quantity,
    },
    metrics::OrderMetrics,
};
use crate::{
    audit::{AuditEntry, AuditLog, actions},
    controls::{
        breakers::{Admission, BreakerRecord, CircuitBreakers, setting_key},
        halt::TradingHalt,
    },
    market::{decimal::parse_decimal, symbol::SymbolNormalizer},
    proto_time::{ms_to_timestamp, now_ms, timestamp_ms},
    store::{OrderInsert, OrderQuery, Store, StoreError, all_orders},
};

/// Buffer of the WatchOrders feed.
const WATCH_BUFFER: usize = 4096;

/// Everything the desk needs.
pub struct OrderDesk {
    store: Arc<dyn Store>,
    exchanges: BTreeMap<String, Arc<dyn Exchange>>,
    paper: Arc<PaperExchange>,
    breakers: Arc<CircuitBreakers>,
    halt: Arc<TradingHalt>,
    audit: Arc<AuditLog>,
    normalizer: SymbolNormalizer,
    /// Open orders by client order id (what price updates and syncs can
    /// change).
    open: Mutex<HashMap<String, Order>>,
    /// Held while an open order's new state from an exchange is applied
    /// and saved, so that a sync and a cancel cannot overwrite each other.
    writes: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Arc<Order>>,
    metrics: OrderMetrics,
}

impl OrderDesk {
    /// Opens the desk: the paper book is rebuilt from the stored orders,
    /// and orders that are open or unknown on other exchanges are brought
    /// up to date there before this returns (so before new orders flow).
    pub async fn open(
        store: Arc<dyn Store>,
        paper: Arc<PaperExchange>,
        venues: Vec<Arc<dyn Exchange>>,
        breakers: Arc<CircuitBreakers>,
        halt: Arc<TradingHalt>,
        audit: Arc<AuditLog>,
        meter: &opentelemetry::metrics::Meter,
    ) -> Result<Self, StoreError> {
        let mut exchanges: BTreeMap<String, Arc<dyn Exchange>> = BTreeMap::new();
        let paper_venue: Arc<dyn Exchange> = paper.clone();
        for venue in std::iter::once(paper_venue).chain(venues) {
            exchanges.insert(
                venue.name().to_string(),
                Arc::new(Instrumented::new(venue, meter)),
            );
        }
        observe_rate_limits(exchanges.values().cloned().collect(), meter);
        let mut stored = all_orders(&*store).await?;
        // A paper order still NEW never reached the book before the
        // process stopped: it was not placed.
        for order in stored
            .iter_mut()
            .filter(|o| o.exchange == paper.name() && status_of(o) == OrderStatus::New)
        {
            transition(
                order,
                OrderStatus::Failed,
                "the process stopped before the order reached the exchange",
                now_ms(),
            );
            order.status_reason = "not placed: the process stopped first".into();
            store.update_order(order).await?;
        }
        let replay: Vec<_> = stored
            .iter()
            .filter(|o| o.exchange == paper.name())
            .map(|o| (ticket_of(o), exchange_view(o)))
            .collect();
        paper.replay(&replay);
        let open = stored
            .into_iter()
            .filter(|o| is_open(status_of(o)))
            .map(|o| (o.client_order_id.clone(), o))
            .collect();
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let desk = Self {
            store,
            exchanges,
            paper,
            breakers,
            halt,
            audit,
            normalizer: SymbolNormalizer::default(),
            open: Mutex::new(open),
            writes: tokio::sync::Mutex::new(()),
            events,
            metrics: OrderMetrics::new(meter),
        };
        let changed = desk.sync_open_orders().await;
        if changed > 0 {
            tracing::info!(changed, "reconciled orders with their exchanges");
        }
        Ok(desk)
    }

    /// Whether any exchange keeps orders outside this process (and so
    /// needs [`OrderDesk::sync_open_orders`] now and then).
    pub fn has_remote_exchanges(&self) -> bool {
        self.exchanges.keys().any(|name| name != self.paper.name())
    }

    /// Brings every open or unknown order on a remote exchange up to what
    /// the exchange says, by client order id. An order the exchange does
    /// not have, once it can no longer accept it, was never placed: it
    /// fails. Returns how many orders changed.
    pub async fn sync_open_orders(&self) -> usize {
        let pending: Vec<Order> = self
            .open
            .lock()
            .map(|open| {
                open.values()
                    .filter(|o| o.exchange != self.paper.name())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut changed = 0;
        for order in pending {
            let Some(exchange) = self.exchanges.get(&order.exchange).cloned() else {
                tracing::warn!(order = %order.id, exchange = %order.exchange, "open order on an exchange that is not configured; left as it is");
                continue;
            };
            let symbol = symbol_of(&order);
            let found = exchange.fetch(&order.client_order_id, &symbol).await;
            let _writing = self.writes.lock().await;
            let Some(mut latest) = self.tracked(&order.client_order_id) else {
                continue;
            };
            let status = status_of(&latest);
            let now = now_ms();
            match found {
                Ok(Some(view)) if view.fills.len() >= latest.fills.len() => {
                    let before = (latest.status, latest.fills.len());
                    apply(&mut latest, &view, now);
                    if before == (latest.status, latest.fills.len()) {
                        continue;
                    }
                }
                Ok(Some(_)) => continue,
                Ok(None) if matches!(status, OrderStatus::New | OrderStatus::Unknown) => {
                    let since = latest.update_time.as_ref().map(timestamp_ms).unwrap_or(0);
                    let window =
                        i64::try_from(exchange.acceptance_window().as_millis()).unwrap_or(i64::MAX);
                    if now.saturating_sub(since) < window {
                        continue;
                    }
                    transition(
                        &mut latest,
                        OrderStatus::Failed,
                        "the exchange has no such order",
                        now,
                    );
                    latest.status_reason = "not placed: the exchange has no such order".into();
                }
                Ok(None) => {
                    tracing::warn!(order = %latest.id, "the exchange no longer knows an open order");
                    continue;
                }
                Err(err) => {
                    tracing::warn!(order = %latest.id, error = %err, "cannot bring an order up to date; will try again");
                    continue;
                }
            }
            match self.record(&latest, None).await {
                Ok(()) => changed += 1,
                Err(err) => {
                    tracing::error!(error = %err, order = %latest.id, "order change not saved")
                }
            }
        }
        changed
    }

    /// The configured exchanges.
    pub fn exchanges(&self) -> impl Iterator<Item = &Arc<dyn Exchange>> {
        self.exchanges.values()
    }

    /// The exchange named `name`.
    pub fn exchange(&self, name: &str) -> Result<&Arc<dyn Exchange>, OrderError> {
        self.exchanges
            .get(name)
            .ok_or_else(|| OrderError::NoExchange {
                name: name.to_string(),
            })
    }

    /// A live feed of order changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Order>> {
        self.events.subscribe()
    }

    /// Places an order. The same `request_id` always yields the same
    /// order: a retry returns it instead of placing a second one.
    pub async fn place(
        &self,
        request: PlaceOrderRequest,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
        self.place_for(request, None, audit).await
    }

    /// Places an order for a pipeline execution: `origin` is the
    /// execution and signal ids the order is linked to.
    pub async fn place_for(
        &self,
        request: PlaceOrderRequest,
        origin: Option<(&str, &str)>,
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
        request: PlaceOrderRequest,
        origin: Option<(&str, &str)>,
        audit: AuditEntry,
    ) -> Result<Order, PlaceError> {
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
        let mut order = new_order(&ticket, &exchange_name, &request, now);
        if let Some((execution_id, signal_id)) = origin {
            order.execution_id = execution_id.to_string();
            order.signal_id = signal_id.to_string();
        }
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
                apply(&mut order, &view, now_ms());
                entry.detail = format!(
                    "{} {} {} on {}: {}",
                    side_word(ticket.side),
                    ticket.quantity,
                    ticket.symbol,
                    exchange_name,
                    status_word(status_of(&order))
                );
            }
            Err(ExchangeError::Unknown(message)) => {
                transition(&mut order, OrderStatus::Unknown, &message, now_ms());
                entry.outcome = AuditOutcome::Failure;
                entry.detail = format!("outcome unknown: {message}");
            }
            Err(err) => {
                let status = if matches!(err, ExchangeError::Rejected(_)) {
                    OrderStatus::Rejected
                } else {
                    OrderStatus::Failed
                };
                transition(&mut order, status, &err.to_string(), now_ms());
                order.status_reason = err.to_string();
                entry.action = actions::ORDER_FAIL;
                entry.outcome = AuditOutcome::Failure;
                entry.detail = err.to_string();
            }
        }
        self.record(&order, Some(started)).await?;
        self.audit.record_or_log(entry).await;
        Ok(order)
    }

    /// Cancels an open order.
    pub async fn cancel(&self, id: &str, audit: AuditEntry) -> Result<Order, OrderError> {
        let mut order = self.get(id).await?;
        if !is_open(status_of(&order)) {
            return Err(OrderError::NotOpen {
                id: id.to_string(),
                status: status_word(status_of(&order)),
            });
        }
        let exchange = self.exchange(&order.exchange)?.clone();
        let view = exchange
            .cancel(&order.client_order_id, &symbol_of(&order))
            .await
            .map_err(OrderError::Exchange)?;
        {
            let _writing = self.writes.lock().await;
            if let Some(latest) = self.tracked(&order.client_order_id) {
                order = latest;
            }
            apply(&mut order, &view, now_ms());
            self.record(&order, None).await?;
        }
        let mut entry = audit;
        entry.action = actions::ORDER_CANCEL;
        entry.target = order.id.clone();
        self.audit.record_or_log(entry).await;
        Ok(order)
    }

    /// One order.
    pub async fn get(&self, id: &str) -> Result<Order, OrderError> {
        self.store
            .get_order(id)
            .await?
            .ok_or_else(|| OrderError::NotFound { id: id.to_string() })
    }

    /// Orders matching `query`.
    pub async fn list(&self, query: &OrderQuery) -> Result<Vec<Order>, OrderError> {
        Ok(self.store.list_orders(query).await?)
    }

    /// Feeds a market price to the paper exchange (from a signal).
    pub async fn observe_price(&self, symbol: &str, price: Decimal) {
        let changed = self.paper.observe_price(symbol, price, now_ms());
        self.apply_changes(changed).await;
    }

    /// The latest state of an open order, by client order id.
    fn tracked(&self, client_order_id: &str) -> Option<Order> {
        self.open.lock().ok()?.get(client_order_id).cloned()
    }

    async fn apply_changes(&self, changed: Vec<(String, ExchangeOrder)>) {
        for (client_order_id, view) in changed {
            let Some(mut order) = self.tracked(&client_order_id) else {
                continue;
            };
            apply(&mut order, &view, now_ms());
            if let Err(err) = self.record(&order, None).await {
                tracing::error!(error = %err, order = %order.id, "order change not saved");
            }
        }
    }

    /// Persists and audits an automatic breaker transition.
    async fn breaker_changed(&self, exchange: &str, record: BreakerRecord) {
        match serde_json::to_string(&record) {
            Ok(json) => {
                if let Err(err) = self.store.put_setting(&setting_key(exchange), json).await {
                    tracing::error!(error = %err, exchange, "breaker state not saved");
                }
            }
            Err(err) => tracing::error!(error = %err, "breaker state not encoded"),
        }
        let state = CircuitBreakerState::try_from(record.state)
            .unwrap_or(CircuitBreakerState::Closed)
            .as_str_name()
            .trim_start_matches("CIRCUIT_BREAKER_STATE_")
            .to_lowercase();
        tracing::warn!(exchange, state, reason = %record.reason, "circuit breaker changed");
        self.audit
            .record_or_log(AuditEntry {
                actor: "system".into(),
                action: actions::BREAKER_TRANSITION,
                target: exchange.to_string(),
                outcome: AuditOutcome::Success,
                detail: format!("{state}: {}", record.reason),
                ..Default::default()
            })
            .await;
    }

    /// Persists, tracks, meters and publishes an order's new state.
    async fn record(&self, order: &Order, placed: Option<Instant>) -> Result<(), StoreError> {
        self.store.update_order(order).await?;
        if let Ok(mut open) = self.open.lock() {
            if is_open(status_of(order)) {
                open.insert(order.client_order_id.clone(), order.clone());
            } else {
                open.remove(&order.client_order_id);
            }
        }
        self.metrics.observe(order, placed);
        let _ = self.events.send(Arc::new(order.clone()));
        Ok(())
    }

    fn ticket(&self, request: &PlaceOrderRequest) -> Result<OrderTicket, PlaceError> {
        let instrument = self
            .normalizer
            .normalize(&request.symbol, "")
            .map_err(|e| PlaceError::invalid(InvalidReason::BadSymbol, "symbol", e))?;
        if instrument.quote.is_empty() {
            return Err(PlaceError::invalid(
                InvalidReason::BadSymbol,
                "symbol",
                "spot orders need a quote asset, e.g. BTC/USDT",
            ));
        }
        let side = match Side::try_from(request.side) {
            Ok(side @ (Side::Buy | Side::Sell)) => side,
            _ => {
                return Err(PlaceError::invalid(
                    InvalidReason::InvalidSide,
                    "side",
                    "choose SIDE_BUY or SIDE_SELL",
                ));
            }
        };
        let order_type = match OrderType::try_from(request.r#type) {
            Ok(OrderType::Unspecified) | Err(_) => {
                return Err(PlaceError::invalid(
                    InvalidReason::InvalidType,
                    "type",
                    "choose MARKET, LIMIT, STOP or STOP_LIMIT",
                ));
            }
            Ok(t) => t,
        };
        let time_in_force = match TimeInForce::try_from(request.time_in_force) {
            Ok(TimeInForce::Unspecified) | Err(_) => TimeInForce::Gtc,
            Ok(t) => t,
        };
        let positive = |text: &str, field: &'static str| -> Result<Option<Decimal>, PlaceError> {
            if text.is_empty() {
                return Ok(None);
            }
            let value = parse_decimal(text)
                .map_err(|e| PlaceError::invalid(InvalidReason::InvalidDecimal, field, e))?;
            if value <= Decimal::ZERO {
                return Err(PlaceError::invalid(
                    InvalidReason::NotPositive,
                    field,
                    "must be greater than zero",
                ));
            }
            Ok(Some(value))
        };
        let quantity = positive(&request.quantity, "quantity")?.ok_or_else(|| {
            PlaceError::invalid(
                InvalidReason::MissingQuantity,
                "quantity",
                "give the quantity in the base asset",
            )
        })?;
        let price = positive(&request.price, "price")?;
        let stop_price = positive(&request.stop_price, "stop_price")?;
        let reference_price = positive(&request.reference_price, "reference_price")?;
        if matches!(order_type, OrderType::Limit | OrderType::StopLimit) && price.is_none() {
            return Err(PlaceError::invalid(
                InvalidReason::MissingPrice,
                "price",
                "limit orders need a limit price",
            ));
        }
        if matches!(order_type, OrderType::Stop | OrderType::StopLimit) && stop_price.is_none() {
            return Err(PlaceError::invalid(
                InvalidReason::MissingStopPrice,
                "stop_price",
                "stop orders need a trigger price",
            ));
        }
        Ok(OrderTicket {
            client_order_id: String::new(),
            symbol: instrument.symbol,
            base: instrument.base,
            quote: instrument.quote,
            side,
            order_type,
            time_in_force,
            quantity,
            price,
            stop_price,
            reference_price,
        })
    }
}

/// The client order id of a request: `tp-` and 32 hex digits of its hash,
/// within every venue's 36-character limit, and the same on every retry.
pub fn client_order_id(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("tp-{}", &hex::encode(digest)[..32])
}

fn symbol_of(order: &Order) -> String {
    order
        .instrument
        .as_ref()
        .map(|i| i.symbol.clone())
        .unwrap_or_default()
}

fn status_of(order: &Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified)
}

fn status_word(status: OrderStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("ORDER_STATUS_")
        .to_lowercase()
}

fn side_word(side: Side) -> &'static str {
    if side == Side::Buy { "buy" } else { "sell" }
}

fn decimal_text(value: Option<Decimal>) -> String {
    value.map(|v| v.normalize().to_string()).unwrap_or_default()
}

fn new_order(ticket: &OrderTicket, exchange: &str, request: &PlaceOrderRequest, now: i64) -> Order {
    let instrument = tradeplane_api::Instrument {
        base: ticket.base.clone(),
        quote: ticket.quote.clone(),
        symbol: ticket.symbol.clone(),
        kind: tradeplane_api::InstrumentKind::Spot as i32,
        ..Default::default()
    };
    let mut order = Order {
        id: uuid::Uuid::now_v7().to_string(),
        client_order_id: ticket.client_order_id.clone(),
        exchange: exchange.to_string(),
        instrument: Some(instrument),
        side: ticket.side as i32,
        r#type: ticket.order_type as i32,
        time_in_force: ticket.time_in_force as i32,
        quantity: ticket.quantity.normalize().to_string(),
        price: decimal_text(ticket.price),
        stop_price: decimal_text(ticket.stop_price),
        reference_price: if request.reference_price.is_empty() {
            String::new()
        } else {
            decimal_text(ticket.reference_price)
        },
        filled_quantity: "0".into(),
        create_time: Some(ms_to_timestamp(now)),
        ..Default::default()
    };
    transition(&mut order, OrderStatus::New, "", now);
    order
}

/// Records a status change (once per status).
fn transition(order: &mut Order, status: OrderStatus, note: &str, now: i64) {
    if order.status == status as i32 && !order.transitions.is_empty() {
        return;
    }
    order.status = status as i32;
    order.update_time = Some(ms_to_timestamp(now));
    order.transitions.push(OrderTransition {
        status: status as i32,
        time: Some(ms_to_timestamp(now)),
        note: note.to_string(),
    });
}

/// Brings an order up to what the exchange reports.
fn apply(order: &mut Order, view: &ExchangeOrder, now: i64) {
    if !view.exchange_order_id.is_empty() {
        order.exchange_order_id = view.exchange_order_id.clone();
    }
    if status_of(order) == OrderStatus::New && view.status != OrderStatus::Rejected {
        transition(order, OrderStatus::Submitted, "", now);
    }
    let known = order.fills.len();
    for fill in view.fills.iter().skip(known) {
        order.fills.push(Fill {
            trade_id: fill.trade_id.clone(),
            quantity: fill.quantity.normalize().to_string(),
            price: fill.price.normalize().to_string(),
            fee: fill.fee.normalize().to_string(),
            fee_asset: fill.fee_asset.clone(),
            time: Some(ms_to_timestamp(if fill.time_ms > 0 {
                fill.time_ms
            } else {
                now
            })),
        });
    }
    let (filled, notional, fees) = view.fills.iter().fold(
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
        |(q, n, f), fill| {
            (
                q + fill.quantity,
                n + fill.quantity * fill.price,
                f + fill.fee,
            )
        },
    );
    order.filled_quantity = filled.normalize().to_string();
    if !filled.is_zero() {
        order.average_fill_price = (notional / filled).round_dp(12).normalize().to_string();
        order.fee_total = fees.normalize().to_string();
        order.fee_asset = view
            .fills
            .last()
            .map(|f| f.fee_asset.clone())
            .unwrap_or_default();
    }
    if !view.reason.is_empty() {
        order.status_reason = view.reason.clone();
    }
    transition(order, view.status, &view.reason, now);
}

/// The ticket a stored order was sent as.
fn ticket_of(order: &Order) -> OrderTicket {
    let decimal = |text: &str| parse_decimal(text).ok();
    let instrument = order.instrument.clone().unwrap_or_default();
    OrderTicket {
        client_order_id: order.client_order_id.clone(),
        symbol: instrument.symbol,
        base: instrument.base,
        quote: instrument.quote,
        side: Side::try_from(order.side).unwrap_or(Side::Buy),
        order_type: OrderType::try_from(order.r#type).unwrap_or(OrderType::Market),
        time_in_force: TimeInForce::try_from(order.time_in_force).unwrap_or(TimeInForce::Gtc),
        quantity: decimal(&order.quantity).unwrap_or_default(),
        price: decimal(&order.price),
        stop_price: decimal(&order.stop_price),
        reference_price: decimal(&order.reference_price),
    }
}

/// A stored order as its exchange reported it.
fn exchange_view(order: &Order) -> ExchangeOrder {
    let decimal = |text: &str| parse_decimal(text).unwrap_or_default();
    ExchangeOrder {
        exchange_order_id: order.exchange_order_id.clone(),
        status: status_of(order),
        fills: order
            .fills
            .iter()
            .map(|f| super::exchanges::ExchangeFill {
                trade_id: f.trade_id.clone(),
                quantity: decimal(&f.quantity),
                price: decimal(&f.price),
                fee: decimal(&f.fee),
                fee_asset: f.fee_asset.clone(),
                time_ms: f
                    .time
                    .as_ref()
                    .map(crate::proto_time::timestamp_ms)
                    .unwrap_or_default(),
            })
            .collect(),
        reason: order.status_reason.clone(),
    }
}

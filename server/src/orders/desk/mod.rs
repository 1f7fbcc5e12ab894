//! The order desk: the one place every order passes. It checks the halt
//! and the exchange's breaker, derives the client order id from the
//! request id (so a retry is the same order), persists every state change
//! and fill, and tells watchers and the audit log.
//!
//! This file holds the desk and its tracked open orders; placement and
//! cancellation, request checks, reconciliation with exchanges and the
//! order life cycle each have their own file.

mod cancel;
mod in_flight;
mod ledger;
mod paper_follow;
mod perps;
mod placement;
mod positions;
mod recovery;
mod replace;
mod sync;
mod ticket;
mod view;
mod window;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rust_decimal::Decimal;
use tokio::sync::broadcast;

use super::{
    error::OrderError,
    exchanges::{
        Exchange, ExchangeOrder,
        instrumented::{Instrumented, observe_rate_limits},
        paper::PaperExchange,
    },
    metrics::OrderMetrics,
};
use crate::{
    audit::{AuditEntry, AuditLog, actions},
    controls::{breakers::CircuitBreakers, halt::TradingHalt},
    listing::{Feed, Relay},
    market::{account, margin::Leverage, position::Position, symbol::SymbolNormalizer},
    model::order::{Order, OrderStatus},
    proto_time::now_ms,
    settings::Settings,
    store::{OrderQuery, OrderUpdate, Store, StoreError, walk_orders},
};
use ledger::Ledger;
pub use placement::{Leg, client_order_id};
pub use view::DeskView;
pub use window::{Held, Traded, WindowBook};

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
    /// Saves automatic breaker transitions with their audit events.
    settings: Settings,
    normalizer: Arc<SymbolNormalizer>,
    /// How old an order the process never sent may be and still be sent
    /// after a restart.
    resend_within: Duration,
    /// Open orders by client order id (what price updates and syncs can
    /// change).
    open: Mutex<HashMap<String, Order>>,
    /// Books fills into the paper balances and pipeline positions.
    ledger: Arc<Ledger>,
    /// What the gauges show.
    view: view::SharedView,
    /// This replica's paper operations in flight.
    paper_ops: paper_follow::PaperOps,
    /// This process's placements under way, which the sync leaves alone.
    in_flight: in_flight::InFlight,
    /// Wakes the paper book's rebuild: another replica changed an order.
    paper_changed: tokio::sync::Notify,
    /// The leverage settings made on venues, by exchange and symbol.
    leverage_set: Mutex<std::collections::HashSet<(String, String, Leverage)>>,
    /// Held while an open order's new state from an exchange is applied
    /// and saved, so that a sync and a cancel cannot overwrite each other.
    writes: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Arc<Order>>,
    relayed: Relay<Arc<Order>>,
    metrics: OrderMetrics,
}

/// What the desk is built from.
pub struct DeskParts {
    pub store: Arc<dyn Store>,
    pub paper: Arc<PaperExchange>,
    /// The exchanges besides paper.
    pub venues: Vec<Arc<dyn Exchange>>,
    pub breakers: Arc<CircuitBreakers>,
    pub halt: Arc<TradingHalt>,
    pub audit: Arc<AuditLog>,
    /// The normalizer built from `signals.symbol_map`.
    pub normalizer: Arc<SymbolNormalizer>,
    /// See `exchanges.resend_within`.
    pub resend_within: Duration,
}

impl OrderDesk {
    /// Opens the desk: the paper book is rebuilt from the booked balances
    /// and the open orders (never from the whole history). What the last
    /// run left open is settled by [`OrderDesk::recover`] (a process alone
    /// on its store) or [`OrderDesk::take_over`] (the replica on duty),
    /// before new orders flow.
    pub async fn open(
        parts: DeskParts,
        meter: &opentelemetry::metrics::Meter,
    ) -> Result<Self, StoreError> {
        let DeskParts {
            store,
            paper,
            venues,
            breakers,
            halt,
            audit,
            normalizer,
            resend_within,
        } = parts;
        let mut exchanges: BTreeMap<String, Arc<dyn Exchange>> = BTreeMap::new();
        let paper_venue: Arc<dyn Exchange> = paper.clone();
        for venue in std::iter::once(paper_venue).chain(venues) {
            exchanges.insert(
                account::key(venue.name(), venue.account()),
                Arc::new(Instrumented::new(venue, meter)),
            );
        }
        observe_rate_limits(exchanges.values().cloned().collect(), meter);
        let filter = OrderQuery {
            statuses: OrderStatus::OPEN.to_vec(),
            ..Default::default()
        };
        let stored = walk_orders(&*store, filter).await?;
        let ledger = Ledger::open(&*store, paper.name()).await?;
        let (settled, perps, on_paper) = paper_follow::stored_paper(&*store, paper.name()).await?;
        paper.restore(&settled, &perps, &paper_follow::resting(&on_paper), || true);
        let open = stored
            .into_iter()
            .map(|o| (o.client_order_id.clone(), o))
            .collect();
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        Ok(Self {
            settings: Settings::new(store.clone(), audit.clone()),
            store,
            exchanges,
            paper,
            breakers,
            halt,
            audit,
            normalizer,
            resend_within,
            open: Mutex::new(open),
            ledger: Arc::new(ledger),
            view: Default::default(),
            paper_ops: Default::default(),
            in_flight: Default::default(),
            paper_changed: Default::default(),
            leverage_set: Mutex::default(),
            writes: tokio::sync::Mutex::new(()),
            events,
            relayed: Relay::new(WATCH_BUFFER),
            metrics: OrderMetrics::new(meter),
        })
    }

    /// The configured exchanges, one per account.
    pub fn exchanges(&self) -> impl Iterator<Item = &Arc<dyn Exchange>> {
        self.exchanges.values()
    }

    /// The exchange named `name`, as its account `account` (empty:
    /// `default`).
    pub fn exchange(&self, name: &str, account: &str) -> Result<&Arc<dyn Exchange>, OrderError> {
        if let Some(exchange) = self.exchanges.get(&account::key(name, account)) {
            return Ok(exchange);
        }
        if self.exchanges.values().any(|e| e.name() == name) {
            Err(OrderError::NoAccount {
                exchange: name.to_string(),
                account: account::or_default(account).to_string(),
            })
        } else {
            Err(OrderError::NoExchange {
                name: name.to_string(),
            })
        }
    }

    /// The exchange account that holds `order`.
    fn exchange_of(&self, order: &Order) -> Result<&Arc<dyn Exchange>, OrderError> {
        self.exchange(&order.exchange, &order.account)
    }

    /// A live feed of order changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Order>> {
        self.events.subscribe()
    }

    /// What WatchOrders reads: changes made here and relayed ones.
    pub fn watch_feed(&self) -> Feed<Arc<Order>> {
        self.relayed.feed_with(self.events.subscribe())
    }

    /// Order changes other replicas made, for watch streams.
    pub fn relay(&self) -> &Relay<Arc<Order>> {
        &self.relayed
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

    /// The pipeline's position in `symbol`, from every fill of its orders.
    pub async fn position(&self, pipeline_id: &str, symbol: &str) -> Result<Position, StoreError> {
        Ok(ledger::positions(&*self.store, pipeline_id)
            .await?
            .into_iter()
            .find(|(_, held, _)| held == symbol)
            .map(|(_, _, position)| position)
            .unwrap_or_default())
    }

    /// The pipeline's realised profit (negative: loss) on the day of
    /// `now`, and when its last fill happened (if it has one).
    pub async fn pipeline_history(
        &self,
        pipeline_id: &str,
        now: i64,
    ) -> Result<(Decimal, Option<i64>), StoreError> {
        let positions = ledger::positions(&*self.store, pipeline_id).await?;
        let realized = positions.iter().map(|(_, _, p)| p.realized_on(now)).sum();
        let last_fill = positions
            .iter()
            .map(|(_, _, p)| p.last_fill_ms)
            .filter(|ms| *ms > 0)
            .max();
        Ok((realized, last_fill))
    }

    /// Feeds a market price to the paper exchange (from a signal).
    pub async fn observe_price(&self, symbol: &str, price: Decimal) {
        let _op = self.paper_ops.begin();
        let observed = self.paper.observe_price(symbol, price, now_ms());
        self.follow_price(observed).await;
    }

    /// Every open order, on any replica, as stored.
    pub async fn open_orders(&self) -> Result<Vec<Order>, StoreError> {
        let filter = OrderQuery {
            statuses: OrderStatus::OPEN.to_vec(),
            ..Default::default()
        };
        walk_orders(&*self.store, filter).await
    }

    /// The stored state of `order`, if it is still open (another writer
    /// may have ended it).
    async fn latest_open(&self, order: &Order) -> Result<Option<Order>, StoreError> {
        Ok(self
            .store
            .get_order(&order.id)
            .await?
            .filter(|latest| latest.status.is_open()))
    }

    /// The latest state of an open order this desk placed or follows, by
    /// client order id.
    fn tracked(&self, client_order_id: &str) -> Option<Order> {
        self.open.lock().ok()?.get(client_order_id).cloned()
    }

    async fn apply_changes(&self, changed: Vec<(String, ExchangeOrder)>) {
        for (client_order_id, view) in changed {
            // Under the write lock, so that a cancel or a sync that asked
            // the exchange meanwhile sees this change and does not record
            // the order again from an older copy.
            let writing = self.writes.lock().await;
            let Some(mut order) = self.tracked(&client_order_id) else {
                continue;
            };
            order.apply(&view, now_ms());
            if let Err(err) = self.record(&order, None, None).await {
                tracing::error!(error = %err, order = %order.id, "order change not saved");
            }
            drop(writing);
            self.close_group(&order).await;
        }
    }

    /// Persists, tracks, meters and publishes an order's new state, with
    /// its new fills booked and the audit event that reports it (if any)
    /// in the same write, and returns the order as stored. When the stored
    /// order is ahead of this copy (another writer saved a later state),
    /// nothing is saved and the stored order is tracked and returned.
    async fn record(
        &self,
        order: &Order,
        placed: Option<Instant>,
        audit: Option<AuditEntry>,
    ) -> Result<Order, StoreError> {
        // A placement's own event reports what it found filled.
        let fills = match &audit {
            Some(entry) if entry.action == actions::ORDER_PLACE => None,
            _ => self.fill_report(order),
        };
        let time_ms = now_ms();
        let rows = audit
            .into_iter()
            .chain(fills)
            .map(|entry| entry.row(time_ms))
            .collect();
        let rows = match self
            .store
            .update_order(order, self.ledger.clone(), rows)
            .await?
        {
            OrderUpdate::Saved(rows) => rows,
            OrderUpdate::Behind(stored) => {
                tracing::info!(order = %order.id, status = %stored.status, "another writer saved a later state of this order first; keeping it");
                self.track(&stored);
                return Ok(*stored);
            }
        };
        self.audit.published(&rows);
        self.track(order);
        self.metrics.observe(order, placed);
        tracing::info!(
            target: "tradeplane::order",
            order = %order.id,
            exchange = %order.exchange,
            account = %order.account,
            symbol = %order.symbol(),
            side = %order.side,
            status = %order.status,
            quantity = %order.quantity,
            filled = %order.filled_quantity,
            pipeline = %order.origin.pipeline_id,
            "order recorded"
        );
        let _ = self.events.send(Arc::new(order.clone()));
        Ok(order.clone())
    }

    /// The audit event that reports fills `order` has beyond the copy
    /// last recorded here, so that subscribers hear about them (a fill
    /// found at placement is reported by the placement's own event).
    fn fill_report(&self, order: &Order) -> Option<AuditEntry> {
        let before = self.tracked(&order.client_order_id)?;
        (order.fills.len() > before.fills.len()).then(|| AuditEntry {
            action: actions::ORDER_FILL,
            target: order.id.clone(),
            detail: format!(
                "{} {} {} on {}: {}",
                order.side.word(),
                order.filled_quantity.normalize(),
                order.instrument.symbol,
                order.exchange,
                order.status
            ),
            ..AuditEntry::system()
        })
    }

    /// Keeps an open order's latest state (and forgets an ended one).
    fn track(&self, order: &Order) {
        if let Ok(mut open) = self.open.lock() {
            if order.status.is_open() {
                open.insert(order.client_order_id.clone(), order.clone());
            } else {
                open.remove(&order.client_order_id);
            }
        }
    }
}

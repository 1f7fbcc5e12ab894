//! The order desk: the one place every order passes. It checks the halt
//! and the exchange's breaker, derives the client order id from the
//! request id (so a retry is the same order), persists every state change
//! and fill, and tells watchers and the audit log.
//!
//! This file holds the desk and its tracked open orders; placement and
//! cancellation, request checks, reconciliation with exchanges and the
//! order life cycle each have their own file.

mod cancel;
mod ledger;
mod placement;
mod positions;
mod recovery;
mod replace;
mod sync;
mod ticket;

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
    audit::{AuditEntry, AuditLog},
    controls::{breakers::CircuitBreakers, halt::TradingHalt},
    listing::{Feed, Relay},
    market::{position::Position, symbol::SymbolNormalizer},
    model::order::{Order, OrderStatus},
    proto_time::now_ms,
    settings::Settings,
    store::{OrderQuery, Store, StoreError, walk_orders},
};
use ledger::Ledger;
pub use placement::{Leg, client_order_id};

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
    /// Paper balances and pipeline positions, from every recorded fill.
    ledger: Mutex<Ledger>,
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
    /// Opens the desk: the paper book and the positions are rebuilt from
    /// the ledger and the open orders (never from the whole history), and
    /// every order the last run left open is brought to a known state
    /// before this returns (so before new orders flow): see
    /// [`OrderDesk::recover`].
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
                venue.name().to_string(),
                Arc::new(Instrumented::new(venue, meter)),
            );
        }
        observe_rate_limits(exchanges.values().cloned().collect(), meter);
        let filter = OrderQuery {
            statuses: OrderStatus::OPEN.to_vec(),
            ..Default::default()
        };
        let stored = walk_orders(&*store, filter).await?;
        let ledger = Ledger::load(&*store, &stored, paper.name()).await?;
        // A paper order still NEW never reached the book: recovery sends
        // it.
        let resting: Vec<_> = stored
            .iter()
            .filter(|o| o.exchange == paper.name() && o.status != OrderStatus::New)
            .map(|o| (o.ticket(), o.exchange_view()))
            .collect();
        paper.restore(ledger.paper_settled(), &resting);
        let open = stored
            .into_iter()
            .map(|o| (o.client_order_id.clone(), o))
            .collect();
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let desk = Self {
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
            ledger: Mutex::new(ledger),
            writes: tokio::sync::Mutex::new(()),
            events,
            relayed: Relay::new(WATCH_BUFFER),
            metrics: OrderMetrics::new(meter),
        };
        desk.recover().await;
        Ok(desk)
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
    pub fn position(&self, pipeline_id: &str, symbol: &str) -> Position {
        self.ledger
            .lock()
            .map(|ledger| ledger.position(pipeline_id, symbol))
            .unwrap_or_default()
    }

    /// The pipeline's realised profit (negative: loss) on the day of `now`.
    pub fn realized_today(&self, pipeline_id: &str, now: i64) -> Decimal {
        self.ledger
            .lock()
            .map(|ledger| {
                ledger
                    .positions_of(pipeline_id)
                    .map(|p| p.realized_on(now))
                    .sum()
            })
            .unwrap_or_default()
    }

    /// When the pipeline's last fill happened.
    pub fn last_fill_ms(&self, pipeline_id: &str) -> Option<i64> {
        self.ledger.lock().ok().and_then(|ledger| {
            ledger
                .positions_of(pipeline_id)
                .map(|p| p.last_fill_ms)
                .filter(|ms| *ms > 0)
                .max()
        })
    }

    /// Feeds a market price to the paper exchange (from a signal).
    pub async fn observe_price(&self, symbol: &str, price: Decimal) {
        let changed = self.paper.observe_price(symbol, price, now_ms());
        self.apply_changes(changed).await;
    }

    /// Every open order, as last recorded.
    pub fn open_orders(&self) -> Vec<Order> {
        self.open
            .lock()
            .map(|open| open.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest state of an open order, by client order id.
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
    /// the ledger's snapshots of its new fills and the audit event that
    /// reports it (if any) in the same write.
    async fn record(
        &self,
        order: &Order,
        placed: Option<Instant>,
        audit: Option<AuditEntry>,
    ) -> Result<(), StoreError> {
        let snapshots = match self.ledger.lock() {
            Ok(mut ledger) => ledger.book(order, order.exchange == self.paper.name()),
            Err(_) => return Err(StoreError::Unavailable("the ledger is poisoned".into())),
        };
        let rows = audit.iter().map(|entry| entry.row(now_ms())).collect();
        let rows = self.store.update_order(order, &snapshots, rows).await?;
        if let Some(entry) = audit {
            self.audit.published(&[entry], &rows);
        }
        if let Ok(mut open) = self.open.lock() {
            if order.status.is_open() {
                open.insert(order.client_order_id.clone(), order.clone());
            } else {
                open.remove(&order.client_order_id);
            }
        }
        self.metrics.observe(order, placed);
        tracing::info!(
            target: "tradeplane::order",
            order = %order.id,
            exchange = %order.exchange,
            symbol = %order.symbol(),
            side = %order.side,
            status = %order.status,
            quantity = %order.quantity,
            filled = %order.filled_quantity,
            pipeline = %order.origin.pipeline_id,
            "order recorded"
        );
        let _ = self.events.send(Arc::new(order.clone()));
        Ok(())
    }
}

//! `paper`: an embedded exchange with simulated balances. Market orders
//! fill at the reference price moved against the taker by a seeded random
//! slippage of up to `slippage_bps`; limit and stop orders rest until a
//! later price crosses them; fees are `fee_bps` of the notional, in the
//! quote asset. The same instrument rules as a real venue apply.
//!
//! Its balances are not stored here: the order desk keeps what recorded
//! fills have moved in each asset (see [`settlement`]), and
//! [`PaperExchange::restore`] rebuilds the book from that and the open
//! orders at start-up.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Mutex,
};

use crate::{
    market::side::Side,
    model::order::{OrderStatus, OrderType, TimeInForce},
};
use async_trait::async_trait;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Exchange, ExchangeError, ExchangeOrder, Fill, InstrumentRules, OrderTicket};

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// Finished orders remembered for lookups and duplicate ids.
const REMEMBERED: usize = 10_000;

/// Paper exchange settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Starting balances per asset.
    pub balances: BTreeMap<String, Decimal>,
    /// Largest slippage of a market fill, in basis points.
    pub slippage_bps: Decimal,
    /// Fee per fill, in basis points of the notional.
    pub fee_bps: Decimal,
    /// Seed of the slippage draws: the same seed and orders give the same
    /// fills.
    pub seed: u64,
    pub tick_size: Decimal,
    pub lot_size: Decimal,
    pub min_quantity: Decimal,
    pub min_notional: Decimal,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            balances: BTreeMap::from([
                ("USDT".into(), Decimal::from(100_000)),
                ("BTC".into(), Decimal::ONE),
            ]),
            slippage_bps: Decimal::from(5),
            fee_bps: Decimal::from(10),
            seed: 42,
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::new(1, 5),
            min_quantity: Decimal::new(1, 5),
            min_notional: Decimal::from(5),
        }
    }
}

struct Resting {
    ticket: OrderTicket,
    order: ExchangeOrder,
    /// Funds held for the order: (asset, amount).
    locked: Option<(String, Decimal)>,
}

struct Book {
    free: BTreeMap<String, Decimal>,
    locked: BTreeMap<String, Decimal>,
    /// Open orders: what a new price can fill.
    resting: HashMap<String, Resting>,
    /// Recently finished orders, for lookups and duplicate ids (the
    /// oldest are forgotten past [`REMEMBERED`]).
    done: HashMap<String, ExchangeOrder>,
    done_order: VecDeque<String>,
    last_price: HashMap<String, Decimal>,
    rng: StdRng,
    clock_ms: i64,
}

/// The paper exchange.
pub struct PaperExchange {
    config: PaperConfig,
    rules: InstrumentRules,
    book: Mutex<Book>,
}

impl PaperExchange {
    /// A paper exchange with the configured starting balances.
    pub fn new(config: PaperConfig) -> Self {
        let rules = InstrumentRules {
            tick_size: config.tick_size,
            lot_size: config.lot_size,
            min_quantity: config.min_quantity,
            min_notional: config.min_notional,
        };
        let book = Book {
            free: config.balances.clone(),
            locked: BTreeMap::new(),
            resting: HashMap::new(),
            done: HashMap::new(),
            done_order: VecDeque::new(),
            last_price: HashMap::new(),
            rng: StdRng::seed_from_u64(config.seed),
            clock_ms: 0,
        };
        Self {
            config,
            rules,
            book: Mutex::new(book),
        }
    }

    /// Rebuilds the book: `settled` is what recorded fills have moved in
    /// each asset (added to the configured balances), and the `open`
    /// orders rest again, holding their funds.
    pub fn restore(
        &self,
        settled: &BTreeMap<String, Decimal>,
        open: &[(OrderTicket, ExchangeOrder)],
    ) {
        let Ok(mut book) = self.book.lock() else {
            return;
        };
        for (asset, change) in settled {
            *book.balance(asset) += change;
        }
        for (ticket, order) in open {
            let locked = book.lock_for(ticket, &self.config);
            book.rest(ticket, order, locked);
        }
    }

    /// Feeds a market price: resting orders of `symbol` that it crosses
    /// fill. Returns the orders that changed.
    pub fn observe_price(
        &self,
        symbol: &str,
        price: Decimal,
        now_ms: i64,
    ) -> Vec<(String, ExchangeOrder)> {
        let Ok(mut book) = self.book.lock() else {
            return Vec::new();
        };
        book.clock_ms = now_ms;
        book.observe(symbol, price, &self.config)
    }
}

impl Book {
    fn balance(&mut self, asset: &str) -> &mut Decimal {
        self.free.entry(asset.to_string()).or_default()
    }

    /// Puts an open order on the book, holding `locked`.
    fn rest(
        &mut self,
        ticket: &OrderTicket,
        order: &ExchangeOrder,
        locked: Option<(String, Decimal)>,
    ) {
        self.resting.insert(
            ticket.client_order_id.clone(),
            Resting {
                ticket: ticket.clone(),
                order: order.clone(),
                locked,
            },
        );
    }

    fn finish(&mut self, client_order_id: String, order: ExchangeOrder) {
        if self.done.insert(client_order_id.clone(), order).is_none() {
            self.done_order.push_back(client_order_id);
        }
        while self.done_order.len() > REMEMBERED {
            if let Some(oldest) = self.done_order.pop_front() {
                self.done.remove(&oldest);
            }
        }
    }

    /// Funds a resting order holds: quote for buys (at its limit or stop,
    /// plus the fee), base for sells.
    fn lock_for(
        &mut self,
        ticket: &OrderTicket,
        config: &PaperConfig,
    ) -> Option<(String, Decimal)> {
        let (asset, amount) = match ticket.side {
            Side::Buy => {
                let price = ticket.price.or(ticket.stop_price)?;
                let notional = ticket.quantity * price;
                (
                    ticket.quote.clone(),
                    notional + notional * config.fee_bps / BPS,
                )
            }
            _ => (ticket.base.clone(), ticket.quantity),
        };
        *self.balance(&asset) -= amount;
        *self.locked.entry(asset.clone()).or_default() += amount;
        Some((asset, amount))
    }

    fn unlock(&mut self, locked: Option<(String, Decimal)>) {
        if let Some((asset, amount)) = locked {
            *self.balance(&asset) += amount;
            *self.locked.entry(asset).or_default() -= amount;
        }
    }

    fn settle(&mut self, ticket: &OrderTicket, fill: &Fill) {
        for (asset, change) in settlement(ticket.side, &ticket.base, &ticket.quote, fill) {
            *self.balance(&asset) += change;
        }
    }

    /// Whether the free balance covers filling `ticket` at `price`.
    fn affordable(&mut self, ticket: &OrderTicket, price: Decimal, config: &PaperConfig) -> bool {
        match ticket.side {
            Side::Buy => {
                let notional = ticket.quantity * price;
                *self.balance(&ticket.quote) >= notional + notional * config.fee_bps / BPS
            }
            _ => *self.balance(&ticket.base) >= ticket.quantity,
        }
    }

    fn fill(&mut self, ticket: &OrderTicket, price: Decimal, config: &PaperConfig) -> Fill {
        let fill = Fill {
            trade_id: format!("paper-{}", uuid::Uuid::now_v7().simple()),
            quantity: ticket.quantity,
            price,
            fee: (ticket.quantity * price * config.fee_bps / BPS).normalize(),
            fee_asset: ticket.quote.clone(),
            time_ms: self.clock_ms,
        };
        self.settle(ticket, &fill);
        fill
    }

    /// A market fill price: the reference moved against the taker.
    fn market_price(
        &mut self,
        side: Side,
        reference: Decimal,
        config: &PaperConfig,
        tick: Decimal,
    ) -> Decimal {
        let max = config.slippage_bps.max(Decimal::ZERO);
        let draw = if max.is_zero() {
            Decimal::ZERO
        } else {
            let hundredths = (max * Decimal::from(100))
                .trunc()
                .to_string()
                .parse::<u64>()
                .unwrap_or(0);
            Decimal::new(self.rng.random_range(0..=hundredths) as i64, 2)
        };
        let moved = if side == Side::Buy {
            reference * (BPS + draw) / BPS
        } else {
            reference * (BPS - draw) / BPS
        };
        if tick.is_zero() {
            moved
        } else {
            ((moved / tick).round() * tick).normalize()
        }
    }

    fn observe(
        &mut self,
        symbol: &str,
        price: Decimal,
        config: &PaperConfig,
    ) -> Vec<(String, ExchangeOrder)> {
        self.last_price.insert(symbol.to_string(), price);
        let crossed: Vec<String> = self
            .resting
            .iter()
            .filter(|(_, r)| r.ticket.symbol == symbol && triggers(&r.ticket, price))
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = Vec::new();
        for id in crossed {
            let Some(mut resting) = self.resting.remove(&id) else {
                continue;
            };
            self.unlock(resting.locked.take());
            let fill_price = match resting.ticket.order_type {
                OrderType::Limit | OrderType::StopLimit => resting.ticket.price.unwrap_or(price),
                _ => self.market_price(resting.ticket.side, price, config, config.tick_size),
            };
            if self.affordable(&resting.ticket, fill_price, config) {
                let fill = self.fill(&resting.ticket, fill_price, config);
                resting.order.fills.push(fill);
                resting.order.status = OrderStatus::Filled;
            } else {
                resting.order.status = OrderStatus::Rejected;
                resting.order.reason = "insufficient balance when triggered".into();
            }
            changed.push((id.clone(), resting.order.clone()));
            self.finish(id, resting.order);
        }
        changed
    }
}

/// What one fill moves in each asset: a buy pays the quote (and the fee,
/// in the quote) and receives the base; a sell the other way round.
pub fn settlement(side: Side, base: &str, quote: &str, fill: &Fill) -> [(String, Decimal); 2] {
    let notional = fill.quantity * fill.price;
    if side == Side::Buy {
        [
            (quote.to_string(), -(notional + fill.fee)),
            (base.to_string(), fill.quantity),
        ]
    } else {
        [
            (base.to_string(), -fill.quantity),
            (quote.to_string(), notional - fill.fee),
        ]
    }
}

/// Whether `price` makes a resting order execute.
fn triggers(ticket: &OrderTicket, price: Decimal) -> bool {
    let buy = ticket.side == Side::Buy;
    match ticket.order_type {
        OrderType::Limit => ticket
            .price
            .is_some_and(|limit| if buy { price <= limit } else { price >= limit }),
        OrderType::Stop | OrderType::StopLimit => ticket
            .stop_price
            .is_some_and(|stop| if buy { price >= stop } else { price <= stop }),
        _ => false,
    }
}

#[async_trait]
impl Exchange for PaperExchange {
    fn name(&self) -> &str {
        "paper"
    }

    fn kind(&self) -> &'static str {
        "paper"
    }

    fn live(&self) -> bool {
        false
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let rules = self.rules;
        let mut book = self
            .book
            .lock()
            .map_err(|_| ExchangeError::Unavailable("paper book poisoned".into()))?;
        if book.resting.contains_key(&ticket.client_order_id)
            || book.done.contains_key(&ticket.client_order_id)
        {
            return Err(ExchangeError::Rejected("duplicate client order id".into()));
        }
        book.clock_ms = chrono::Utc::now().timestamp_millis();
        // The order's reference price is the market for this order; the
        // desk has already fed it to the book (so resting orders saw it).
        let last = ticket
            .reference_price
            .or_else(|| book.last_price.get(&ticket.symbol).copied());
        check_rules(ticket, &rules, ticket.price.or(last).or(ticket.stop_price))?;
        let mut order = ExchangeOrder {
            exchange_order_id: format!("P{}", uuid::Uuid::now_v7().simple()),
            status: OrderStatus::Submitted,
            fills: Vec::new(),
            reason: String::new(),
        };
        let marketable_at = match ticket.order_type {
            OrderType::Market => Some(last.ok_or_else(|| {
                ExchangeError::Rejected(
                    "no price yet for this symbol: give a reference_price".into(),
                )
            })?),
            OrderType::Limit => last.filter(|p| triggers(ticket, *p)).map(|p| {
                let limit = ticket.price.unwrap_or(p);
                if ticket.side == Side::Buy {
                    p.min(limit)
                } else {
                    p.max(limit)
                }
            }),
            _ => None,
        };
        let mut locked = None;
        match marketable_at {
            Some(price) => {
                let price = if ticket.order_type == OrderType::Market {
                    book.market_price(ticket.side, price, &self.config, rules.tick_size)
                } else {
                    price
                };
                if !book.affordable(ticket, price, &self.config) {
                    return Err(ExchangeError::Rejected("insufficient balance".into()));
                }
                let fill = book.fill(ticket, price, &self.config);
                order.fills.push(fill);
                order.status = OrderStatus::Filled;
            }
            None if matches!(ticket.time_in_force, TimeInForce::Ioc | TimeInForce::Fok)
                && ticket.order_type == OrderType::Limit =>
            {
                order.status = OrderStatus::Canceled;
                order.reason = "not marketable; expired (IOC/FOK)".into();
            }
            None => {
                let price = ticket.price.or(ticket.stop_price).unwrap_or_default();
                if !book.affordable(ticket, price, &self.config) {
                    return Err(ExchangeError::Rejected("insufficient balance".into()));
                }
                locked = book.lock_for(ticket, &self.config);
            }
        }
        if order.status.is_open() {
            book.rest(ticket, &order, locked);
        } else {
            book.finish(ticket.client_order_id.clone(), order.clone());
        }
        Ok(order)
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        _symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let mut book = self
            .book
            .lock()
            .map_err(|_| ExchangeError::Unavailable("paper book poisoned".into()))?;
        let Some(mut resting) = book.resting.remove(client_order_id) else {
            return Err(match book.done.get(client_order_id) {
                Some(order) => {
                    ExchangeError::Rejected(format!("order is already {}", order.status.word()))
                }
                None => ExchangeError::NotFound,
            });
        };
        book.unlock(resting.locked.take());
        resting.order.status = OrderStatus::Canceled;
        book.finish(client_order_id.to_string(), resting.order.clone());
        Ok(resting.order)
    }

    async fn fetch(
        &self,
        client_order_id: &str,
        _symbol: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let book = self
            .book
            .lock()
            .map_err(|_| ExchangeError::Unavailable("paper book poisoned".into()))?;
        Ok(book
            .resting
            .get(client_order_id)
            .map(|r| r.order.clone())
            .or_else(|| book.done.get(client_order_id).cloned()))
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let book = self
            .book
            .lock()
            .map_err(|_| ExchangeError::Unavailable("paper book poisoned".into()))?;
        let mut assets: Vec<String> = book
            .free
            .keys()
            .chain(book.locked.keys())
            .cloned()
            .collect();
        assets.sort();
        assets.dedup();
        Ok(assets
            .into_iter()
            .map(|asset| {
                let free = book
                    .free
                    .get(&asset)
                    .copied()
                    .unwrap_or_default()
                    .normalize();
                let locked = book
                    .locked
                    .get(&asset)
                    .copied()
                    .unwrap_or_default()
                    .normalize();
                (asset, free, locked)
            })
            .collect())
    }

    async fn rules(&self, _symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        Ok(self.rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let book = self
            .book
            .lock()
            .map_err(|_| ExchangeError::Unavailable("paper book poisoned".into()))?;
        Ok(book.last_price.get(symbol).copied())
    }
}

/// The venue-side checks: lot and tick multiples, minimum quantity and
/// notional.
fn check_rules(
    ticket: &OrderTicket,
    rules: &InstrumentRules,
    price: Option<Decimal>,
) -> Result<(), ExchangeError> {
    if ticket.quantity < rules.min_quantity {
        return Err(ExchangeError::Rejected(format!(
            "quantity is below the minimum {}",
            rules.min_quantity
        )));
    }
    if !rules.lot_size.is_zero() && !(ticket.quantity % rules.lot_size).is_zero() {
        return Err(ExchangeError::Rejected(format!(
            "quantity is not a multiple of the lot size {}",
            rules.lot_size
        )));
    }
    for limit in [ticket.price, ticket.stop_price].into_iter().flatten() {
        if !rules.tick_size.is_zero() && !(limit % rules.tick_size).is_zero() {
            return Err(ExchangeError::Rejected(format!(
                "price is not a multiple of the tick size {}",
                rules.tick_size
            )));
        }
    }
    if let Some(price) = price
        && ticket.quantity * price < rules.min_notional
    {
        return Err(ExchangeError::Rejected(format!(
            "notional is below the minimum {}",
            rules.min_notional
        )));
    }
    Ok(())
}

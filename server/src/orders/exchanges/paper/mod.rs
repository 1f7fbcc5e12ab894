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

mod book;
mod perp;

use std::{collections::BTreeMap, sync::Mutex};

use crate::{
    market::{instrument::InstrumentKind, margin::Leverage, side::Side},
    model::order::{OrderStatus, OrderType, TimeInForce},
};
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Exchange, ExchangeError, ExchangeOrder, InstrumentRules, OrderTicket, PerpPosition};
use book::{Book, triggers};
pub use book::{Observed, settlement};
pub use perp::{PaperPerp, perp_settlement};

/// See [`PaperExchange::acceptance_window`].
const PAPER_ACCEPTANCE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

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
    /// The most of a resting limit order one price update fills (the
    /// rest keeps resting, as on a venue whose book is thin); unset:
    /// whole orders. Like Binance, an OCO leg's first fill, whole or in
    /// part, cancels the other legs.
    pub max_fill_quantity: Option<Decimal>,
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
            max_fill_quantity: None,
        }
    }
}

pub struct PaperExchange {
    config: PaperConfig,
    rules: InstrumentRules,
    book: Mutex<Book>,
}

impl PaperExchange {
    /// The book, locked.
    fn lock_book(&self) -> Result<std::sync::MutexGuard<'_, Book>, ExchangeError> {
        self.book.lock().map_err(poisoned)
    }

    /// A paper exchange with the configured starting balances.
    pub fn new(config: PaperConfig) -> Self {
        let rules = InstrumentRules {
            tick_size: config.tick_size,
            lot_size: config.lot_size,
            min_quantity: config.min_quantity,
            min_notional: config.min_notional,
        };
        let book = Book::new(&config);
        Self {
            config,
            rules,
            book: Mutex::new(book),
        }
    }

    /// Rebuilds the book afresh: `settled` is what recorded fills have
    /// moved in each asset (added to the configured balances), `perps`
    /// the perpetual positions and settings by symbol, and the `open`
    /// orders rest again, holding their funds. `commit` is asked
    /// under the book's lock, before anything changes: the book is rebuilt
    /// only if it answers true. Returns whether it was.
    pub fn restore(
        &self,
        settled: &BTreeMap<String, Decimal>,
        perps: &BTreeMap<String, PaperPerp>,
        open: &[(OrderTicket, ExchangeOrder)],
        commit: impl FnOnce() -> bool,
    ) -> bool {
        let Ok(mut book) = self.book.lock() else {
            return false;
        };
        if !commit() {
            return false;
        }
        book.clear(&self.config);
        for (asset, change) in settled {
            *book.balance(asset) += change;
        }
        book.perps = perps.clone();
        for (ticket, order) in open {
            // An order that executed in part holds funds for its rest
            // alone: its first fill ended its OCO group.
            let filled: Decimal = order.fills.iter().map(|f| f.quantity).sum();
            match &ticket.oco_group {
                Some(group) if filled.is_zero() => {
                    book.rest_in_group(group, ticket, order, &self.config)
                }
                _ => {
                    let rest = OrderTicket {
                        quantity: ticket.quantity - filled,
                        ..ticket.clone()
                    };
                    let locked = book.lock_for(&rest, &self.config);
                    book.rest(ticket, order, locked);
                }
            }
        }
        true
    }

    /// Rests `ticket` as one more leg of its OCO group, which is on the
    /// book already with its funds held: the leg was placed with the group
    /// by the run before a restart, which stopped before recording it.
    pub fn join_group(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let mut book = self.lock_book()?;
        let Some(group) = ticket
            .oco_group
            .as_deref()
            .filter(|group| book.has_group(group))
        else {
            return Err(ExchangeError::Rejected(
                "its OCO group is no longer on the book".into(),
            ));
        };
        let id = &ticket.client_order_id;
        if book.resting.contains_key(id) || book.done.contains_key(id) {
            return Err(ExchangeError::Rejected("duplicate client order id".into()));
        }
        let order = ExchangeOrder {
            exchange_order_id: format!("P{}", uuid::Uuid::now_v7().simple()),
            status: OrderStatus::Submitted,
            fills: Vec::new(),
            reason: String::new(),
        };
        book.rest_in_group(group, ticket, &order, &self.config);
        Ok(order)
    }

    /// Feeds a market price: resting orders of `symbol` that it crosses
    /// fill, and positions it leaves at their maintenance margin are
    /// liquidated.
    pub fn observe_price(&self, symbol: &str, price: Decimal, now_ms: i64) -> Observed {
        let Ok(mut book) = self.book.lock() else {
            return Observed::default();
        };
        book.clock_ms = now_ms;
        book.observe(symbol, price, &self.config)
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

    /// A paper order is answered in-process; what can keep it `new` in the
    /// store is the write of its outcome, which the store's statement
    /// timeout (5 s by default) bounds.
    fn acceptance_window(&self) -> std::time::Duration {
        PAPER_ACCEPTANCE_WINDOW
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let rules = self.rules;
        let mut book = self.lock_book()?;
        if book.resting.contains_key(&ticket.client_order_id)
            || book.done.contains_key(&ticket.client_order_id)
        {
            return Err(ExchangeError::Rejected("duplicate client order id".into()));
        }
        book.check_reduce_only(ticket)
            .map_err(ExchangeError::Rejected)?;
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
                if !book.affordable(ticket, ticket.quantity, price, &self.config) {
                    return Err(ExchangeError::Rejected("insufficient balance".into()));
                }
                let fill = book.fill(ticket, ticket.quantity, price, &self.config);
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
                if !book.affordable(ticket, ticket.quantity, price, &self.config) {
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

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let rejected = |why: &str| Err(ExchangeError::Rejected(why.to_string()));
        let Some(group) = stop.oco_group.as_deref().filter(|g| !g.is_empty()) else {
            return rejected("an OCO needs a group id");
        };
        if target.oco_group.as_deref() != Some(group)
            || stop.side != target.side
            || stop.quantity != target.quantity
            || stop.symbol != target.symbol
        {
            return rejected("the legs of an OCO share group, side, symbol and quantity");
        }
        if !matches!(stop.order_type, OrderType::Stop | OrderType::StopLimit)
            || target.order_type != OrderType::Limit
        {
            return rejected("an OCO is a stop and a limit");
        }
        let mut book = self.lock_book()?;
        for leg in [stop, target] {
            let id = &leg.client_order_id;
            if book.resting.contains_key(id) || book.done.contains_key(id) {
                return rejected("duplicate client order id");
            }
            check_rules(leg, &self.rules, leg.price.or(leg.stop_price))?;
        }
        // Like a venue, refuse legs that would execute at once.
        if let Some(last) = book.last_price.get(&stop.symbol).copied()
            && (triggers(stop, last) || triggers(target, last))
        {
            return rejected("a leg of the OCO would execute at once");
        }
        book.check_reduce_only(stop)
            .map_err(ExchangeError::Rejected)?;
        let reserve_at = stop.stop_price.or(stop.price).unwrap_or_default();
        if !book.affordable(stop, stop.quantity, reserve_at, &self.config) {
            return rejected("insufficient balance");
        }
        let legs = [stop, target].map(|leg| {
            let order = ExchangeOrder {
                exchange_order_id: format!("P{}", uuid::Uuid::now_v7().simple()),
                status: OrderStatus::Submitted,
                fills: Vec::new(),
                reason: String::new(),
            };
            book.rest_in_group(group, leg, &order, &self.config);
            order
        });
        Ok(legs)
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        _symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let mut book = self.lock_book()?;
        match book.cancel_resting(client_order_id, "").into_iter().next() {
            Some((_, order)) => Ok(order),
            None => Err(match book.done.get(client_order_id) {
                Some(order) => {
                    ExchangeError::Rejected(format!("order is already {}", order.status.word()))
                }
                None => ExchangeError::NotFound,
            }),
        }
    }

    async fn fetch(
        &self,
        client_order_id: &str,
        _symbol: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let book = self.lock_book()?;
        Ok(book
            .resting
            .get(client_order_id)
            .map(|r| r.order.clone())
            .or_else(|| book.done.get(client_order_id).cloned()))
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let mut book = self.lock_book()?;
        let mut assets: Vec<String> = book
            .free
            .keys()
            .chain(book.locked.keys())
            .cloned()
            .collect();
        assets.sort();
        assets.dedup();
        // What perpetual positions hold as margin (or lose, cross) counts
        // as locked.
        Ok(assets
            .into_iter()
            .map(|asset| {
                let wallet = *book.balance(&asset);
                let free = book.available(&asset);
                let locked = book.locked.get(&asset).copied().unwrap_or_default();
                let locked = locked + wallet - free;
                (asset, free.normalize(), locked.normalize())
            })
            .collect())
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        &[InstrumentKind::Spot, InstrumentKind::Perpetual]
    }

    async fn set_leverage(&self, symbol: &str, leverage: Leverage) -> Result<(), ExchangeError> {
        self.lock_book()?
            .set_leverage(symbol, leverage)
            .map_err(ExchangeError::Rejected)
    }

    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        Ok(self.lock_book()?.perp_positions())
    }

    async fn rules(&self, _symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        Ok(self.rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let book = self.lock_book()?;
        Ok(book.last_price.get(symbol).copied())
    }
}

/// The error of a poisoned book lock.
fn poisoned<T>(_: T) -> ExchangeError {
    ExchangeError::Unavailable("paper book poisoned".into())
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

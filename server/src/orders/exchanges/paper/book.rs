//! The paper exchange's book: balances, resting orders and their
//! one-cancels-the-other groups, and how a price fills them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;

use super::{BPS, PaperConfig, perp::PaperPerp};
use crate::{
    market::{margin::Leverage, side::Side},
    model::order::{ExchangeOrder, Fill, OrderStatus, OrderTicket, OrderType},
};

/// Finished orders remembered for lookups and duplicate ids.
const REMEMBERED: usize = 10_000;

/// An open order on the book.
pub(super) struct Resting {
    pub ticket: OrderTicket,
    pub order: ExchangeOrder,
    /// Funds held for the order alone: (asset, amount).
    pub locked: Option<(String, Decimal)>,
}

/// The legs of one one-cancels-the-other group, and the funds they hold
/// together (reserved once for all of them).
struct OcoGroup {
    legs: Vec<String>,
    locked: Option<(String, Decimal)>,
}

/// What a price did on the book.
#[derive(Debug, Default)]
pub struct Observed {
    /// Orders that filled or were canceled, by client order id.
    pub changed: Vec<(String, ExchangeOrder)>,
    /// Liquidations: orders the venue placed and filled itself.
    pub liquidated: Vec<(OrderTicket, ExchangeOrder)>,
}

/// Balances, open orders and recent finished ones.
pub(super) struct Book {
    pub free: BTreeMap<String, Decimal>,
    pub locked: BTreeMap<String, Decimal>,
    /// Open orders: what a new price can fill.
    pub resting: HashMap<String, Resting>,
    groups: HashMap<String, OcoGroup>,
    /// Recently finished orders, for lookups and duplicate ids (the
    /// oldest are forgotten past [`REMEMBERED`]).
    pub done: HashMap<String, ExchangeOrder>,
    done_order: VecDeque<String>,
    pub last_price: HashMap<String, Decimal>,
    /// Perpetual positions and settings, by symbol.
    pub perps: BTreeMap<String, PaperPerp>,
    rng: StdRng,
    pub clock_ms: i64,
}

impl Book {
    /// A book with the configured starting balances.
    pub fn new(config: &PaperConfig) -> Self {
        Self {
            free: config.balances.clone(),
            locked: BTreeMap::new(),
            resting: HashMap::new(),
            groups: HashMap::new(),
            done: HashMap::new(),
            done_order: VecDeque::new(),
            last_price: HashMap::new(),
            perps: BTreeMap::new(),
            rng: StdRng::seed_from_u64(config.seed),
            clock_ms: 0,
        }
    }

    /// Back to the configured balances with nothing resting (prices seen,
    /// finished orders and the slippage draws carry on).
    pub fn clear(&mut self, config: &PaperConfig) {
        self.free = config.balances.clone();
        self.locked.clear();
        self.resting.clear();
        self.groups.clear();
        self.perps.clear();
    }

    /// Rests the legs of an OCO group (or one more leg of it, when the
    /// book is restored), holding the group's funds once.
    pub fn rest_in_group(
        &mut self,
        group: &str,
        ticket: &OrderTicket,
        order: &ExchangeOrder,
        config: &PaperConfig,
    ) {
        if !self.groups.contains_key(group) {
            let locked = self.lock_for(ticket, config);
            self.groups.insert(
                group.to_string(),
                OcoGroup {
                    legs: Vec::new(),
                    locked,
                },
            );
        }
        if let Some(entry) = self.groups.get_mut(group) {
            entry.legs.push(ticket.client_order_id.clone());
        }
        self.rest(ticket, order, None);
    }

    /// Whether the OCO group `group` is on the book.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Ends the OCO group of a leg that executed or was canceled: its
    /// funds are released and every other leg still resting is canceled
    /// (and returned).
    pub fn dissolve(&mut self, group: Option<&str>, why: &str) -> Vec<(String, ExchangeOrder)> {
        let Some(group) = group.and_then(|g| self.groups.remove(g)) else {
            return Vec::new();
        };
        self.unlock(group.locked);
        let mut canceled = Vec::new();
        for leg in group.legs {
            if let Some(mut resting) = self.resting.remove(&leg) {
                resting.order.status = OrderStatus::Canceled;
                resting.order.reason = why.to_string();
                canceled.push((leg.clone(), resting.order.clone()));
                self.finish(leg, resting.order);
            }
        }
        canceled
    }

    /// Cancels a resting order (and the rest of its OCO group) with the
    /// reason `why`; returns the orders canceled, it first (none if it was
    /// not resting).
    pub fn cancel_resting(&mut self, id: &str, why: &str) -> Vec<(String, ExchangeOrder)> {
        let Some(mut resting) = self.resting.remove(id) else {
            return Vec::new();
        };
        self.unlock(resting.locked.take());
        let siblings = self.dissolve(
            resting.ticket.oco_group.as_deref(),
            "canceled with the other leg of its OCO group",
        );
        resting.order.status = OrderStatus::Canceled;
        if !why.is_empty() {
            resting.order.reason = why.to_string();
        }
        self.finish(id.to_string(), resting.order.clone());
        let mut canceled = vec![(id.to_string(), resting.order)];
        canceled.extend(siblings);
        canceled
    }

    pub fn balance(&mut self, asset: &str) -> &mut Decimal {
        self.free.entry(asset.to_string()).or_default()
    }

    /// Puts an open order on the book, holding `locked`.
    pub fn rest(
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

    pub fn finish(&mut self, client_order_id: String, order: ExchangeOrder) {
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
    /// plus the fee), base for sells; for a perpetual, the margin and fee
    /// of what it would open (nothing when reduce-only).
    pub fn lock_for(
        &mut self,
        ticket: &OrderTicket,
        config: &PaperConfig,
    ) -> Option<(String, Decimal)> {
        let (asset, amount) = match ticket.side {
            _ if ticket.reduce_only => return None,
            _ if ticket.is_perpetual() => {
                let price = ticket.price.or(ticket.stop_price)?;
                let notional = ticket.quantity * price;
                let leverage = self.perps.get(&ticket.symbol).map(PaperPerp::setting);
                let margin = leverage
                    .unwrap_or(Leverage::DEFAULT)
                    .initial_margin(notional);
                (
                    ticket.quote.clone(),
                    margin + notional * config.fee_bps / BPS,
                )
            }
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

    pub fn unlock(&mut self, locked: Option<(String, Decimal)>) {
        if let Some((asset, amount)) = locked {
            *self.balance(&asset) += amount;
            *self.locked.entry(asset).or_default() -= amount;
        }
    }

    fn settle(&mut self, ticket: &OrderTicket, fill: &Fill) {
        if ticket.is_perpetual() {
            return self.settle_perp(ticket, fill);
        }
        for (asset, change) in settlement(ticket.side, &ticket.base, &ticket.quote, fill) {
            *self.balance(&asset) += change;
        }
    }

    /// Whether the free balance covers filling `quantity` of `ticket` at
    /// `price`.
    pub fn affordable(
        &mut self,
        ticket: &OrderTicket,
        quantity: Decimal,
        price: Decimal,
        config: &PaperConfig,
    ) -> bool {
        if ticket.is_perpetual() {
            return self.perp_affordable(ticket, quantity, price, config);
        }
        match ticket.side {
            Side::Buy => {
                let notional = quantity * price;
                self.available(&ticket.quote) >= notional + notional * config.fee_bps / BPS
            }
            _ => *self.balance(&ticket.base) >= quantity,
        }
    }

    /// Fills `quantity` of `ticket` at `price`, moving the balances.
    pub fn fill(
        &mut self,
        ticket: &OrderTicket,
        quantity: Decimal,
        price: Decimal,
        config: &PaperConfig,
    ) -> Fill {
        let fill = Fill {
            trade_id: format!("paper-{}", uuid::Uuid::now_v7().simple()),
            quantity,
            price,
            fee: (quantity * price * config.fee_bps / BPS).normalize(),
            fee_asset: ticket.quote.clone(),
            time_ms: self.clock_ms,
        };
        self.settle(ticket, &fill);
        fill
    }

    /// A market fill price: the reference moved against the taker.
    pub fn market_price(
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

    /// Feeds a price: resting orders it crosses execute, then positions
    /// it leaves at their maintenance margin are liquidated.
    pub fn observe(&mut self, symbol: &str, price: Decimal, config: &PaperConfig) -> Observed {
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
            let siblings = self.dissolve(
                resting.ticket.oco_group.as_deref(),
                "the other leg of its OCO group executed",
            );
            let at_limit = matches!(
                resting.ticket.order_type,
                OrderType::Limit | OrderType::StopLimit
            );
            let fill_price = match at_limit {
                true => resting.ticket.price.unwrap_or(price),
                false => self.market_price(resting.ticket.side, price, config, config.tick_size),
            };
            let filled: Decimal = resting.order.fills.iter().map(|f| f.quantity).sum();
            let left = resting.ticket.quantity - filled;
            let quantity = match config.max_fill_quantity {
                Some(most) if at_limit => left.min(most),
                _ => left,
            };
            // A reduce-only order fills at most the position; what is
            // left beyond it is canceled.
            let reducible = self.reducible(&resting.ticket);
            let beyond = resting.ticket.reduce_only && quantity > reducible;
            let quantity = if beyond { reducible } else { quantity };
            if beyond {
                if !quantity.is_zero() {
                    let fill = self.fill(&resting.ticket, quantity, fill_price, config);
                    resting.order.fills.push(fill);
                }
                resting.order.status = OrderStatus::Canceled;
                resting.order.reason =
                    "reduce_only: canceled beyond the position left to reduce".into();
            } else if self.affordable(&resting.ticket, quantity, fill_price, config) {
                let fill = self.fill(&resting.ticket, quantity, fill_price, config);
                resting.order.fills.push(fill);
                if quantity < left {
                    // The rest keeps resting, holding its own funds.
                    resting.order.status = OrderStatus::PartiallyFilled;
                    let rest = OrderTicket {
                        quantity: left - quantity,
                        ..resting.ticket.clone()
                    };
                    resting.locked = self.lock_for(&rest, config);
                    changed.push((id.clone(), resting.order.clone()));
                    changed.extend(siblings);
                    self.resting.insert(id, resting);
                    continue;
                }
                resting.order.status = OrderStatus::Filled;
            } else {
                resting.order.status = OrderStatus::Rejected;
                resting.order.reason = "insufficient balance when triggered".into();
            }
            changed.push((id.clone(), resting.order.clone()));
            changed.extend(siblings);
            self.finish(id, resting.order);
        }
        let mut observed = Observed {
            changed,
            liquidated: Vec::new(),
        };
        self.liquidate(symbol, config, &mut observed);
        observed
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
pub(super) fn triggers(ticket: &OrderTicket, price: Decimal) -> bool {
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

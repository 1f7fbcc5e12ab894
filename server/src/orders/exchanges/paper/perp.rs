//! Perpetuals on the paper exchange: linear contracts margined and
//! settled in the quote asset, long or short, at a leverage per symbol,
//! isolated or cross. The quote balance is the wallet: a fill moves it by
//! the profit it realises less its fee. A position holds initial margin
//! (`|quantity| × entry ÷ leverage`) out of what new orders can use, and
//! is liquidated at the mark (the last price) once its equity falls to
//! the maintenance margin (see [`crate::market::margin`]). Funding is not
//! simulated.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    BPS, PaperConfig,
    book::{Book, Observed},
};
use crate::{
    market::{
        instrument::InstrumentKind,
        margin::{self, Leverage, MarginMode},
        position::Position,
        side::Side,
    },
    model::order::{ExchangeOrder, Fill, OrderStatus, OrderTicket},
    orders::exchanges::PerpPosition,
};

/// One symbol's perpetual on the paper exchange, as the book holds it and
/// the desk's ledger saves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaperPerp {
    /// The asset the contract is on.
    pub base: String,
    /// The asset margin and profit are in.
    pub quote: String,
    /// Signed quantity and average entry.
    pub position: Position,
    /// Profit realised in the symbol since the start, fees apart.
    pub realized: Decimal,
    /// The symbol's leverage and margin mode; `None`: never set
    /// ([`Leverage::DEFAULT`]).
    pub leverage: Option<Leverage>,
}

impl PaperPerp {
    /// The leverage that applies.
    pub fn setting(&self) -> Leverage {
        self.leverage.unwrap_or(Leverage::DEFAULT)
    }

    /// The initial margin the position holds.
    pub fn margin(&self) -> Decimal {
        let position = &self.position;
        self.setting()
            .initial_margin(position.quantity * position.average_cost)
    }
}

/// Books one fill of a perpetual on `(base, quote)` into `perp`; returns
/// what it moves in the quote balance: the profit it realised less its
/// fee.
pub fn perp_settlement(
    perp: &mut PaperPerp,
    (base, quote): (&str, &str),
    side: Side,
    fill: &Fill,
) -> Decimal {
    let held = perp.position.quantity;
    let closes = !held.is_zero() && held.is_sign_positive() != (side == Side::Buy);
    let realized = if closes {
        let closed = fill.quantity.min(held.abs());
        let closed = if held.is_sign_negative() {
            -closed
        } else {
            closed
        };
        margin::unrealized(closed, perp.position.average_cost, fill.price)
    } else {
        Decimal::ZERO
    };
    perp.base = base.to_string();
    perp.quote = quote.to_string();
    perp.realized += realized;
    perp.position
        .apply(side, fill.quantity, fill.price, fill.time_ms);
    let fee = if fill.fee_asset == quote {
        fill.fee
    } else {
        Decimal::ZERO
    };
    realized - fee
}

/// The client order id of the liquidation of `position`: the same
/// position state always gets the same id, so that two replicas that both
/// see the price store one liquidation.
fn liquidation_id(symbol: &str, position: &Position) -> String {
    let state = format!(
        "{symbol}:{}:{}:{}",
        position.quantity.normalize(),
        position.average_cost.normalize(),
        position.last_fill_ms
    );
    format!(
        "liq-{}",
        &hex::encode(Sha256::digest(state.as_bytes()))[..30]
    )
}

impl Book {
    /// What new orders can use in `quote`: the free wallet less the
    /// margin positions hold, less the cross positions' net loss.
    pub fn available(&mut self, quote: &str) -> Decimal {
        let held: Decimal = self.perps_in(quote).map(|(_, p)| p.margin()).sum();
        let cross = self.cross_unrealized(quote, None);
        *self.balance(quote) - held + cross.min(Decimal::ZERO)
    }

    /// Whether the margin (and fee) of the part of `quantity` that opens
    /// or adds to a position is available.
    pub fn perp_affordable(
        &mut self,
        ticket: &OrderTicket,
        quantity: Decimal,
        price: Decimal,
        config: &PaperConfig,
    ) -> bool {
        let opening = quantity - self.reducible(ticket).min(quantity);
        let setting = self.perp(&ticket.symbol).setting();
        let notional = opening * price;
        let cost = setting.initial_margin(notional) + notional * config.fee_bps / BPS;
        cost.is_zero() || self.available(&ticket.quote) >= cost
    }

    /// How much of a position `ticket` can reduce: the position, when the
    /// ticket is on its other side.
    pub fn reducible(&self, ticket: &OrderTicket) -> Decimal {
        let held = self
            .perps
            .get(&ticket.symbol)
            .map_or(Decimal::ZERO, |p| p.position.quantity);
        if !held.is_zero() && held.is_sign_positive() != (ticket.side == Side::Buy) {
            held.abs()
        } else {
            Decimal::ZERO
        }
    }

    /// Refuses a reduce-only ticket that would increase or flip the
    /// position.
    pub fn check_reduce_only(&self, ticket: &OrderTicket) -> Result<(), String> {
        let reducible = self.reducible(ticket);
        if ticket.reduce_only && ticket.quantity > reducible {
            return Err(format!(
                "reduce_only: a {} of {} would increase or flip the position ({} can be reduced)",
                ticket.side, ticket.quantity, reducible
            ));
        }
        Ok(())
    }

    /// Sets a symbol's leverage; refuses one out of range, a margin mode
    /// change while a position is open, and a leverage whose margin is
    /// not available.
    pub fn set_leverage(&mut self, symbol: &str, leverage: Leverage) -> Result<(), String> {
        if !(1..=margin::MAX_LEVERAGE).contains(&leverage.leverage) {
            return Err(format!(
                "leverage {} is out of range: 1 to {}",
                leverage.leverage,
                margin::MAX_LEVERAGE
            ));
        }
        let perp = self.perp(symbol);
        let before = perp.leverage;
        if perp.setting() == leverage {
            perp.leverage = Some(leverage);
            return Ok(());
        }
        if !perp.position.quantity.is_zero() && perp.setting().mode != leverage.mode {
            return Err(format!(
                "the margin mode of {symbol} cannot change while a position is open"
            ));
        }
        perp.leverage = Some(leverage);
        let quote = perp.quote.clone();
        if !quote.is_empty() && self.available(&quote) < Decimal::ZERO {
            self.perp(symbol).leverage = before;
            return Err(format!(
                "insufficient margin for {symbol} at {}x",
                leverage.leverage
            ));
        }
        Ok(())
    }

    /// Books a perpetual fill into the position and the wallet.
    pub fn settle_perp(&mut self, ticket: &OrderTicket, fill: &Fill) {
        let mut perp = self.perps.remove(&ticket.symbol).unwrap_or_default();
        let assets = (ticket.base.as_str(), ticket.quote.as_str());
        let change = perp_settlement(&mut perp, assets, ticket.side, fill);
        self.perps.insert(ticket.symbol.clone(), perp);
        *self.balance(&ticket.quote) += change;
    }

    /// The open positions, valued at the last prices.
    pub fn perp_positions(&self) -> Vec<PerpPosition> {
        self.perps
            .iter()
            .filter(|(_, p)| !p.position.quantity.is_zero())
            .map(|(symbol, perp)| {
                let mark = self.last_price.get(symbol).copied();
                let position = &perp.position;
                PerpPosition {
                    symbol: symbol.clone(),
                    quantity: position.quantity.normalize(),
                    entry_price: position.average_cost.normalize(),
                    mark_price: mark,
                    unrealized: mark.map_or(Decimal::ZERO, |mark| {
                        margin::unrealized(position.quantity, position.average_cost, mark)
                            .normalize()
                    }),
                    realized: perp.realized.normalize(),
                    leverage: perp.setting(),
                    margin: perp.margin().round_dp(8).normalize(),
                    liquidation_price: margin::liquidation_price(
                        position.quantity,
                        position.average_cost,
                        self.collateral(symbol, perp),
                    ),
                }
            })
            .collect()
    }

    /// Liquidates, at its mark, what the price of `symbol` leaves at its
    /// maintenance margin: the symbol's isolated position, or every cross
    /// position in its quote. The liquidations (new orders) and the
    /// reduce-only orders they cancel go into `observed`.
    pub fn liquidate(&mut self, symbol: &str, config: &PaperConfig, observed: &mut Observed) {
        let Some(perp) = self
            .perps
            .get(symbol)
            .filter(|p| !p.position.quantity.is_zero())
        else {
            return;
        };
        let quote = perp.quote.clone();
        let doomed: Vec<String> = match perp.setting().mode {
            MarginMode::Isolated => self.underwater(symbol).into_iter().collect(),
            MarginMode::Cross => {
                let cross: Vec<String> = self
                    .perps_in(&quote)
                    .filter(|(_, p)| p.setting().mode == MarginMode::Cross)
                    .map(|(s, _)| s.clone())
                    .collect();
                let equity = self.cross_equity(&quote);
                let maintenance: Decimal = cross
                    .iter()
                    .map(|s| {
                        let held = self.perps[s].position.quantity;
                        margin::maintenance(held, self.mark(s))
                    })
                    .sum();
                if equity <= maintenance {
                    cross
                } else {
                    Vec::new()
                }
            }
        };
        for symbol in doomed {
            let liquidation = self.close_at_mark(&symbol, config);
            observed.liquidated.push(liquidation);
            let canceled = self.cancel_reduce_only(&symbol);
            observed.changed.extend(canceled);
        }
    }

    /// The symbol, if its isolated position's equity is at its
    /// maintenance margin.
    fn underwater(&self, symbol: &str) -> Option<String> {
        let perp = self.perps.get(symbol)?;
        let position = &perp.position;
        margin::liquidates(
            position.quantity,
            position.average_cost,
            perp.margin(),
            self.mark(symbol),
        )
        .then(|| symbol.to_string())
    }

    /// Closes a position with a market fill at its mark, as the venue's
    /// liquidation order.
    fn close_at_mark(
        &mut self,
        symbol: &str,
        config: &PaperConfig,
    ) -> (OrderTicket, ExchangeOrder) {
        let mark = self.mark(symbol);
        let perp = self.perp(symbol).clone();
        let held = perp.position.quantity;
        let side = if held.is_sign_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let ticket = OrderTicket {
            client_order_id: liquidation_id(symbol, &perp.position),
            symbol: symbol.to_string(),
            reference_price: Some(mark),
            kind: InstrumentKind::Perpetual,
            reduce_only: true,
            ..OrderTicket::market(side, &perp.base, &perp.quote, held.abs())
        };
        let fill = self.fill(&ticket, held.abs(), mark, config);
        let order = ExchangeOrder {
            exchange_order_id: format!("P{}", uuid::Uuid::now_v7().simple()),
            status: OrderStatus::Filled,
            fills: vec![fill],
            reason: format!(
                "liquidated: the position's equity fell to its maintenance margin at the mark {mark}"
            ),
        };
        self.finish(ticket.client_order_id.clone(), order.clone());
        (ticket, order)
    }

    /// Cancels the resting reduce-only orders of a symbol whose position
    /// is gone.
    fn cancel_reduce_only(&mut self, symbol: &str) -> Vec<(String, ExchangeOrder)> {
        let ids: Vec<String> = self
            .resting
            .iter()
            .filter(|(_, r)| r.ticket.symbol == symbol && r.ticket.reduce_only)
            .map(|(id, _)| id.clone())
            .collect();
        let mut canceled = Vec::new();
        for id in ids {
            canceled.extend(self.cancel_resting(&id, "canceled: the position was liquidated"));
        }
        canceled
    }

    /// The symbol's perpetual, made if new.
    fn perp(&mut self, symbol: &str) -> &mut PaperPerp {
        self.perps.entry(symbol.to_string()).or_default()
    }

    /// The open positions in `quote`.
    fn perps_in<'a>(&'a self, quote: &'a str) -> impl Iterator<Item = (&'a String, &'a PaperPerp)> {
        self.perps
            .iter()
            .filter(move |(_, p)| p.quote == quote && !p.position.quantity.is_zero())
    }

    /// The mark price of a symbol: its last price (its entry before any).
    fn mark(&self, symbol: &str) -> Decimal {
        self.last_price.get(symbol).copied().unwrap_or_else(|| {
            self.perps
                .get(symbol)
                .map_or(Decimal::ZERO, |p| p.position.average_cost)
        })
    }

    /// The unrealised profit of the cross positions in `quote`, but
    /// `except` one.
    fn cross_unrealized(&self, quote: &str, except: Option<&str>) -> Decimal {
        self.perps_in(quote)
            .filter(|(s, p)| p.setting().mode == MarginMode::Cross && Some(s.as_str()) != except)
            .map(|(s, p)| {
                margin::unrealized(p.position.quantity, p.position.average_cost, self.mark(s))
            })
            .sum()
    }

    /// The equity backing the cross positions in `quote`: the wallet less
    /// the isolated margins and what resting orders hold, plus the cross
    /// positions' unrealised profit.
    fn cross_equity(&self, quote: &str) -> Decimal {
        let isolated: Decimal = self
            .perps_in(quote)
            .filter(|(_, p)| p.setting().mode == MarginMode::Isolated)
            .map(|(_, p)| p.margin())
            .sum();
        let wallet = self.free.get(quote).copied().unwrap_or_default();
        wallet - isolated + self.cross_unrealized(quote, None)
    }

    /// What backs one position against its own loss: its margin when
    /// isolated; the cross equity without its own profit when cross.
    fn collateral(&self, symbol: &str, perp: &PaperPerp) -> Decimal {
        match perp.setting().mode {
            MarginMode::Isolated => perp.margin(),
            MarginMode::Cross => {
                let own = margin::unrealized(
                    perp.position.quantity,
                    perp.position.average_cost,
                    self.mark(symbol),
                );
                self.cross_equity(&perp.quote) - own
            }
        }
    }
}

#[cfg(test)]
mod tests;

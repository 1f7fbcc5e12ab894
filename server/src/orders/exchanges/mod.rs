//! The exchange layer: one [`Exchange`] trait that every connector
//! implements, and the types orders cross it with.

pub mod alpaca;
pub mod binance;
pub mod bybit;
pub mod exactly_once;
pub mod failure;
pub mod instrumented;
pub mod listings;
pub mod okx;
pub mod paper;
pub mod sections;
pub mod transport;

use crate::market::{instrument::InstrumentKind, margin::Leverage, side::Side};
pub use crate::model::order::{Attachment, ExchangeOrder, Fill, OrderTicket};
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::ops::RangeInclusive;

/// Trading rules of an instrument; quantities and prices are rounded to
/// them before an order is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstrumentRules {
    pub tick_size: Decimal,
    pub lot_size: Decimal,
    pub min_quantity: Decimal,
    pub min_notional: Decimal,
}

/// The trailing distances, in basis points, a venue trails a stop by
/// natively: a range, in steps (Binance spot's `trailingDelta` takes any
/// whole basis point, USDⓈ-M's `callbackRate` tenths of a percent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeTrailing {
    pub bips: RangeInclusive<u32>,
    pub step: u32,
}

impl NativeTrailing {
    /// Whether the venue trails a stop by `bips` natively.
    pub fn fits(&self, bips: u32) -> bool {
        self.bips.contains(&bips) && bips.is_multiple_of(self.step.max(1))
    }
}

/// An open perpetual position of a venue account.
#[derive(Debug, Clone, PartialEq)]
pub struct PerpPosition {
    /// Canonical symbol, e.g. `BTC/USDT:PERP`.
    pub symbol: String,
    /// Signed: long > 0, short < 0.
    pub quantity: Decimal,
    pub entry_price: Decimal,
    /// The price the position is valued at; `None` before any.
    pub mark_price: Option<Decimal>,
    pub unrealized: Decimal,
    /// Profit realised in the symbol so far (fees apart).
    pub realized: Decimal,
    pub leverage: Leverage,
    /// Initial margin the position holds, in the quote asset.
    pub margin: Decimal,
    pub liquidation_price: Option<Decimal>,
}

/// Whether a venue's market for an instrument is open now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MarketHours {
    /// It trades around the clock (crypto venues).
    AlwaysOpen,
    /// Open until the next close (ms since the epoch).
    Open { next_close_ms: i64 },
    /// Closed until the next open (ms since the epoch).
    Closed { next_open_ms: i64 },
}

/// What can go wrong at an exchange.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExchangeError {
    /// The exchange refused the order; it does not exist there.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The request may or may not have reached the exchange: look the
    /// order up before doing anything else.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The request did not reach the exchange.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The exchange banned us for a while (Binance's 418): stop sending.
    #[error("banned: {0}")]
    Banned(String),
    #[error("no such order")]
    NotFound,
    #[error("unknown symbol `{0}`")]
    UnknownSymbol(String),
}

/// An exchange connector.
#[async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// The configured name, e.g. `paper`.
    fn name(&self) -> &str;
    /// The account at the venue (see [`crate::market::account`]).
    fn account(&self) -> &str {
        crate::market::account::DEFAULT_ACCOUNT
    }
    /// The connector kind: `paper` or `binance`.
    fn kind(&self) -> &'static str;
    /// Whether orders move real money.
    fn live(&self) -> bool;
    /// Places an order.
    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError>;
    /// Places a one-cancels-the-other pair of exit legs with the same
    /// side, quantity and `oco_group`: `stop` (a stop on the losing side)
    /// and `target` (a limit on the winning side). The quantity is
    /// reserved once; when one leg executes the venue cancels the other,
    /// and canceling one cancels both. Returns the legs, stop first.
    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError>;
    /// Cancels an open order.
    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError>;
    /// Looks an order up by its client order id.
    async fn fetch(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError>;
    /// Looks an order up as it was sent: by default by its client order
    /// id; a venue whose native OCO group is one order under the group's
    /// id (OKX's spot `oco` algo) finds a leg through its group.
    async fn fetch_sent(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        self.fetch(&ticket.client_order_id, &ticket.symbol).await
    }
    /// Cancels an open order as it was sent (see
    /// [`Exchange::fetch_sent`]); by default by its client order id.
    async fn cancel_sent(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        self.cancel(&ticket.client_order_id, &ticket.symbol).await
    }
    /// Free and locked amount per asset.
    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError>;
    /// The instrument's trading rules.
    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError>;
    /// The last traded price, where the venue has one.
    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError>;
    /// The kinds of instrument the venue trades; the desk refuses an
    /// order for any other kind before it is sent.
    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        &[InstrumentKind::Spot]
    }
    /// Sets how the account margins `symbol`'s perpetual positions. The
    /// desk calls it before a pipeline's first order in the symbol (and
    /// again after a restart); the same setting again changes nothing. A
    /// venue refuses a margin mode change while it holds a position in
    /// the symbol, or a leverage its margin cannot carry. Venues without
    /// perpetuals keep this default, which refuses with
    /// `unsupported_instrument`.
    async fn set_leverage(&self, symbol: &str, _leverage: Leverage) -> Result<(), ExchangeError> {
        Err(ExchangeError::Rejected(format!(
            "unsupported_instrument: `{}` trades spot only, it has no leverage for {symbol}",
            self.name()
        )))
    }
    /// The account's open perpetual positions; none on a spot venue.
    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        Ok(Vec::new())
    }
    /// Request weight used in the venue's current window, and its cap.
    fn rate_limit(&self) -> Option<(u64, u64)> {
        None
    }
    /// The trailing distances that the venue trails a stop by natively
    /// (see [`OrderTicket::trailing_delta_bips`]); `None` when it has no
    /// native trailing stop and trailing is emulated.
    fn native_trailing(&self) -> Option<NativeTrailing> {
        None
    }
    /// Whether the market of `symbol` is open now. Venues that trade
    /// around the clock keep this default.
    async fn market_hours(&self, _symbol: &str) -> Result<MarketHours, ExchangeError> {
        Ok(MarketHours::AlwaysOpen)
    }
    /// Whether the venue attaches a stop and a target to an entry in a
    /// `kind` instrument and links them when it fills (see
    /// [`Attachment`]): `place` then sends an entry's exits with it, and
    /// `place_oco`, `fetch_sent` and `cancel_sent` find an attached exit
    /// through its entry instead of placing one. An entry with exits
    /// that a venue does not attach is refused by the desk before it is
    /// sent.
    fn attaches_exits(&self, _kind: InstrumentKind) -> bool {
        false
    }
    /// Whether the venue takes a take-profit that triggers at its level
    /// and closes at the market (a stop ticket on the winning side, sent
    /// as Binance USDⓈ-M's `TAKE_PROFIT_MARKET`); the pipelines refuse
    /// `take_profit_at_market` elsewhere.
    fn triggers_take_profits(&self) -> bool {
        false
    }
    /// How long after it was sent an order request may still be accepted:
    /// an order not found once this has passed was never placed.
    fn acceptance_window(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Rounds a quantity down to the lot size (never more than asked).
pub fn round_quantity(quantity: Decimal, rules: &InstrumentRules) -> Decimal {
    if rules.lot_size.is_zero() {
        return quantity;
    }
    (quantity / rules.lot_size).floor() * rules.lot_size
}

/// The part of a signed position the venue can trade: its size rounded
/// down to the lot. What is left below the lot (dust from fees taken in
/// the asset bought) is no position: zero reads flat.
pub fn tradable_position(quantity: Decimal, rules: &InstrumentRules) -> Decimal {
    let size = round_quantity(quantity.abs(), rules);
    if quantity.is_sign_negative() {
        -size
    } else {
        size
    }
}

/// Rounds a price to the tick: down for buys, up for sells, so that the
/// rounded limit is never worse for us than the one asked.
pub fn round_price(price: Decimal, side: Side, rules: &InstrumentRules) -> Decimal {
    if rules.tick_size.is_zero() {
        return price;
    }
    let ticks = price / rules.tick_size;
    let ticks = if side == Side::Sell {
        ticks.ceil()
    } else {
        ticks.floor()
    };
    ticks * rules.tick_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_never_overreaches() {
        let rules = InstrumentRules {
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::new(1, 4),
            min_quantity: Decimal::ZERO,
            min_notional: Decimal::ZERO,
        };
        assert_eq!(
            round_quantity(Decimal::new(123456, 5), &rules),
            Decimal::new(12345, 4)
        );
        assert_eq!(
            tradable_position(Decimal::new(-123456, 5), &rules),
            Decimal::new(-12345, 4),
            "a short rounds toward flat"
        );
        assert!(tradable_position(Decimal::new(9, 5), &rules).is_zero());
        assert_eq!(
            round_price(Decimal::new(100005, 3), Side::Buy, &rules),
            Decimal::new(10000, 2)
        );
        assert_eq!(
            round_price(Decimal::new(100005, 3), Side::Sell, &rules),
            Decimal::new(10001, 2)
        );
    }
}

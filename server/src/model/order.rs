//! An order as the domain sees it: what was asked ([`OrderTicket`]), what
//! the exchange reported ([`ExchangeOrder`]) and the order's life cycle,
//! whose statuses only move forward.

use rust_decimal::Decimal;

pub use super::attachment::{AttachedExits, Attachment};
use crate::{
    market::{
        instrument::{Instrument, InstrumentKind},
        side::Side,
    },
    words::word_enum,
};

word_enum! {
    /// How an order is priced.
    pub enum OrderType {
        Market => "market",
        Limit => "limit",
        Stop => "stop",
        StopLimit => "stop_limit",
    }
}

word_enum! {
    /// How long an order may rest.
    pub enum TimeInForce {
        Gtc => "gtc",
        Ioc => "ioc",
        Fok => "fok",
    }
}

word_enum! {
    /// Where an order is in its life cycle.
    pub enum OrderStatus {
        /// Stored, not yet sent.
        New => "new",
        /// The exchange has it.
        Submitted => "submitted",
        PartiallyFilled => "partially_filled",
        Filled => "filled",
        Canceled => "canceled",
        /// The exchange refused it.
        Rejected => "rejected",
        /// It never reached the exchange.
        Failed => "failed",
        /// Sent, with no answer: it must be looked up before anything else.
        Unknown => "unknown",
    }
}

impl OrderStatus {
    /// Statuses an order can still leave.
    pub const OPEN: [OrderStatus; 4] = [
        OrderStatus::New,
        OrderStatus::Submitted,
        OrderStatus::PartiallyFilled,
        OrderStatus::Unknown,
    ];

    /// Whether an order in this status can still change.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// Whether an order may move from this status to `next`: a final
    /// status never changes, and nothing goes back to `new` or from a
    /// partial fill back to `submitted`.
    pub fn may_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match (self, next) {
            _ if !self.is_open() => false,
            (_, New) => false,
            (PartiallyFilled, Submitted) => false,
            _ => true,
        }
    }
}

word_enum! {
    /// What an order is for in a pipeline's trade.
    pub enum OrderRole {
        /// Opens or adds to a position.
        Entry => "entry",
        /// Reduces, closes or reverses a position.
        Exit => "exit",
        /// A protective stop of a bracket.
        StopLoss => "stop_loss",
        /// A protective take-profit of a bracket.
        TakeProfit => "take_profit",
    }
}

/// An order as sent to an exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderTicket {
    /// Our id for the order at the exchange; the same ticket always carries
    /// the same id, so that the exchange can refuse a duplicate.
    pub client_order_id: String,
    /// Canonical symbol, e.g. `BTC/USDT`.
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    /// The price the order was decided at.
    pub reference_price: Option<Decimal>,
    /// The one-cancels-the-other group of a protective leg.
    pub oco_group: Option<String>,
    /// A stop the venue trails natively: it triggers once the price
    /// retraces this many basis points from its best since placement
    /// (Binance's `trailingDelta`). `None`: a fixed stop.
    pub trailing_delta_bips: Option<u32>,
    /// What the symbol is: spot, or a perpetual (signed positions,
    /// leverage, margin in the quote asset).
    pub kind: InstrumentKind,
    /// The order may only reduce the position in `symbol`: a venue
    /// refuses (or, resting, cancels) what would increase or flip it.
    /// Exits and protective orders of perpetual positions are.
    pub reduce_only: bool,
    /// Exits the venue attaches to the order, or the entry it attached
    /// this exit to (see [`Attachment`]).
    pub attachment: Option<Attachment>,
}

impl OrderTicket {
    /// Whether the order trades a perpetual.
    pub fn is_perpetual(&self) -> bool {
        self.kind == InstrumentKind::Perpetual
    }

    /// A good-till-canceled market order for `quantity` of `BASE/QUOTE`;
    /// set the other fields for other kinds.
    pub fn market(side: Side, base: &str, quote: &str, quantity: Decimal) -> Self {
        Self {
            client_order_id: String::new(),
            symbol: format!("{base}/{quote}"),
            base: base.to_string(),
            quote: quote.to_string(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            quantity,
            price: None,
            stop_price: None,
            reference_price: None,
            oco_group: None,
            trailing_delta_bips: None,
            kind: InstrumentKind::Spot,
            reduce_only: false,
            attachment: None,
        }
    }
}

/// One fill.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    pub trade_id: String,
    pub quantity: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub fee_asset: String,
    /// When it happened (ms since the epoch).
    pub time_ms: i64,
}

impl Fill {
    /// How much of `base` the fill moved, fees included: a venue that
    /// takes its fee in the asset bought (Binance does, without BNB) hands
    /// over less than the fill's quantity, and one that takes it in the
    /// asset sold takes more.
    pub fn base_moved(&self, side: Side, base: &str) -> Decimal {
        let fee = if self.fee_asset == base {
            self.fee
        } else {
            Decimal::ZERO
        };
        match side {
            Side::Buy => self.quantity - fee,
            Side::Sell => self.quantity + fee,
        }
    }
}

/// An order as the exchange sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeOrder {
    pub exchange_order_id: String,
    pub status: OrderStatus,
    /// Every fill so far.
    pub fills: Vec<Fill>,
    /// Why it was rejected or expired, when it was.
    pub reason: String,
}

/// One status change.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub status: OrderStatus,
    pub time_ms: i64,
    pub note: String,
}

/// Which pipeline run an order was placed for, and what for (all empty
/// for manual orders).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderOrigin {
    pub pipeline_id: String,
    pub execution_id: String,
    pub signal_id: String,
    pub role: Option<OrderRole>,
    /// The entry order whose position a protective leg protects.
    pub bracket_id: String,
    /// The one-cancels-the-other group of a protective leg.
    pub oco_group: String,
    /// The order (with its OCO group) this one replaces: canceled before
    /// this one is sent.
    pub replaces: String,
}

/// What a caller asks to place, before the desk checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// The caller's idempotency key: the same key is always the same
    /// order. Empty: none.
    pub request_id: String,
    /// The configured exchange name; empty: the paper exchange.
    pub exchange: String,
    /// The account at the exchange; empty: `default`.
    pub account: String,
    /// The symbol as the caller spelled it.
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub reference_price: Option<Decimal>,
    /// A stop the venue trails natively, in basis points (see
    /// [`OrderTicket::trailing_delta_bips`]).
    pub trailing_delta_bips: Option<u32>,
    /// See [`OrderTicket::reduce_only`].
    pub reduce_only: bool,
    /// See [`OrderTicket::attachment`].
    pub attachment: Option<Attachment>,
}

/// An order and everything that happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// UUIDv7.
    pub id: String,
    pub client_order_id: String,
    /// The configured exchange name.
    pub exchange: String,
    /// The account at the exchange that holds the order.
    pub account: String,
    pub exchange_order_id: String,
    pub instrument: Instrument,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub reference_price: Option<Decimal>,
    /// A stop the venue trails natively, in basis points (see
    /// [`OrderTicket::trailing_delta_bips`]).
    pub trailing_delta_bips: Option<u32>,
    /// See [`OrderTicket::reduce_only`].
    pub reduce_only: bool,
    /// See [`OrderTicket::attachment`].
    pub attachment: Option<Attachment>,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub average_fill_price: Option<Decimal>,
    pub fee_total: Decimal,
    pub fee_asset: String,
    pub origin: OrderOrigin,
    pub fills: Vec<Fill>,
    pub transitions: Vec<Transition>,
    /// Why it was rejected or failed.
    pub status_reason: String,
    pub create_time_ms: i64,
    pub update_time_ms: i64,
}

impl Order {
    /// A new order for `ticket` on `exchange` and `account`, in status
    /// `new`.
    pub fn new(
        ticket: &OrderTicket,
        (exchange, account): (&str, &str),
        origin: OrderOrigin,
        now: i64,
    ) -> Self {
        let mut order = Self {
            id: uuid::Uuid::now_v7().to_string(),
            client_order_id: ticket.client_order_id.clone(),
            exchange: exchange.to_string(),
            account: account.to_string(),
            exchange_order_id: String::new(),
            instrument: Instrument {
                symbol: ticket.symbol.clone(),
                kind: ticket.kind,
                ..Instrument::spot(&ticket.base, &ticket.quote)
            },
            side: ticket.side,
            order_type: ticket.order_type,
            time_in_force: ticket.time_in_force,
            quantity: ticket.quantity.normalize(),
            price: ticket.price.map(|p| p.normalize()),
            stop_price: ticket.stop_price.map(|p| p.normalize()),
            reference_price: ticket.reference_price.map(|p| p.normalize()),
            trailing_delta_bips: ticket.trailing_delta_bips,
            reduce_only: ticket.reduce_only,
            attachment: ticket.attachment.clone(),
            status: OrderStatus::New,
            filled_quantity: Decimal::ZERO,
            average_fill_price: None,
            fee_total: Decimal::ZERO,
            fee_asset: String::new(),
            origin,
            fills: Vec::new(),
            transitions: Vec::new(),
            status_reason: String::new(),
            create_time_ms: now,
            update_time_ms: now,
        };
        order.record_transition(OrderStatus::New, "", now);
        order
    }

    /// The ticket the order was sent as.
    pub fn ticket(&self) -> OrderTicket {
        OrderTicket {
            client_order_id: self.client_order_id.clone(),
            symbol: self.instrument.symbol.clone(),
            base: self.instrument.base.clone(),
            quote: self.instrument.quote.clone(),
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            quantity: self.quantity,
            price: self.price,
            stop_price: self.stop_price,
            reference_price: self.reference_price,
            oco_group: Some(self.origin.oco_group.clone()).filter(|g| !g.is_empty()),
            trailing_delta_bips: self.trailing_delta_bips,
            kind: self.instrument.kind,
            reduce_only: self.reduce_only,
            attachment: self.attachment.clone(),
        }
    }

    /// The order as its exchange last reported it.
    pub fn exchange_view(&self) -> ExchangeOrder {
        ExchangeOrder {
            exchange_order_id: self.exchange_order_id.clone(),
            status: self.status,
            fills: self.fills.clone(),
            reason: self.status_reason.clone(),
        }
    }

    /// How much of its base asset the order's fills moved, fees in that
    /// asset included: what a buy added to the account, what a sell took.
    pub fn base_moved(&self) -> Decimal {
        self.fills
            .iter()
            .map(|fill| fill.base_moved(self.side, &self.instrument.base))
            .sum()
    }

    /// How much of the filled order opened or added to a position, from
    /// the signed position `before` it: all it moved (less a fee in the
    /// asset it bought) when it goes the position's way, what is left
    /// after closing the position when it goes against it.
    pub fn opened_from(&self, before: Decimal) -> Decimal {
        let moved = self.base_moved();
        if before.is_zero() || before.is_sign_positive() == (self.side == Side::Buy) {
            moved
        } else {
            (moved - before.abs()).max(Decimal::ZERO)
        }
    }

    /// The canonical symbol.
    pub fn symbol(&self) -> &str {
        &self.instrument.symbol
    }

    /// Whether this copy of the order is behind `stored`, the copy in the
    /// store: it has fewer fills, or as many while the stored one has
    /// ended. Saving it would take back what another writer (another
    /// replica, or a sync that asked the exchange later) already saved,
    /// or book one fill twice.
    pub fn is_behind(&self, stored: &Order) -> bool {
        self.fills.len() < stored.fills.len()
            || (self.fills.len() == stored.fills.len() && !stored.status.is_open())
    }

    /// Moves the order to `status`, if its life cycle allows it; returns
    /// whether it moved. A move the life cycle forbids (a late report
    /// about a finished order) is logged and ignored.
    pub fn transition(&mut self, status: OrderStatus, note: &str, now: i64) -> bool {
        if self.status == status {
            return false;
        }
        if !self.status.may_become(status) {
            tracing::warn!(order = %self.id, from = %self.status, to = %status, "status change refused by the order life cycle");
            return false;
        }
        self.record_transition(status, note, now);
        true
    }

    fn record_transition(&mut self, status: OrderStatus, note: &str, now: i64) {
        self.status = status;
        self.update_time_ms = now;
        self.transitions.push(Transition {
            status,
            time_ms: now,
            note: note.to_string(),
        });
    }

    /// Brings the order up to what the exchange reports: its id, every new
    /// fill, the totals and the status.
    pub fn apply(&mut self, view: &ExchangeOrder, now: i64) {
        if !view.exchange_order_id.is_empty() {
            self.exchange_order_id = view.exchange_order_id.clone();
        }
        if self.status == OrderStatus::New && view.status != OrderStatus::Rejected {
            self.transition(OrderStatus::Submitted, "", now);
        }
        for fill in view.fills.iter().skip(self.fills.len()) {
            self.fills.push(Fill {
                quantity: fill.quantity.normalize(),
                price: fill.price.normalize(),
                fee: fill.fee.normalize(),
                time_ms: if fill.time_ms > 0 { fill.time_ms } else { now },
                ..fill.clone()
            });
        }
        let (filled, notional, fees) = self.fills.iter().fold(
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
            |(q, n, f), fill| {
                (
                    q + fill.quantity,
                    n + fill.quantity * fill.price,
                    f + fill.fee,
                )
            },
        );
        self.filled_quantity = filled.normalize();
        if !filled.is_zero() {
            self.average_fill_price = Some((notional / filled).round_dp(12).normalize());
            self.fee_total = fees.normalize();
            self.fee_asset = self
                .fills
                .last()
                .map(|f| f.fee_asset.clone())
                .unwrap_or_default();
        }
        if !view.reason.is_empty() {
            self.status_reason = view.reason.clone();
        }
        self.transition(view.status, &view.reason, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> OrderTicket {
        OrderTicket {
            client_order_id: "tp-1".into(),
            ..OrderTicket::market(Side::Buy, "BTC", "USDT", Decimal::new(2, 0))
        }
    }

    fn fill(id: &str, quantity: i64, price: i64) -> Fill {
        Fill {
            trade_id: id.into(),
            quantity: Decimal::new(quantity, 0),
            price: Decimal::new(price, 0),
            fee: Decimal::new(1, 2),
            fee_asset: "USDT".into(),
            time_ms: 0,
        }
    }

    #[test]
    fn reports_move_an_order_forward_and_total_its_fills() {
        let mut order = Order::new(&ticket(), ("paper", "default"), OrderOrigin::default(), 10);
        assert_eq!(order.status, OrderStatus::New);
        let mut view = ExchangeOrder {
            exchange_order_id: "x1".into(),
            status: OrderStatus::PartiallyFilled,
            fills: vec![fill("t1", 1, 100)],
            reason: String::new(),
        };
        order.apply(&view, 20);
        view.status = OrderStatus::Filled;
        view.fills.push(fill("t2", 1, 110));
        order.apply(&view, 30);
        let statuses: Vec<_> = order.transitions.iter().map(|t| t.status).collect();
        use OrderStatus::*;
        assert_eq!(statuses, [New, Submitted, PartiallyFilled, Filled]);
        assert_eq!(order.filled_quantity, Decimal::new(2, 0));
        assert_eq!(order.average_fill_price, Some(Decimal::new(105, 0)));
        assert_eq!(order.fee_total, Decimal::new(2, 2));
        assert_eq!(
            order.fills[0].time_ms, 20,
            "a fill without a time gets the report's"
        );
        assert_eq!(order.exchange_order_id, "x1");
    }

    #[test]
    fn a_finished_order_never_changes_status_again() {
        let mut order = Order::new(&ticket(), ("paper", "default"), OrderOrigin::default(), 0);
        assert!(order.transition(OrderStatus::Canceled, "by the user", 1));
        assert!(!order.transition(OrderStatus::Filled, "late report", 2));
        assert!(!order.transition(OrderStatus::New, "", 3));
        assert_eq!(order.status, OrderStatus::Canceled);
        assert_eq!(order.transitions.len(), 2);
    }

    #[test]
    fn the_life_cycle_only_moves_forward() {
        use OrderStatus::*;
        for status in OrderStatus::ALL {
            assert!(!status.may_become(New), "{status} -> new");
        }
        assert!(!PartiallyFilled.may_become(Submitted));
        assert!(Unknown.may_become(Filled));
        assert!(Unknown.may_become(Failed));
        for done in [Filled, Canceled, Rejected, Failed] {
            assert!(!done.is_open());
            assert!(OrderStatus::ALL.iter().all(|next| !done.may_become(*next)));
        }
    }
}

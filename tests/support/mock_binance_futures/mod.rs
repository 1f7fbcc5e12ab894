//! A mock of Binance USDⓈ-M futures (`/fapi`) on the shared fault core,
//! for the tests of the futures connector. It checks keys, signatures and
//! timestamps as Binance does (the spot mock's check), keeps orders by
//! client order id, holds positions per symbol (one-way, or per side in
//! hedge mode) with their leverage and margin type, checks initial margin,
//! refuses a reduce-only order that would not reduce, triggers
//! `STOP_MARKET`, `TAKE_PROFIT_MARKET` and `TRAILING_STOP_MARKET` at the
//! mark price (trailing from its activation price), holds Binance's rules
//! for `closePosition`, keeps an income history of realized profit and
//! fees, and, like Binance, expires a position's reduce-only and
//! close-position orders once it is flat.

mod book;
mod close_position;
mod income;
mod routes;
mod trailing;

use std::collections::HashMap;

use rust_decimal::Decimal;

pub use crate::mock_binance::{API_KEY, API_SECRET};
use crate::{
    mock_binance::trouble_answer,
    mock_venue::{Answer, Faults, Mock, Request, Route, Trouble, Venue},
};

/// Commission per fill: 4 bps of the notional, in USDT (taker).
pub(crate) const COMMISSION: Decimal = Decimal::from_parts(4, 0, 0, false, 4);

/// An order as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FuturesOrder {
    pub order_id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    /// `BOTH` in one-way mode, `LONG` or `SHORT` in hedge mode.
    pub position_side: String,
    pub kind: String,
    /// Zero for a close-position order until it executes.
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    /// A trailing stop's callback rate, in percent.
    pub callback_rate: Option<Decimal>,
    /// Where a trailing stop starts trailing; `None`: at once.
    pub activation_price: Option<Decimal>,
    /// The best mark a trailing stop has seen since it started trailing.
    pub trail_best: Option<Decimal>,
    pub reduce_only: bool,
    pub close_position: bool,
    pub status: &'static str,
    pub executed: Decimal,
    pub average_price: Decimal,
    pub time: i64,
}

/// A position as the mock holds it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// Signed: long above zero, short below.
    pub amount: Decimal,
    pub entry_price: Decimal,
}

#[derive(Debug, Clone)]
struct Trade {
    id: i64,
    order_id: i64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    realized_pnl: Decimal,
    side: String,
    time: i64,
}

/// The venue behind [`MockBinanceFutures`].
pub struct State {
    clock_offset_ms: i64,
    orders: Vec<FuturesOrder>,
    trades: Vec<Trade>,
    marks: HashMap<String, Decimal>,
    /// The USDT wallet: deposits, realized P&L and commissions.
    wallet: Decimal,
    positions: HashMap<(String, String), Position>,
    leverage: HashMap<String, u32>,
    isolated: HashMap<String, bool>,
    hedge_mode: bool,
    /// Accepted API keys and their secrets.
    keys: Vec<(String, String)>,
    faults: Faults,
    refused_signatures: u64,
    weight: u64,
    next_id: i64,
}

/// A running mock; it stops when dropped.
pub type MockBinanceFutures = Mock<State>;

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/fapi/v1/order") => Some(Route::PlaceOrder),
            ("GET", "/fapi/v1/order") => Some(Route::QueryOrder),
            ("DELETE", "/fapi/v1/order") => Some(Route::CancelOrder),
            _ => None,
        }
    }

    fn handle(&mut self, request: &Request) -> Answer {
        routes::route_request(self, request)
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        trouble_answer(trouble)
    }

    fn answer_headers(&mut self) -> Vec<(&'static str, String)> {
        self.weight += 1;
        vec![("X-MBX-USED-WEIGHT-1M", self.weight.to_string())]
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

crate::mock_state!(State, FuturesOrder, client_order_id);

impl MockBinanceFutures {
    /// Starts on an ephemeral loopback port, with the BTCUSDT and ETHUSDT
    /// perpetuals marked at 50,000 and 3,000, a wallet of 100,000 USDT, no
    /// position, one-way mode, cross margin and 20× leverage.
    pub async fn start() -> Self {
        Mock::serve(State {
            clock_offset_ms: 0,
            orders: Vec::new(),
            trades: Vec::new(),
            marks: HashMap::from([
                ("BTCUSDT".into(), Decimal::from(50_000)),
                ("ETHUSDT".into(), Decimal::from(3_000)),
            ]),
            wallet: Decimal::from(100_000),
            positions: HashMap::new(),
            leverage: HashMap::new(),
            isolated: HashMap::new(),
            hedge_mode: false,
            keys: vec![(API_KEY.into(), API_SECRET.into())],
            faults: Faults::default(),
            refused_signatures: 0,
            weight: 0,
            next_id: 1,
        })
        .await
    }

    /// Moves the mark price: resting limits it crosses fill, and stops it
    /// reaches (or trailing stops that retraced their callback) trigger.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.with(|s| book::move_mark(s, symbol, price));
    }

    /// Trades `quantity` of `symbol` at the mark on the one-way position,
    /// as someone would outside tradeplane (Binance's web page, say).
    pub fn trade_outside(&self, symbol: &str, side: &str, quantity: Decimal) {
        self.with(|s| {
            let mark = s.marks.get(symbol).copied().unwrap_or_default();
            let time = routes::now_ms() + s.clock_offset_ms;
            let order = FuturesOrder {
                order_id: s.next_id,
                client_order_id: format!("web_{}", s.next_id),
                symbol: symbol.to_string(),
                side: side.to_string(),
                position_side: "BOTH".into(),
                kind: "MARKET".into(),
                quantity,
                price: None,
                stop_price: None,
                callback_rate: None,
                activation_price: None,
                trail_best: None,
                reduce_only: false,
                close_position: false,
                status: "NEW",
                executed: Decimal::ZERO,
                average_price: Decimal::ZERO,
                time,
            };
            s.next_id += 1;
            s.orders.push(order);
            let index = s.orders.len() - 1;
            book::fill(s, index, mark, time);
        });
    }

    /// Sets the USDT wallet.
    pub fn set_wallet(&self, usdt: Decimal) {
        self.with(|s| s.wallet = usdt);
    }

    /// The USDT wallet: deposits, realized P&L and commissions.
    pub fn wallet(&self) -> Decimal {
        self.with(|s| s.wallet)
    }

    /// The one-way position in `symbol` (flat when none).
    pub fn position(&self, symbol: &str) -> Position {
        self.position_on(symbol, "BOTH")
    }

    /// The position in `symbol` on `side` (`BOTH`, `LONG` or `SHORT`).
    pub fn position_on(&self, symbol: &str, side: &str) -> Position {
        self.with(|s| {
            s.positions
                .get(&(symbol.to_string(), side.to_string()))
                .copied()
                .unwrap_or_default()
        })
    }

    /// The leverage and whether the margin is isolated, for `symbol`.
    pub fn margin_settings(&self, symbol: &str) -> (u32, bool) {
        self.with(|s| book::margin_settings(s, symbol))
    }

    /// Whether the account is in hedge mode.
    pub fn hedge_mode(&self) -> bool {
        self.with(|s| s.hedge_mode)
    }
}

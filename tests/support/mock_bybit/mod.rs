//! A mock of Bybit's v5 REST API (spot and USDT perpetuals) on a loopback
//! port, for the tests of the `bybit` connector. It checks the API key,
//! the HMAC-SHA256 signature over `timestamp + key + recv window +
//! (query | body)` and the timestamp window the way Bybit documents
//! them; keeps orders by `orderLinkId` (refusing a duplicate with
//! 170141 / 110072), matches market and marketable limit orders at a
//! settable price, rests limits and conditional orders until the price
//! crosses them, keeps a spot wallet and one-way perpetual positions with
//! leverage and margin mode, refuses reduce-only orders that would grow a
//! position, keeps a position's TP/SL (carried by its entry, triggered by
//! the price, cleared by `trading-stop`), and answers the shared core's
//! trouble in Bybit's words. The HTTP and the faults are the shared
//! core's, `mock_venue`.

mod book;
mod position_mode;
mod routes;
mod tpsl;

use std::collections::{BTreeMap, HashMap, HashSet};

use rust_decimal::Decimal;
use serde_json::json;

use crate::mock_venue::{Answer, Faults, Mock, Request, Trouble, Venue, answer};
pub use crate::mock_venue::{Fault, Route};

/// The API key the mock accepts.
pub const API_KEY: &str = "bybit-mock-key-0123456789";
/// The API secret the mock verifies signatures with.
pub const API_SECRET: &str = "bybit-mock-secret-9876543210";
/// The requests per window the mock reports in `X-Bapi-Limit`.
pub const RATE_LIMIT: u64 = 20;

/// An order as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    pub order_id: String,
    pub order_link_id: String,
    /// `spot` or `linear`.
    pub category: String,
    pub symbol: String,
    /// `Buy` or `Sell`.
    pub side: String,
    pub qty: Decimal,
    /// The limit price; `None` for a market order.
    pub price: Option<Decimal>,
    /// The trigger of a conditional order.
    pub trigger: Option<Decimal>,
    pub reduce_only: bool,
    /// The position it trades: 0 one-way, 1 the long side, 2 the short.
    pub position_idx: i64,
    /// Bybit's `orderStatus`.
    pub status: &'static str,
    pub executed: Decimal,
    /// The TP/SL an entry carries to its position (`tpslMode` Full).
    pub tpsl: TpSl,
    /// `TakeProfit` / `StopLoss` for the close of a triggered TP/SL; empty
    /// otherwise.
    pub stop_order_type: &'static str,
    /// When it was created (ms).
    pub created: i64,
}

/// A take-profit and a stop-loss for a whole position.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TpSl {
    pub take_profit: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
}

/// A perpetual position (one-way, or one side in hedge mode).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MockPosition {
    /// Signed: long > 0.
    pub size: Decimal,
    pub entry: Decimal,
    pub realized: Decimal,
    /// The TP/SL set on the position.
    pub tpsl: TpSl,
}

#[derive(Debug, Clone)]
struct Execution {
    id: u64,
    order_id: String,
    price: Decimal,
    qty: Decimal,
    fee: Decimal,
    fee_currency: String,
    time: i64,
}

/// The venue behind [`MockBybit`].
pub struct State {
    clock_offset_ms: i64,
    orders: Vec<MockOrder>,
    executions: Vec<Execution>,
    prices: HashMap<String, Decimal>,
    balances: BTreeMap<String, Decimal>,
    /// By symbol and `positionIdx`.
    positions: HashMap<(String, i64), MockPosition>,
    /// Linear symbols in hedge mode.
    hedged: HashSet<String>,
    /// Leverage and `tradeMode` (0 cross, 1 isolated) per linear symbol.
    leverage: HashMap<String, (u32, i64)>,
    faults: Faults,
    refused_signatures: u64,
    /// Signed `/v5/order/create` requests received, duplicates included.
    create_requests: u64,
    requests: u64,
    next_id: u64,
}

/// A running mock; it stops when dropped.
pub type MockBybit = Mock<State>;

/// Bybit's answer envelope for an error.
pub(crate) fn error(status: u16, code: i64, msg: &str) -> Answer {
    answer(
        status,
        json!({"retCode": code, "retMsg": msg, "result": {}, "time": now_ms()}),
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        match request.path.as_str() {
            "/v5/order/create" => Some(Route::PlaceOrder),
            "/v5/order/realtime" | "/v5/order/history" => Some(Route::QueryOrder),
            // Clearing a position's TP/SL cancels its attached exits.
            "/v5/order/cancel" | "/v5/position/trading-stop" => Some(Route::CancelOrder),
            _ => None,
        }
    }

    fn handle(&mut self, request: &Request) -> Answer {
        routes::route_request(self, request)
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Internal => error(500, 10016, "Server error."),
            Trouble::BackendTimeout => error(200, 10000, "Server Timeout"),
            Trouble::Throttled(secs) => {
                let mut refused =
                    error(200, 10006, "Too many visits. Exceeded the API Rate Limit.");
                let reset =
                    now_ms() + self.clock_offset_ms + i64::try_from(secs * 1000).unwrap_or(0);
                refused
                    .headers
                    .push(("X-Bapi-Limit-Reset-Timestamp", reset.to_string()));
                refused
            }
            // Bybit answers an IP ban with HTTP 403 and no Retry-After.
            Trouble::Banned(_) => error(403, 10009, "IP has been banned."),
        }
    }

    fn answer_headers(&mut self) -> Vec<(&'static str, String)> {
        self.requests += 1;
        let left = RATE_LIMIT - self.requests % RATE_LIMIT;
        vec![
            ("X-Bapi-Limit", RATE_LIMIT.to_string()),
            ("X-Bapi-Limit-Status", left.to_string()),
        ]
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

crate::mock_state!(State, MockOrder, order_link_id);

impl MockBybit {
    /// Starts on an ephemeral loopback port, with BTCUSDT (spot and
    /// linear) at 50,000 and a unified account holding 100,000 USDT and
    /// 1 BTC.
    pub async fn start() -> Self {
        Mock::serve(State {
            clock_offset_ms: 0,
            orders: Vec::new(),
            executions: Vec::new(),
            prices: HashMap::from([("BTCUSDT".into(), Decimal::from(50_000))]),
            balances: BTreeMap::from([
                ("USDT".into(), Decimal::from(100_000)),
                ("BTC".into(), Decimal::ONE),
            ]),
            positions: HashMap::new(),
            hedged: HashSet::new(),
            leverage: HashMap::new(),
            faults: Faults::default(),
            refused_signatures: 0,
            create_requests: 0,
            requests: 0,
            next_id: 1,
        })
        .await
    }

    /// Points a server configuration's `bybit` exchange at this mock.
    pub fn configure(&self, config: &mut tradeplane_server::config::Config) {
        let bybit = &mut config.exchanges.bybit;
        bybit.enabled = true;
        bybit.base_url = self.url.clone();
        bybit.api_key = API_KEY.into();
        bybit.api_secret = API_SECRET.into();
    }

    /// Moves the market of `symbol` (spot and linear alike): resting
    /// limits it crosses fill, conditional orders it reaches trigger.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.with(|s| book::move_market(s, symbol, price));
    }

    /// What the account holds of `coin`.
    pub fn balance(&self, coin: &str) -> Decimal {
        self.with(|s| s.balances.get(coin).copied().unwrap_or_default())
    }

    /// The one-way linear position in `symbol`, if any is open.
    pub fn position(&self, symbol: &str) -> Option<MockPosition> {
        self.position_on(symbol, 0)
    }

    /// The linear position in `symbol` at `position_idx` (0 one-way, 1
    /// the long side, 2 the short), if any is open.
    pub fn position_on(&self, symbol: &str, position_idx: i64) -> Option<MockPosition> {
        self.with(|s| {
            s.positions
                .get(&(symbol.to_string(), position_idx))
                .copied()
                .filter(|p| !p.size.is_zero())
        })
    }

    /// Whether the linear `symbol` is in hedge mode.
    pub fn hedged(&self, symbol: &str) -> bool {
        self.with(|s| s.hedged.contains(symbol))
    }

    /// The leverage and `tradeMode` set for the linear `symbol`.
    pub fn leverage(&self, symbol: &str) -> Option<(u32, i64)> {
        self.with(|s| s.leverage.get(symbol).copied())
    }

    /// The closes Bybit placed when a position's TP/SL triggered, oldest
    /// first.
    pub fn triggered_closes(&self) -> Vec<MockOrder> {
        self.with(|s| {
            s.orders
                .iter()
                .filter(|o| !o.stop_order_type.is_empty())
                .cloned()
                .collect()
        })
    }

    /// Order requests received (accepted, refused or duplicate).
    pub fn create_requests(&self) -> u64 {
        self.with(|s| s.create_requests)
    }
}

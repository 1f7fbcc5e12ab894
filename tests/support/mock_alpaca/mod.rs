//! A mock of Alpaca's trading API v2 and the latest-trade endpoint of its
//! market data API on one loopback port, for the tests of the `alpaca`
//! connector. It checks the key pair in `APCA-API-KEY-ID` /
//! `APCA-API-SECRET-KEY` on every request (a wrong one is a 401, counted
//! as a refused signature); keeps orders by `client_order_id` (refusing a
//! second one with 422 "client_order_id must be unique"); knows which
//! assets are fractionable and refuses fractions where Alpaca does;
//! matches market and marketable limit orders at a price the test moves,
//! rests limits and stops until the price crosses them, takes OCO orders
//! (a take-profit limit with its stop leg) and bracket orders (an entry
//! whose take-profit and stop-loss legs are held until it fills, then
//! one-cancels-the-other); has a market clock the test
//! opens and closes (orders sent while closed are `accepted` and held
//! until the open); and answers the shared core's trouble in Alpaca's
//! words. The HTTP and the faults are the shared core's, `mock_venue`.

mod book;
mod bracket;
mod routes;
mod server;

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::json;

pub use self::server::{on_mock_alpaca, stock_alert};
use crate::mock_venue::{Answer, Faults, Mock, Request, Trouble, Venue, answer, retry_after};
pub use crate::mock_venue::{Fault, Route};

/// The API key id the mock accepts.
pub const API_KEY: &str = "alpaca-mock-key-id-0123456789";
/// The API secret key the mock accepts.
pub const API_SECRET: &str = "alpaca-mock-secret-key-9876543210";
/// The requests per minute the mock reports in `X-RateLimit-Limit`.
pub const RATE_LIMIT: u64 = 200;

/// An order as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop` or `stop_limit`.
    pub kind: String,
    pub time_in_force: String,
    pub qty: Decimal,
    pub limit: Option<Decimal>,
    pub stop: Option<Decimal>,
    /// `simple`, `oco` or `bracket`.
    pub order_class: String,
    /// Alpaca's status.
    pub status: &'static str,
    pub filled: Decimal,
    /// The legs of a parent: an OCO's stop leg, a bracket's take-profit
    /// and stop-loss legs.
    pub legs: Vec<String>,
    /// The OCO or bracket parent of a leg.
    pub parent: Option<String>,
}

/// A stock the mock lists.
#[derive(Debug, Clone, Copy)]
struct Asset {
    fractionable: bool,
    price: Decimal,
}

#[derive(Debug, Clone)]
struct Execution {
    id: String,
    order_id: String,
    symbol: String,
    side: String,
    price: Decimal,
    qty: Decimal,
    time: i64,
}

/// The venue behind [`MockAlpaca`].
pub struct State {
    open: bool,
    /// How far the venue's clock runs ahead of ours, in ms.
    clock_offset_ms: i64,
    orders: Vec<MockOrder>,
    executions: Vec<Execution>,
    assets: HashMap<String, Asset>,
    cash: Decimal,
    shares: HashMap<String, Decimal>,
    faults: Faults,
    refused_signatures: u64,
    requests: u64,
    next_id: u64,
    /// Nested order lookups still to answer with a 500.
    failing_nested_lookups: u32,
}

/// A running mock; it stops when dropped.
pub type MockAlpaca = Mock<State>;

/// Alpaca's error body.
pub(crate) fn error(status: u16, code: i64, message: &str) -> Answer {
    answer(status, json!({"code": code, "message": message}))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v2/orders") if request.body.contains("\"oco\"") => {
                Some(Route::PlaceOrderList)
            }
            ("POST", "/v2/orders") => Some(Route::PlaceOrder),
            ("GET", "/v2/orders:by_client_order_id") => Some(Route::QueryOrder),
            ("GET", path) if path.starts_with("/v2/orders/") => Some(Route::QueryOrder),
            ("DELETE", path) if path.starts_with("/v2/orders/") => Some(Route::CancelOrder),
            _ => None,
        }
    }

    fn handle(&mut self, request: &Request) -> Answer {
        if self.failing_nested_lookups > 0 && routes::is_nested_lookup(request) {
            self.failing_nested_lookups -= 1;
            return self.trouble(Trouble::Internal);
        }
        routes::route_request(self, request)
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Internal => error(500, 50010000, "internal server error occurred"),
            Trouble::BackendTimeout => error(504, 50410000, "gateway timeout"),
            Trouble::Throttled(secs) => {
                let mut refused = error(429, 42910000, "rate limit exceeded");
                let reset = now_ms() / 1000 + i64::try_from(secs).unwrap_or(0);
                refused
                    .headers
                    .push(("X-RateLimit-Reset", reset.to_string()));
                refused
            }
            // Alpaca has no IP ban; its stop-sending answer is an account
            // whose trading is blocked.
            Trouble::Banned(secs) => retry_after(
                error(403, 40310000, "trading is blocked for this account"),
                secs,
            ),
        }
    }

    fn answer_headers(&mut self) -> Vec<(&'static str, String)> {
        self.requests += 1;
        let left = RATE_LIMIT - self.requests % RATE_LIMIT;
        vec![
            ("X-RateLimit-Limit", RATE_LIMIT.to_string()),
            ("X-RateLimit-Remaining", left.to_string()),
        ]
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

// The clock offset moves the time `/v2/clock` reports; Alpaca stamps no
// request, so nothing is refused by it.
crate::mock_state!(State, MockOrder, client_order_id);

impl MockAlpaca {
    /// Starts on an ephemeral loopback port with the market open, AAPL
    /// (fractionable, in steps of 0.00001) at 2,000 (the conformance
    /// kit's figures, scaled) and BRK.A (whole shares only) at 700,000, and
    /// an account holding 100,000 USD and 10 AAPL.
    pub async fn start() -> Self {
        let asset = |fractionable, price: i64| Asset {
            fractionable,
            price: Decimal::from(price),
        };
        Mock::serve(State {
            open: true,
            clock_offset_ms: 0,
            orders: Vec::new(),
            executions: Vec::new(),
            assets: HashMap::from([
                ("AAPL".into(), asset(true, 2_000)),
                ("BRK.A".into(), asset(false, 700_000)),
            ]),
            cash: Decimal::from(100_000),
            shares: HashMap::from([("AAPL".into(), Decimal::from(10))]),
            faults: Faults::default(),
            refused_signatures: 0,
            requests: 0,
            next_id: 1,
            failing_nested_lookups: 0,
        })
        .await
    }

    /// Points a server configuration's `alpaca` exchange at this mock.
    pub fn configure(&self, config: &mut tradeplane_server::config::Config) {
        let alpaca = &mut config.exchanges.alpaca;
        alpaca.enabled = true;
        alpaca.base_url = self.url.clone();
        alpaca.data_url = self.url.clone();
        alpaca.api_key = API_KEY.into();
        alpaca.api_secret = API_SECRET.into();
    }

    /// Moves the last trade of `symbol`: while the market is open, resting
    /// orders it crosses fill and stops it reaches trigger.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.with(|s| book::move_market(s, symbol, price));
    }

    /// Opens the market: the orders held for the open are worked.
    pub fn open_market(&self) {
        self.with(|s| {
            s.open = true;
            book::work_all(s);
        });
    }

    /// Closes the market: orders are accepted and held until it opens.
    pub fn close_market(&self) {
        self.with(|s| s.open = false);
    }

    /// Answers the next nested order lookup (`GET /v2/orders/{id}?nested=true`,
    /// how a bracket's legs are read) with a 500, whatever other lookups
    /// come first.
    pub fn fail_next_nested_lookup(&self) {
        self.with(|s| s.failing_nested_lookups += 1);
    }

    /// The shares of `symbol` the account holds.
    pub fn shares(&self, symbol: &str) -> Decimal {
        self.with(|s| s.shares.get(symbol).copied().unwrap_or_default())
    }
}

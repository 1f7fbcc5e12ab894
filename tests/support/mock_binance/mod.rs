//! A mock of Binance's spot REST API on a loopback port, for the tests of
//! the `binance` connector. It checks API keys, HMAC-SHA256 signatures and
//! timestamps the way Binance does, keeps orders by client order id
//! (refusing a duplicate open id with -2010, and, like Binance, accepting
//! an id again once its order is closed), matches market and marketable
//! limit orders at a settable price (or part of a resting order on
//! demand), keeps native OCO order lists (one leg's first execution, even
//! a partial one, expires the other; canceling one leg cancels the list),
//! trails stops sent with a `trailingDelta`, and injects faults into the
//! next requests of a route. It accepts [`API_KEY`], and more key/secret
//! pairs on demand (several accounts at one venue; they share its book
//! and balances), and remembers which key placed each order. The HTTP and
//! the faults are the shared core's, `mock_venue`.

mod book;
mod order_list;
mod routes;
mod trailing;

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use rust_decimal::Decimal;
use serde_json::json;

use crate::mock_venue::{Answer, Faults, Mock, Request, Trouble, Venue, answer, retry_after};
pub use crate::mock_venue::{Fault, Route};
pub(crate) use routes::verify;

/// The API key the mock accepts.
pub const API_KEY: &str = "mock-api-key-0123456789";
/// The API secret the mock verifies signatures with.
pub const API_SECRET: &str = "mock-api-secret-9876543210";
/// Commission per fill: 10 bps of the asset received.
pub(crate) const COMMISSION: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// An order as the mock holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    pub order_id: i64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    /// The trigger of a `STOP_LOSS` or `STOP_LOSS_LIMIT`.
    pub stop_price: Option<Decimal>,
    /// The `trailingDelta` of a trailing stop, in basis points.
    pub trailing_delta: Option<u32>,
    /// The best price a trailing stop has seen since it started trailing;
    /// `None` until it does.
    pub trail_best: Option<Decimal>,
    /// The order list it belongs to; -1 when none.
    pub order_list_id: i64,
    pub status: &'static str,
    pub executed: Decimal,
    pub quote: Decimal,
    pub time: i64,
}

/// An OCO order list as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrderList {
    pub order_list_id: i64,
    pub list_client_order_id: String,
    /// Every parameter of the request but its signature, timestamp and
    /// `recvWindow`.
    pub params: BTreeMap<String, String>,
    /// Binance's `listStatusType`: `EXEC_STARTED` while a leg is open,
    /// then `ALL_DONE`.
    pub list_status_type: &'static str,
    /// Binance's `listOrderStatus`: `EXECUTING`, then `ALL_DONE`.
    pub list_order_status: &'static str,
}

#[derive(Debug, Clone)]
struct Trade {
    id: i64,
    order_id: i64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    time: i64,
}

/// The venue behind [`MockBinance`].
pub struct State {
    clock_offset_ms: i64,
    orders: Vec<MockOrder>,
    order_lists: Vec<MockOrderList>,
    trades: Vec<Trade>,
    prices: HashMap<String, Decimal>,
    balances: BTreeMap<String, Decimal>,
    faults: Faults,
    /// Accepted API keys and their secrets.
    keys: Vec<(String, String)>,
    /// The API key that sent each `newClientOrderId`.
    placed_by: HashMap<String, String>,
    refused_signatures: u64,
    weight: u64,
    next_id: i64,
}

/// A running mock; it stops when dropped.
pub type MockBinance = Mock<State>;

/// Binance's error body.
pub(crate) fn error(status: u16, code: i64, msg: &str) -> Answer {
    answer(status, json!({"code": code, "msg": msg}))
}

/// Binance's answers to trouble, spot and futures alike.
pub(crate) fn trouble_answer(trouble: Trouble) -> Answer {
    match trouble {
        Trouble::Internal => error(500, -1000, "An unknown error occurred"),
        Trouble::BackendTimeout => error(
            503,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        Trouble::Throttled(secs) => retry_after(
            error(
                429,
                -1003,
                "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
            ),
            secs,
        ),
        Trouble::Banned(secs) => {
            retry_after(error(418, -1003, "Way too many requests; IP banned."), secs)
        }
    }
}

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/v3/order") => Some(Route::PlaceOrder),
            ("GET", "/api/v3/order") => Some(Route::QueryOrder),
            ("DELETE", "/api/v3/order") => Some(Route::CancelOrder),
            ("POST", "/api/v3/orderList/oco") => Some(Route::PlaceOrderList),
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

crate::mock_state!(State, MockOrder, client_order_id);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl MockBinance {
    /// Starts on an ephemeral loopback port, with BTCUSDT at 50,000 and an
    /// account holding 100,000 USDT and 1 BTC.
    pub async fn start() -> Self {
        Mock::serve(State {
            clock_offset_ms: 0,
            orders: Vec::new(),
            order_lists: Vec::new(),
            trades: Vec::new(),
            prices: HashMap::from([
                ("BTCUSDT".into(), Decimal::from(50_000)),
                ("ETHUSDT".into(), Decimal::from(3_000)),
            ]),
            balances: BTreeMap::from([
                ("USDT".into(), Decimal::from(100_000)),
                ("BTC".into(), Decimal::ONE),
            ]),
            faults: Faults::default(),
            keys: vec![(API_KEY.into(), API_SECRET.into())],
            placed_by: HashMap::new(),
            refused_signatures: 0,
            weight: 0,
            next_id: 1,
        })
        .await
    }

    /// Starts like [`MockBinance::start`], with an account that holds
    /// none of `asset`: it sells only what it bought, net of the fee
    /// Binance takes in the asset bought.
    pub async fn start_without(asset: &str) -> Self {
        let mock = Self::start().await;
        mock.set_balance(asset, Decimal::ZERO);
        mock
    }

    /// Points a server configuration's `binance` exchange at this mock.
    pub fn configure(&self, config: &mut tradeplane_server::config::Config) {
        let binance = &mut config.exchanges.binance;
        binance.enabled = true;
        binance.base_url = self.url.clone();
        binance.api_key = API_KEY.into();
        binance.api_secret = API_SECRET.into();
    }

    /// Adds the account `name` to a server configuration's `binance`
    /// exchange, with this mock accepting `api_key` signed by `api_secret`.
    pub fn configure_account(
        &self,
        config: &mut tradeplane_server::config::Config,
        name: &str,
        (api_key, api_secret): (&str, &str),
    ) {
        self.accept_key(api_key, api_secret);
        let binance = &mut config.exchanges.binance;
        binance.base_url = self.url.clone();
        binance.accounts.insert(
            name.to_string(),
            tradeplane_server::orders::exchanges::binance::BinanceAccount {
                api_key: api_key.into(),
                api_secret: api_secret.into(),
                ..Default::default()
            },
        );
    }

    /// Accepts requests with `api_key`, signed with `api_secret`.
    pub fn accept_key(&self, api_key: &str, api_secret: &str) {
        self.with(|s| s.keys.push((api_key.into(), api_secret.into())));
    }

    /// The API key that sent the order `client_order_id`.
    pub fn placed_by(&self, client_order_id: &str) -> Option<String> {
        self.with(|s| s.placed_by.get(client_order_id).cloned())
    }

    /// Sets what the account holds of `asset`.
    pub fn set_balance(&self, asset: &str, amount: Decimal) {
        self.with(|s| s.balances.insert(asset.to_string(), amount));
    }

    /// What the account holds of `asset`, locked by open orders or not.
    pub fn balance(&self, asset: &str) -> Decimal {
        self.with(|s| s.balances.get(asset).copied().unwrap_or_default())
    }

    /// Moves the market: resting limit orders the price crosses fill,
    /// stops it reaches trigger, trailing stops follow it (or trigger once
    /// it retraced their delta), and an order list whose leg executed
    /// expires its other leg.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.with(|s| book::move_market(s, symbol, price));
    }

    /// Every OCO order list the mock accepted, oldest first, with its
    /// status now.
    pub fn order_lists(&self) -> Vec<MockOrderList> {
        self.with(|s| {
            s.order_lists
                .iter()
                .map(|list| order_list::with_status(s, list))
                .collect()
        })
    }

    /// Fills `qty` of the open order `client_order_id` at its limit price
    /// (a resting take-profit trading in part), leaving it
    /// `PARTIALLY_FILLED` while some is left. Like Binance, the first
    /// execution of an order list's leg expires the other legs.
    pub fn fill_part(&self, client_order_id: &str, qty: Decimal) {
        self.with(|s| {
            let index = s
                .orders
                .iter()
                .rposition(|o| o.client_order_id == client_order_id && book::is_open(o.status))
                .unwrap_or_else(|| panic!("no open order {client_order_id} at the mock"));
            let price = s.orders[index]
                .price
                .unwrap_or_else(|| panic!("order {client_order_id} has no limit price"));
            book::fill_part(s, index, price, qty);
            order_list::expire_siblings(s, index);
        });
    }

    /// Waits until at least `count` orders have reached the mock; fails the
    /// test after `within`.
    pub async fn wait_for_orders(&self, count: usize, within: Duration) {
        crate::eventually(within, Duration::from_millis(20), || async {
            let seen = self.orders().len();
            if seen >= count {
                Ok(())
            } else {
                Err(format!("{seen} of {count} orders reached the mock"))
            }
        })
        .await;
    }
}

//! A mock of OKX's v5 REST API on a loopback port, for the tests of the
//! `okx` connector. It checks the key, passphrase, `OK-ACCESS-SIGN`
//! (base64 HMAC-SHA256 of timestamp, method, path with query and body),
//! the timestamp and `expTime` the way OKX does, and that every request
//! asks for demo trading (`x-simulated-trading: 1`); keeps orders by
//! `clOrdId` (51016 for a duplicate open id), spot `BTC-USDT` and the
//! perpetual swap `BTC-USDT-SWAP` (sizes in contracts of 0.01 BTC) at a
//! settable price, balances, leverage and margin mode per swap, net-mode
//! positions, reduce-only orders, conditional (stop) algo orders, spot
//! `oco` algo orders (the base reserved once for both legs) and the TP/SL
//! an order attaches (`attachAlgoOrds`, an `oco` once it fills); and
//! injects faults into the next requests of a route, on the shared core
//! `mock_venue`.

mod attached;
mod book;
mod oco;
mod routes;

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::{Value, json};

pub use self::attached::MockAttached;
use crate::mock_venue::{Answer, Faults, Mock, Request, Trouble, Venue, answer, retry_after};
pub use crate::mock_venue::{Fault, Route};

/// The API key the mock accepts.
pub const API_KEY: &str = "okx-mock-key-0123456789";
/// The secret the mock verifies signatures with.
pub const API_SECRET: &str = "okx-mock-secret-9876543210";
/// The passphrase the key was made with.
pub const PASSPHRASE: &str = "okx-mock-passphrase-246";
/// Base units per contract of a swap.
pub const CONTRACT_VALUE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// An order as the mock holds it; sizes in OKX's unit (contracts for
/// swaps).
#[derive(Debug, Clone, PartialEq)]
pub struct MockOrder {
    pub ord_id: String,
    pub cl_ord_id: String,
    pub inst_id: String,
    pub side: String,
    pub ord_type: String,
    pub td_mode: String,
    pub size: Decimal,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    /// `long` or `short` in long/short position mode, else empty.
    pub pos_side: String,
    /// `live`, `partially_filled`, `filled` or `canceled`.
    pub state: &'static str,
    pub filled: Decimal,
    /// The TP/SL it carries (`attachAlgoOrds`), placed when it fills.
    pub attached: Option<MockAttached>,
}

/// An algo order: a conditional stop, or a spot `oco` of a stop and a
/// take-profit.
#[derive(Debug, Clone, PartialEq)]
pub struct MockAlgo {
    pub algo_id: String,
    pub algo_cl_ord_id: String,
    pub inst_id: String,
    /// `conditional` or `oco`.
    pub ord_type: &'static str,
    pub side: String,
    pub td_mode: String,
    pub size: Decimal,
    /// The stop's trigger (`slTriggerPx`).
    pub trigger: Decimal,
    /// An `oco`'s take-profit trigger and limit (`tpTriggerPx`, `tpOrdPx`).
    pub take_profit: Option<(Decimal, Decimal)>,
    pub reduce_only: bool,
    /// `long` or `short` in long/short position mode, else empty.
    pub pos_side: String,
    /// `live`, `effective` or `canceled`.
    pub state: &'static str,
    /// Which leg triggered: `sl`, `tp`, or empty before.
    pub actual_side: &'static str,
    /// The order it placed when it triggered.
    pub ord_id: String,
    /// The `clOrdId` of the order whose attached TP/SL it is, else empty.
    pub attached_to: String,
}

#[derive(Debug, Clone)]
struct Trade {
    id: u64,
    ord_id: String,
    inst_id: String,
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    fee_ccy: String,
    time: i64,
}

/// A position of a swap, in contracts (signed: a short below zero); one
/// per swap in net mode, one per swap and side in long/short mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockPosition {
    pub contracts: Decimal,
    pub entry: Decimal,
}

/// The venue behind [`MockOkx`].
pub struct State {
    clock_offset_ms: i64,
    orders: Vec<MockOrder>,
    algos: Vec<MockAlgo>,
    trades: Vec<Trade>,
    prices: HashMap<String, Decimal>,
    balances: BTreeMap<String, Decimal>,
    /// Leverage and margin mode per swap, as last set.
    leverage: HashMap<String, (u32, String)>,
    /// By [`position_key`].
    positions: HashMap<String, MockPosition>,
    /// The account's `posMode` is `long_short_mode` (else `net_mode`).
    long_short: bool,
    faults: Faults,
    refused_signatures: u64,
    next_id: u64,
}

/// A running mock; it stops when dropped.
pub type MockOkx = Mock<State>;

/// OKX's envelope around `data`.
fn ok(data: Vec<Value>) -> Answer {
    answer(200, json!({"code": "0", "msg": "", "data": data}))
}

/// OKX's refusal of a whole request.
fn error(status: u16, code: &str, msg: &str) -> Answer {
    answer(status, json!({"code": code, "msg": msg, "data": []}))
}

/// OKX's refusal of one order: HTTP 200, `code` 1, the reason per order.
fn refused(code: &str, msg: &str) -> Answer {
    answer(
        200,
        json!({"code": "1", "msg": "Operation failed.", "data": [{"ordId": "", "clOrdId": "", "sCode": code, "sMsg": msg}]}),
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/v5/trade/order") => Some(Route::PlaceOrder),
            ("GET", "/api/v5/trade/order") => Some(Route::QueryOrder),
            ("POST", "/api/v5/trade/cancel-order") => Some(Route::CancelOrder),
            ("POST", "/api/v5/trade/order-algo") => Some(Route::PlaceOrderList),
            ("GET", "/api/v5/trade/order-algo") => Some(Route::QueryOrderList),
            _ => None,
        }
    }

    fn handle(&mut self, request: &Request) -> Answer {
        routes::route_request(self, request)
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Internal => error(500, "50026", "System error. Try again later"),
            Trouble::BackendTimeout => error(
                400,
                "50004",
                "API endpoint request timeout (does not mean that the request was successful or failed, please check the request result)",
            ),
            Trouble::Throttled(secs) => retry_after(error(429, "50011", "Too Many Requests"), secs),
            Trouble::Banned(secs) => retry_after(error(403, "403", "Forbidden"), secs),
        }
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

crate::mock_state!(State, MockOrder, cl_ord_id);

impl MockOkx {
    /// Starts on an ephemeral loopback port, with BTC at 50,000 (spot and
    /// swap) and an account holding 100,000 USDT and 1 BTC.
    pub async fn start() -> Self {
        Mock::serve(State {
            clock_offset_ms: 0,
            orders: Vec::new(),
            algos: Vec::new(),
            trades: Vec::new(),
            prices: HashMap::from([
                ("BTC-USDT".into(), Decimal::from(50_000)),
                ("BTC-USDT-SWAP".into(), Decimal::from(50_000)),
            ]),
            balances: BTreeMap::from([
                ("USDT".into(), Decimal::from(100_000)),
                ("BTC".into(), Decimal::ONE),
            ]),
            leverage: HashMap::new(),
            positions: HashMap::new(),
            long_short: false,
            faults: Faults::default(),
            refused_signatures: 0,
            next_id: 1,
        })
        .await
    }

    /// Points a server configuration's `okx` exchange at this mock.
    pub fn configure(&self, config: &mut tradeplane_server::config::Config) {
        let okx = &mut config.exchanges.okx;
        okx.enabled = true;
        okx.base_url = self.url.clone();
        okx.api_key = API_KEY.into();
        okx.api_secret = API_SECRET.into();
        okx.passphrase = PASSPHRASE.into();
    }

    /// Moves the market of `inst_id`: resting orders it crosses fill and
    /// stops it reaches trigger.
    pub fn set_price(&self, inst_id: &str, price: Decimal) {
        self.with(|s| book::move_market(s, inst_id, price));
    }

    /// Every algo order the mock ever accepted, oldest first.
    pub fn algos(&self) -> Vec<MockAlgo> {
        self.with(|s| s.algos.clone())
    }

    /// What open orders and live `oco` groups lock of `ccy`.
    pub fn frozen(&self, ccy: &str) -> Decimal {
        self.with(|s| book::frozen(s, ccy))
    }

    /// The leverage and margin mode last set for `inst_id`.
    pub fn leverage(&self, inst_id: &str) -> Option<(u32, String)> {
        self.with(|s| s.leverage.get(inst_id).cloned())
    }

    /// The net position in `inst_id`, in contracts.
    pub fn position(&self, inst_id: &str) -> MockPosition {
        self.with(|s| s.positions.get(inst_id).cloned().unwrap_or_default())
    }

    /// Puts the account in long/short position mode: swap orders must
    /// then carry `posSide` and no `reduceOnly`.
    pub fn set_long_short_mode(&self) {
        self.with(|s| s.long_short = true);
    }

    /// The position in `inst_id` on `pos_side` (`long` or `short`) in
    /// long/short mode, in contracts.
    pub fn position_on(&self, inst_id: &str, pos_side: &str) -> MockPosition {
        self.with(|s| {
            s.positions
                .get(&position_key(inst_id, pos_side))
                .cloned()
                .unwrap_or_default()
        })
    }
}

/// The `clOrdId` OKX holds for a desk client order id: `tp-` dropped.
pub fn venue_client_id(client_order_id: &str) -> &str {
    client_order_id
        .strip_prefix("tp-")
        .unwrap_or(client_order_id)
}

/// Where the mock keeps the position an order on `inst_id` with
/// `pos_side` trades: the swap in net mode, the swap and side otherwise.
fn position_key(inst_id: &str, pos_side: &str) -> String {
    if pos_side.is_empty() {
        inst_id.to_string()
    } else {
        format!("{inst_id}:{pos_side}")
    }
}

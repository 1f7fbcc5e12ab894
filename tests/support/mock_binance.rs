//! A mock of Binance's spot REST API on a loopback port, for the tests of
//! the `binance` connector. It checks API keys, HMAC-SHA256 signatures and
//! timestamps the way Binance does, keeps orders by client order id
//! (refusing a duplicate open id with -2010, and, like Binance, accepting
//! an id again once its order is closed), matches market and marketable
//! limit orders at a settable price, and injects faults into the next
//! requests of a route.
//!
//! It speaks plain HTTP/1.1 over its own socket handling, so a fault can
//! drop a connection or withhold an answer exactly where a real network
//! would.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

/// The API key the mock accepts.
pub const API_KEY: &str = "mock-api-key-0123456789";
/// The API secret the mock verifies signatures with.
pub const API_SECRET: &str = "mock-api-secret-9876543210";
/// Commission per fill: 10 bps of the asset received.
const COMMISSION: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// What a fault does to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Processes the request, then answers only after this long.
    SlowAnswer(Duration),
    /// Answers 500 without processing.
    ServerError,
    /// Processes the request, then answers 500.
    ServerErrorAfterProcessing,
    /// Processes the request, then answers -1007 (backend timeout).
    BackendTimeout,
    /// Answers 429 with `Retry-After`, without processing.
    TooManyRequests { retry_after_secs: u64 },
    /// Answers 418 with `Retry-After`, without processing.
    Banned { retry_after_secs: u64 },
    /// Closes the connection without processing or answering.
    DropConnection,
    /// Processes the request, then closes the connection unanswered.
    LoseAnswer,
    /// Processes the request and never answers.
    Hang,
}

/// Routes faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /api/v3/order`.
    PlaceOrder,
    /// `GET /api/v3/order`.
    QueryOrder,
}

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
    pub status: &'static str,
    pub executed: Decimal,
    pub quote: Decimal,
    pub time: i64,
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

struct State {
    clock_offset_ms: i64,
    orders: Vec<MockOrder>,
    trades: Vec<Trade>,
    prices: HashMap<String, Decimal>,
    balances: BTreeMap<String, Decimal>,
    faults: HashMap<Route, VecDeque<Fault>>,
    refused_signatures: u64,
    weight: u64,
    next_id: i64,
}

/// A running mock; it stops when dropped.
pub struct MockBinance {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MockBinance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

fn error(status: u16, code: i64, msg: &str) -> Answer {
    answer(status, json!({"code": code, "msg": msg}))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl MockBinance {
    /// Starts on an ephemeral loopback port, with BTCUSDT at 50,000 and an
    /// account holding 100,000 USDT and 1 BTC.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr: SocketAddr = listener.local_addr().expect("mock address");
        let state = Arc::new(Mutex::new(State {
            clock_offset_ms: 0,
            orders: Vec::new(),
            trades: Vec::new(),
            prices: HashMap::from([
                ("BTCUSDT".into(), Decimal::from(50_000)),
                ("ETHUSDT".into(), Decimal::from(3_000)),
            ]),
            balances: BTreeMap::from([
                ("USDT".into(), Decimal::from(100_000)),
                ("BTC".into(), Decimal::ONE),
            ]),
            faults: HashMap::new(),
            refused_signatures: 0,
            weight: 0,
            next_id: 1,
        }));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve_connection(stream, shared.clone()));
            }
        });
        Self {
            url: format!("http://{addr}"),
            state,
            server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("mock state"))
    }

    /// Points a server configuration's `binance` exchange at this mock.
    pub fn configure(&self, config: &mut tradeplane_server::config::Config) {
        let binance = &mut config.exchanges.binance;
        binance.enabled = true;
        binance.base_url = self.url.clone();
        binance.api_key = API_KEY.into();
        binance.api_secret = API_SECRET.into();
    }

    /// Sets how far the mock's clock runs ahead of ours (negative: behind).
    pub fn set_clock_offset(&self, ms: i64) {
        self.with(|s| s.clock_offset_ms = ms);
    }

    /// Queues a fault for the next request on `route`.
    pub fn fail_next(&self, route: Route, fault: Fault) {
        self.with(|s| s.faults.entry(route).or_default().push_back(fault));
    }

    /// Moves the market; resting limit orders the price crosses fill.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.with(|s| {
            s.prices.insert(symbol.to_string(), price);
            let crossed: Vec<usize> = s
                .orders
                .iter()
                .enumerate()
                .filter(|(_, o)| o.symbol == symbol && is_open(o.status) && o.kind == "LIMIT")
                .filter(|(_, o)| marketable(o, price))
                .map(|(i, _)| i)
                .collect();
            for index in crossed {
                let limit = s.orders[index].price.unwrap_or(price);
                fill(s, index, limit);
            }
        });
    }

    /// Every order the mock ever accepted, oldest first.
    pub fn orders(&self) -> Vec<MockOrder> {
        self.with(|s| s.orders.clone())
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

    /// How many orders carry `client_order_id`.
    pub fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        self.with(|s| {
            s.orders
                .iter()
                .filter(|o| o.client_order_id == client_order_id)
                .count()
        })
    }

    /// Signed requests refused for a bad key, signature or timestamp.
    pub fn refused_signatures(&self) -> u64 {
        self.with(|s| s.refused_signatures)
    }
}

fn is_open(status: &str) -> bool {
    matches!(status, "NEW" | "PARTIALLY_FILLED")
}

fn marketable(order: &MockOrder, market: Decimal) -> bool {
    match (order.side.as_str(), order.price) {
        (_, None) => true,
        ("BUY", Some(limit)) => limit >= market,
        (_, Some(limit)) => limit <= market,
    }
}

/// Fills the rest of an order at `price`, with Binance's commission in
/// the asset received.
fn fill(state: &mut State, index: usize, price: Decimal) {
    let time = now_ms() + state.clock_offset_ms;
    let id = state.next_id;
    state.next_id += 1;
    let order = &mut state.orders[index];
    let qty = order.quantity - order.executed;
    let base = order.symbol.trim_end_matches("USDT").to_string();
    let notional = qty * price;
    let (commission, asset, gained, spent) = if order.side == "BUY" {
        let fee = qty * COMMISSION;
        (
            fee,
            base.clone(),
            (base, qty - fee),
            ("USDT".to_string(), notional),
        )
    } else {
        let fee = notional * COMMISSION;
        (
            fee,
            "USDT".into(),
            ("USDT".into(), notional - fee),
            (base, qty),
        )
    };
    order.executed += qty;
    order.quote += notional;
    order.status = "FILLED";
    let trade = Trade {
        id,
        order_id: order.order_id,
        price,
        qty,
        commission,
        commission_asset: asset,
        time,
    };
    *state.balances.entry(gained.0).or_default() += gained.1;
    *state.balances.entry(spent.0).or_default() -= spent.1;
    state.trades.push(trade);
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let (answer, fault) = handle(&state, &request);
        match fault {
            Some(Fault::DropConnection | Fault::LoseAnswer) => return,
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                return;
            }
            Some(Fault::SlowAnswer(wait)) => tokio::time::sleep(wait).await,
            _ => {}
        }
        let weight = {
            let mut s = state.lock().expect("mock state");
            s.weight += 1;
            s.weight
        };
        let body = answer.body.to_string();
        let mut head = format!(
            "HTTP/1.1 {} Mock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: {weight}\r\n",
            answer.status,
            body.len()
        );
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    api_key: Option<String>,
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 || buffer.len() > 65_536 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let mut api_key = None;
    let mut body_length = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "x-mbx-apikey" => api_key = Some(value.trim().to_string()),
            "content-length" => body_length = value.trim().parse().ok()?,
            _ => {}
        }
    }
    let mut remaining = body_length.saturating_sub(buffer.len() - end - 4);
    while remaining > 0 {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        remaining = remaining.saturating_sub(read);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        api_key,
    })
}

fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn handle(state: &Mutex<State>, request: &Request) -> (Answer, Option<Fault>) {
    let mut s = state.lock().expect("mock state");
    let route = match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v3/order") => Some(Route::PlaceOrder),
        ("GET", "/api/v3/order") => Some(Route::QueryOrder),
        _ => None,
    };
    let fault = route.and_then(|r| s.faults.get_mut(&r).and_then(VecDeque::pop_front));
    match fault {
        Some(Fault::ServerError) => return (error(500, -1000, "An unknown error occurred"), fault),
        Some(Fault::DropConnection) => return (answer(500, Value::Null), fault),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut a = error(
                429,
                -1003,
                "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
            );
            a.headers
                .push(("Retry-After", retry_after_secs.to_string()));
            return (a, fault);
        }
        Some(Fault::Banned { retry_after_secs }) => {
            let mut a = error(418, -1003, "Way too many requests; IP banned.");
            a.headers
                .push(("Retry-After", retry_after_secs.to_string()));
            return (a, fault);
        }
        _ => {}
    }
    let processed = route_request(&mut s, request);
    let answer = match fault {
        Some(Fault::ServerErrorAfterProcessing) => error(500, -1000, "An unknown error occurred"),
        Some(Fault::BackendTimeout) => error(
            503,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        _ => processed,
    };
    (answer, fault)
}

fn route_request(s: &mut State, request: &Request) -> Answer {
    let p = params(&request.query);
    let server_time = now_ms() + s.clock_offset_ms;
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v3/time") => answer(200, json!({"serverTime": server_time})),
        ("GET", "/api/v3/exchangeInfo") => exchange_info(p.get("symbol").map(String::as_str)),
        ("GET", "/api/v3/ticker/price") => {
            let symbol = p.get("symbol").cloned().unwrap_or_default();
            match s.prices.get(&symbol) {
                Some(price) => answer(200, json!({"symbol": symbol, "price": price.to_string()})),
                None => error(400, -1121, "Invalid symbol."),
            }
        }
        (method, path) => {
            if let Err(refusal) = verify(request, &p, server_time) {
                s.refused_signatures += 1;
                return refusal;
            }
            match (method, path) {
                ("POST", "/api/v3/order") => place(s, &p, server_time),
                ("GET", "/api/v3/order") => match find(s, &p) {
                    Some(order) => answer(200, order_json(&s.orders[order], &[])),
                    None => error(400, -2013, "Order does not exist."),
                },
                ("DELETE", "/api/v3/order") => match find(s, &p) {
                    Some(order) if is_open(s.orders[order].status) => {
                        s.orders[order].status = "CANCELED";
                        answer(200, order_json(&s.orders[order], &[]))
                    }
                    _ => error(400, -2011, "Unknown order sent."),
                },
                ("GET", "/api/v3/myTrades") => {
                    let order_id: i64 = p.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(-1);
                    let trades: Vec<Value> = s
                        .trades
                        .iter()
                        .filter(|t| t.order_id == order_id)
                        .map(|t| {
                            json!({"id": t.id, "orderId": t.order_id, "price": t.price.to_string(),
                                "qty": t.qty.to_string(), "commission": t.commission.to_string(),
                                "commissionAsset": t.commission_asset, "time": t.time})
                        })
                        .collect();
                    answer(200, Value::Array(trades))
                }
                ("GET", "/api/v3/account") => {
                    let balances: Vec<Value> = s
                        .balances
                        .iter()
                        .map(|(asset, free)| json!({"asset": asset, "free": free.to_string(), "locked": "0"}))
                        .collect();
                    answer(200, json!({"balances": balances}))
                }
                _ => error(404, -1000, "no such endpoint in the mock"),
            }
        }
    }
}

/// Binance's checks of a signed request: key, signature over the exact
/// query text before `&signature=`, and the timestamp window.
fn verify(request: &Request, p: &HashMap<String, String>, server_time: i64) -> Result<(), Answer> {
    if request.api_key.as_deref() != Some(API_KEY) {
        return Err(error(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    let Some((payload, signature)) = request.query.rsplit_once("&signature=") else {
        return Err(error(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(API_SECRET.as_bytes()).expect("hmac key");
    mac.update(payload.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if expected != signature {
        return Err(error(
            400,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let timestamp: i64 = p
        .get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            error(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            )
        })?;
    let window: i64 = p
        .get("recvWindow")
        .and_then(|w| w.parse().ok())
        .unwrap_or(5000);
    if window > 60_000 {
        return Err(error(400, -1131, "recvWindow must be less than 60000"));
    }
    if timestamp >= server_time + 1000 {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server_time - timestamp > window {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

fn find(s: &State, p: &HashMap<String, String>) -> Option<usize> {
    if let Some(client_id) = p.get("origClientOrderId") {
        return s
            .orders
            .iter()
            .rposition(|o| &o.client_order_id == client_id);
    }
    let id: i64 = p.get("orderId")?.parse().ok()?;
    s.orders.iter().position(|o| o.order_id == id)
}

fn place(s: &mut State, p: &HashMap<String, String>, server_time: i64) -> Answer {
    let text = |k: &str| p.get(k).cloned().unwrap_or_default();
    let decimal = |k: &str| p.get(k).and_then(|v| Decimal::from_str(v).ok());
    let symbol = text("symbol");
    let Some(&market) = s.prices.get(&symbol) else {
        return error(400, -1121, "Invalid symbol.");
    };
    let client_order_id = text("newClientOrderId");
    if s.orders
        .iter()
        .any(|o| o.client_order_id == client_order_id && is_open(o.status))
    {
        return error(400, -2010, "Duplicate order sent.");
    }
    let Some(quantity) = decimal("quantity") else {
        return error(
            400,
            -1102,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
        );
    };
    let price = decimal("price");
    if !(quantity % Decimal::new(1, 5)).is_zero() || quantity < Decimal::new(1, 5) {
        return error(400, -1013, "Filter failure: LOT_SIZE");
    }
    if price.is_some_and(|p| !(p % Decimal::new(1, 2)).is_zero()) {
        return error(400, -1013, "Filter failure: PRICE_FILTER");
    }
    if quantity * price.unwrap_or(market) < Decimal::from(5) {
        return error(400, -1013, "Filter failure: NOTIONAL");
    }
    let side = text("side");
    let kind = text("type");
    let (asset, needed) = if side == "BUY" {
        ("USDT".to_string(), quantity * price.unwrap_or(market))
    } else {
        (symbol.trim_end_matches("USDT").to_string(), quantity)
    };
    if s.balances.get(&asset).copied().unwrap_or_default() < needed {
        return error(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        );
    }
    let order_id = s.next_id;
    s.next_id += 1;
    s.orders.push(MockOrder {
        order_id,
        client_order_id,
        symbol,
        side,
        kind: kind.clone(),
        quantity,
        price,
        status: "NEW",
        executed: Decimal::ZERO,
        quote: Decimal::ZERO,
        time: server_time,
    });
    let index = s.orders.len() - 1;
    let trades_before = s.trades.len();
    if kind == "MARKET" || (kind == "LIMIT" && marketable(&s.orders[index], market)) {
        fill(s, index, market);
    } else if kind == "LIMIT" && matches!(text("timeInForce").as_str(), "IOC" | "FOK") {
        s.orders[index].status = "EXPIRED";
    }
    let fills: Vec<Value> = s.trades[trades_before..]
        .iter()
        .map(|t| {
            json!({"price": t.price.to_string(), "qty": t.qty.to_string(),
                "commission": t.commission.to_string(), "commissionAsset": t.commission_asset,
                "tradeId": t.id})
        })
        .collect();
    answer(200, order_json(&s.orders[index], &fills))
}

fn order_json(order: &MockOrder, fills: &[Value]) -> Value {
    json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
        "updateTime": order.time,
        "price": order.price.unwrap_or_default().to_string(),
        "origQty": order.quantity.to_string(),
        "executedQty": order.executed.to_string(),
        "cummulativeQuoteQty": order.quote.to_string(),
        "status": order.status,
        "type": order.kind,
        "side": order.side,
        "fills": fills,
    })
}

fn exchange_info(symbol: Option<&str>) -> Answer {
    let Some(symbol @ ("BTCUSDT" | "ETHUSDT")) = symbol else {
        return error(400, -1121, "Invalid symbol.");
    };
    answer(
        200,
        json!({
            "timezone": "UTC",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
            ],
            "symbols": [{
                "symbol": symbol,
                "status": "TRADING",
                "baseAsset": symbol.trim_end_matches("USDT"),
                "quoteAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00", "applyMinToMarket": true}
                ]
            }]
        }),
    )
}

//! `binance`: Binance spot over its signed REST API.
//!
//! The rule it is built around: an order request whose outcome is unknown
//! (a timeout, a dropped connection, a 5xx, -1007) is never sent again
//! blindly. It is looked up by its client order id first; "no such order"
//! only counts once Binance can no longer accept the request (its
//! `timestamp` plus `recvWindow` has passed on Binance's clock). Only then
//! is it sent again, with the same client order id.

mod rest;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tradeplane_api::{OrderStatus, OrderType, Side, TimeInForce};

use self::rest::{Failure, Rest};
use super::{Exchange, ExchangeError, ExchangeFill, ExchangeOrder, InstrumentRules, OrderTicket};

/// The Binance spot testnet, the default.
pub const TESTNET_URL: &str = "https://testnet.binance.vision";
/// Binance spot, where orders move real money.
pub const MAINNET_URL: &str = "https://api.binance.com";
/// Beyond `recvWindow`, the slack allowed for clock uncertainty and for
/// the matching engine to finish a request the gateway accepted.
const SETTLE_MARGIN: Duration = Duration::from_secs(2);
/// Times one order is sent at most (each only after the last is known not
/// to have been placed, or was refused unseen).
const MAX_SENDS: u32 = 3;
/// Lookups of an order whose placement outcome is unknown.
const MAX_LOOKUPS: u32 = 5;

/// Binance connector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinanceConfig {
    /// Connects the `binance` exchange.
    pub enabled: bool,
    /// REST base URL; empty means the testnet, or Binance itself with
    /// `mainnet = true`.
    pub base_url: String,
    /// Must be set to trade real money: a base URL other than the testnet
    /// or a loopback address is refused without it.
    pub mainnet: bool,
    /// API key (`TRADEPLANE_BINANCE_API_KEY`).
    pub api_key: String,
    /// API secret (`TRADEPLANE_BINANCE_API_SECRET`).
    pub api_secret: String,
    /// `recvWindow` of signed requests.
    #[serde(with = "humantime_serde")]
    pub recv_window: Duration,
    /// Longest wait for one HTTP answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest `Retry-After` of a 429 that a placement waits out before
    /// trying again; a longer one fails the order.
    #[serde(with = "humantime_serde")]
    pub max_retry_wait: Duration,
    /// How often open orders are brought up to date.
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// How long instrument rules from `exchangeInfo` are reused.
    #[serde(with = "humantime_serde")]
    pub rules_ttl: Duration,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: String::new(),
            mainnet: false,
            api_key: String::new(),
            api_secret: String::new(),
            recv_window: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(5),
            sync_interval: Duration::from_secs(5),
            rules_ttl: Duration::from_secs(3600),
        }
    }
}

impl BinanceConfig {
    /// The base URL in force.
    pub fn effective_base_url(&self) -> &str {
        match (self.base_url.is_empty(), self.mainnet) {
            (false, _) => &self.base_url,
            (true, false) => TESTNET_URL,
            (true, true) => MAINNET_URL,
        }
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.enabled {
            return Ok(());
        }
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            return Err((
                "exchanges.binance.api_key",
                "set api_key and api_secret (or TRADEPLANE_BINANCE_API_KEY and \
                 TRADEPLANE_BINANCE_API_SECRET)"
                    .into(),
            ));
        }
        let url = url::Url::parse(self.effective_base_url())
            .map_err(|e| ("exchanges.binance.base_url", format!("not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
        if url.scheme() != "https" && !loopback {
            return Err((
                "exchanges.binance.base_url",
                "must be https:// (plain http only on loopback)".into(),
            ));
        }
        if !self.mainnet && !loopback && host != "testnet.binance.vision" {
            return Err((
                "exchanges.binance.base_url",
                format!(
                    "`{host}` is not the testnet; set exchanges.binance.mainnet = true to trade real money"
                ),
            ));
        }
        if self.recv_window.is_zero() || self.recv_window > Duration::from_secs(60) {
            return Err((
                "exchanges.binance.recv_window",
                "must be above 0 and at most 60s".into(),
            ));
        }
        if self.request_timeout.is_zero() || self.sync_interval.is_zero() {
            return Err((
                "exchanges.binance.request_timeout",
                "request_timeout and sync_interval must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// The Binance spot connector.
pub struct BinanceExchange {
    rest: Rest,
    live: bool,
    max_retry_wait: Duration,
    rules_ttl: Duration,
    rules: Mutex<HashMap<String, (Instant, InstrumentRules)>>,
}

impl BinanceExchange {
    /// A connector for the configured account. Nothing is sent until the
    /// first call.
    pub fn new(config: &BinanceConfig) -> Result<Self, String> {
        Ok(Self {
            rest: Rest::new(
                config.effective_base_url(),
                &config.api_key,
                &config.api_secret,
                config.recv_window,
                config.request_timeout,
            )?,
            live: config.mainnet,
            max_retry_wait: config.max_retry_wait,
            rules_ttl: config.rules_ttl,
            rules: Mutex::new(HashMap::new()),
        })
    }

    /// Looks up an order whose placement outcome is unknown. `None` means
    /// it was not placed and cannot be placed by that request any more.
    async fn settle(
        &self,
        client_order_id: &str,
        symbol: &str,
        sent_timestamp: i64,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let final_after = sent_timestamp
            + self.rest.recv_window_ms()
            + i64::try_from(SETTLE_MARGIN.as_millis()).unwrap_or(2000);
        let mut last_error = String::new();
        for attempt in 0..MAX_LOOKUPS {
            match self.fetch(client_order_id, symbol).await {
                Ok(Some(order)) => return Ok(Some(order)),
                Ok(None) => {
                    let now = self.rest.server_now_ms();
                    if now >= final_after {
                        return Ok(None);
                    }
                    let wait = u64::try_from(final_after - now).unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(err) => {
                    last_error = err.to_string();
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        Err(ExchangeError::Unknown(format!(
            "sent, but no lookup could tell whether Binance placed it: {last_error}"
        )))
    }

    /// Brings an order reply up to a full view, with its trades.
    async fn with_fills(&self, reply: OrderReply, symbol: &str) -> Result<ExchangeOrder, Failure> {
        let mut view = reply.view();
        if reply.executed_qty > Decimal::ZERO && view.fills.is_empty() {
            let (_, trades) = self
                .rest
                .signed::<Vec<TradeReply>>(
                    Method::GET,
                    "/api/v3/myTrades",
                    &[
                        ("symbol", venue_symbol(symbol)),
                        ("orderId", reply.order_id.to_string()),
                    ],
                )
                .await;
            view.fills = trades?.into_iter().map(TradeReply::fill).collect();
        }
        Ok(view)
    }
}

#[async_trait]
impl Exchange for BinanceExchange {
    fn name(&self) -> &str {
        "binance"
    }

    fn kind(&self) -> &'static str {
        "binance"
    }

    fn live(&self) -> bool {
        self.live
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let params = order_params(ticket);
        let mut sends = 0;
        loop {
            sends += 1;
            let (timestamp, result) = self
                .rest
                .signed::<OrderReply>(Method::POST, "/api/v3/order", &params)
                .await;
            let failure = match result {
                // Placed: if its trades cannot be read now, the desk marks
                // it unknown and the next sync completes it.
                Ok(reply) => {
                    return self
                        .with_fills(reply, &ticket.symbol)
                        .await
                        .map_err(|f| ExchangeError::Unknown(format!("placed; {}", read_error(f))));
                }
                Err(failure) => failure,
            };
            match failure {
                Failure::NoAnswer(why) => {
                    tracing::warn!(client_order_id = %ticket.client_order_id, %why, "order outcome unknown; looking it up");
                    if let Some(order) = self
                        .settle(&ticket.client_order_id, &ticket.symbol, timestamp)
                        .await?
                    {
                        return Ok(order);
                    }
                    if sends >= MAX_SENDS {
                        return Err(ExchangeError::Unavailable(format!(
                            "not placed after {sends} attempts: {why}"
                        )));
                    }
                }
                Failure::Refused {
                    code: -2010,
                    message,
                } if message.contains("Duplicate") => {
                    // An open order already has this client order id: it
                    // is this order, placed by an earlier attempt.
                    return match self.fetch(&ticket.client_order_id, &ticket.symbol).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(ExchangeError::Unknown(message)),
                        Err(err) => Err(ExchangeError::Unknown(err.to_string())),
                    };
                }
                Failure::RateLimited { retry_after }
                    if retry_after <= self.max_retry_wait && sends < MAX_SENDS =>
                {
                    tokio::time::sleep(retry_after).await;
                }
                other => return Err(order_error(other, &ticket.symbol)),
            }
        }
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<OrderReply>(
                Method::DELETE,
                "/api/v3/order",
                &[
                    ("symbol", venue_symbol(symbol)),
                    ("origClientOrderId", client_order_id.to_string()),
                ],
            )
            .await;
        match result {
            Ok(_) => {}
            // -2011: nothing open to cancel; the lookup tells why.
            Err(Failure::Refused { code: -2011, .. }) => {}
            Err(failure) => return Err(order_error(failure, symbol)),
        }
        self.fetch(client_order_id, symbol)
            .await?
            .ok_or(ExchangeError::NotFound)
    }

    async fn fetch(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<OrderReply>(
                Method::GET,
                "/api/v3/order",
                &[
                    ("symbol", venue_symbol(symbol)),
                    ("origClientOrderId", client_order_id.to_string()),
                ],
            )
            .await;
        match result {
            Ok(reply) => self
                .with_fills(reply, symbol)
                .await
                .map(Some)
                .map_err(read_error),
            Err(Failure::Refused { code: -2013, .. }) => Ok(None),
            Err(failure) => Err(read_error(failure)),
        }
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<AccountReply>(
                Method::GET,
                "/api/v3/account",
                &[("omitZeroBalances", "true".into())],
            )
            .await;
        Ok(result
            .map_err(read_error)?
            .balances
            .into_iter()
            .map(|b| (b.asset, b.free, b.locked))
            .collect())
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        if let Some((_, rules)) = self
            .rules
            .lock()
            .ok()
            .and_then(|cache| cache.get(symbol).copied())
            .filter(|(at, _)| at.elapsed() < self.rules_ttl)
        {
            return Ok(rules);
        }
        let info: ExchangeInfoReply = self
            .rest
            .public("/api/v3/exchangeInfo", &[("symbol", venue_symbol(symbol))])
            .await
            .map_err(|f| order_error(f, symbol))?;
        if let Some(limit) = info
            .rate_limits
            .iter()
            .find(|l| l.rate_limit_type == "REQUEST_WEIGHT" && l.interval == "MINUTE")
        {
            self.rest
                .set_weight_limit(limit.limit / limit.interval_num.max(1));
        }
        let listed = info
            .symbols
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::UnknownSymbol(symbol.to_string()))?;
        if listed.status != "TRADING" {
            return Err(ExchangeError::Rejected(format!(
                "{symbol} is not trading on Binance (status {})",
                listed.status
            )));
        }
        let rules = listed.rules();
        if let Ok(mut cache) = self.rules.lock() {
            cache.insert(symbol.to_string(), (Instant::now(), rules));
        }
        Ok(rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let ticker: TickerReply = self
            .rest
            .public("/api/v3/ticker/price", &[("symbol", venue_symbol(symbol))])
            .await
            .map_err(|f| order_error(f, symbol))?;
        Ok(Some(ticker.price))
    }

    fn rate_limit(&self) -> Option<(u64, u64)> {
        Some(self.rest.weight())
    }

    fn acceptance_window(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.rest.recv_window_ms()).unwrap_or(0))
            + SETTLE_MARGIN
    }
}

/// `BTC/USDT` → `BTCUSDT`.
fn venue_symbol(symbol: &str) -> String {
    symbol.replace('/', "")
}

fn order_params(ticket: &OrderTicket) -> Vec<(&'static str, String)> {
    let decimal = |d: Decimal| d.normalize().to_string();
    let side = if ticket.side == Side::Sell {
        "SELL"
    } else {
        "BUY"
    };
    let kind = match ticket.order_type {
        OrderType::Limit => "LIMIT",
        OrderType::Stop => "STOP_LOSS",
        OrderType::StopLimit => "STOP_LOSS_LIMIT",
        _ => "MARKET",
    };
    let mut params = vec![
        ("symbol", venue_symbol(&ticket.symbol)),
        ("side", side.to_string()),
        ("type", kind.to_string()),
        ("quantity", decimal(ticket.quantity)),
        ("newClientOrderId", ticket.client_order_id.clone()),
        ("newOrderRespType", "FULL".to_string()),
    ];
    if matches!(ticket.order_type, OrderType::Limit | OrderType::StopLimit) {
        let tif = match ticket.time_in_force {
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            _ => "GTC",
        };
        params.push(("timeInForce", tif.to_string()));
    }
    if let Some(price) = ticket.price {
        params.push(("price", decimal(price)));
    }
    if let Some(stop) = ticket.stop_price {
        params.push(("stopPrice", decimal(stop)));
    }
    params
}

/// A failed read: nothing changed at Binance, so it is unavailable or
/// refused, never unknown.
fn read_error(failure: Failure) -> ExchangeError {
    match failure {
        Failure::NoAnswer(why) | Failure::NotSent(why) => ExchangeError::Unavailable(why),
        other => order_error(other, ""),
    }
}

/// Binance's refusals as domain errors.
fn order_error(failure: Failure, symbol: &str) -> ExchangeError {
    match failure {
        Failure::NotSent(why) => ExchangeError::Unavailable(why),
        Failure::NoAnswer(why) => ExchangeError::Unknown(why),
        Failure::RateLimited { retry_after } => ExchangeError::Unavailable(format!(
            "rate limited by Binance (429); retry after {}",
            humantime::format_duration(retry_after)
        )),
        Failure::Banned { retry_after } => ExchangeError::Banned(format!(
            "Binance banned this address (418) for {}",
            humantime::format_duration(retry_after)
        )),
        Failure::Refused { code: -1121, .. } => ExchangeError::UnknownSymbol(symbol.to_string()),
        Failure::Refused { code: -2013, .. } => ExchangeError::NotFound,
        Failure::Refused {
            code: code @ (-1022 | -2014 | -2015),
            message,
        } => ExchangeError::Rejected(format!(
            "Binance refused the API key or signature ({code}: {message}); check \
             exchanges.binance.api_key and api_secret"
        )),
        Failure::Refused {
            code: -1021,
            message,
        } => ExchangeError::Unavailable(format!(
            "our clock is too far from Binance's even after re-syncing (-1021: {message})"
        )),
        Failure::Refused {
            code: code @ (-1003 | -1015),
            message,
        } => ExchangeError::Unavailable(format!("Binance rate limit ({code}): {message}")),
        Failure::Refused { code, message } => {
            ExchangeError::Rejected(format!("{message} (Binance {code})"))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderReply {
    order_id: i64,
    status: String,
    executed_qty: Decimal,
    #[serde(default)]
    fills: Vec<FillReply>,
    #[serde(default)]
    transact_time: i64,
    #[serde(default)]
    update_time: i64,
}

impl OrderReply {
    fn view(&self) -> ExchangeOrder {
        let (status, reason) = match self.status.as_str() {
            "NEW" | "PENDING_NEW" | "PENDING_CANCEL" => (OrderStatus::Submitted, ""),
            "PARTIALLY_FILLED" => (OrderStatus::PartiallyFilled, ""),
            "FILLED" => (OrderStatus::Filled, ""),
            "CANCELED" => (OrderStatus::Canceled, ""),
            "EXPIRED" | "EXPIRED_IN_MATCH" => (OrderStatus::Canceled, "expired at Binance"),
            "REJECTED" => (OrderStatus::Rejected, "rejected by Binance"),
            _ => (
                OrderStatus::Unknown,
                "Binance reported an unfamiliar status",
            ),
        };
        let time_ms = self.transact_time.max(self.update_time);
        ExchangeOrder {
            exchange_order_id: self.order_id.to_string(),
            status,
            fills: self
                .fills
                .iter()
                .map(|f| ExchangeFill {
                    trade_id: f.trade_id.to_string(),
                    quantity: f.qty,
                    price: f.price,
                    fee: f.commission,
                    fee_asset: f.commission_asset.clone(),
                    time_ms,
                })
                .collect(),
            reason: reason.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillReply {
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    trade_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TradeReply {
    id: i64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    time: i64,
}

impl TradeReply {
    fn fill(self) -> ExchangeFill {
        ExchangeFill {
            trade_id: self.id.to_string(),
            quantity: self.qty,
            price: self.price,
            fee: self.commission,
            fee_asset: self.commission_asset,
            time_ms: self.time,
        }
    }
}

#[derive(Deserialize)]
struct AccountReply {
    balances: Vec<BalanceReply>,
}

#[derive(Deserialize)]
struct BalanceReply {
    asset: String,
    free: Decimal,
    locked: Decimal,
}

#[derive(Deserialize)]
struct TickerReply {
    price: Decimal,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfoReply {
    #[serde(default)]
    rate_limits: Vec<RateLimitReply>,
    symbols: Vec<SymbolReply>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitReply {
    rate_limit_type: String,
    interval: String,
    interval_num: u64,
    limit: u64,
}

#[derive(Deserialize)]
struct SymbolReply {
    status: String,
    filters: Vec<FilterReply>,
}

impl SymbolReply {
    fn rules(&self) -> InstrumentRules {
        let mut rules = InstrumentRules {
            tick_size: Decimal::ZERO,
            lot_size: Decimal::ZERO,
            min_quantity: Decimal::ZERO,
            min_notional: Decimal::ZERO,
        };
        for filter in &self.filters {
            match filter {
                FilterReply::PriceFilter { tick_size } => rules.tick_size = *tick_size,
                FilterReply::LotSize { step_size, min_qty } => {
                    rules.lot_size = *step_size;
                    rules.min_quantity = *min_qty;
                }
                FilterReply::Notional { min_notional }
                | FilterReply::MinNotional { min_notional } => {
                    rules.min_notional = *min_notional;
                }
                FilterReply::Other => {}
            }
        }
        rules
    }
}

#[derive(Deserialize)]
#[serde(tag = "filterType")]
enum FilterReply {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    PriceFilter { tick_size: Decimal },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        step_size: Decimal,
        min_qty: Decimal,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional { min_notional: Decimal },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional { min_notional: Decimal },
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str, mainnet: bool) -> BinanceConfig {
        BinanceConfig {
            enabled: true,
            base_url: base_url.into(),
            mainnet,
            api_key: "key".into(),
            api_secret: "secret".into(),
            ..Default::default()
        }
    }

    #[test]
    fn mainnet_needs_an_explicit_setting() {
        assert!(config("", false).validate().is_ok());
        assert_eq!(config("", false).effective_base_url(), TESTNET_URL);
        assert_eq!(config("", true).effective_base_url(), MAINNET_URL);
        assert!(config("http://127.0.0.1:9", false).validate().is_ok());
        let refused = config(MAINNET_URL, false).validate();
        assert!(
            matches!(refused, Err(("exchanges.binance.base_url", ref m)) if m.contains("mainnet = true"))
        );
        assert!(config(MAINNET_URL, true).validate().is_ok());
        assert!(
            config("http://example.com", true).validate().is_err(),
            "plain http off loopback"
        );
    }

    #[test]
    fn filters_become_rules() {
        let info: ExchangeInfoReply = serde_json::from_str(
            r#"{"rateLimits":[],"symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[
                {"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000","tickSize":"0.01"},
                {"filterType":"LOT_SIZE","minQty":"0.00001","maxQty":"9000","stepSize":"0.00001"},
                {"filterType":"ICEBERG_PARTS","limit":10},
                {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true}]}]}"#,
        )
        .expect("parses");
        let rules = info.symbols[0].rules();
        assert_eq!(rules.tick_size, Decimal::new(1, 2));
        assert_eq!(rules.lot_size, Decimal::new(1, 5));
        assert_eq!(rules.min_quantity, Decimal::new(1, 5));
        assert_eq!(rules.min_notional, Decimal::from(5));
    }

    #[test]
    fn a_stop_limit_ticket_carries_every_field() {
        let ticket = OrderTicket {
            client_order_id: "tp-1".into(),
            symbol: "BTC/USDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            side: Side::Sell,
            order_type: OrderType::StopLimit,
            time_in_force: TimeInForce::Ioc,
            quantity: Decimal::new(150, 3),
            price: Some(Decimal::from(49_000)),
            stop_price: Some(Decimal::from(49_500)),
            reference_price: None,
        };
        let params = order_params(&ticket);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("symbol"), Some("BTCUSDT"));
        assert_eq!(get("side"), Some("SELL"));
        assert_eq!(get("type"), Some("STOP_LOSS_LIMIT"));
        assert_eq!(get("timeInForce"), Some("IOC"));
        assert_eq!(get("quantity"), Some("0.15"));
        assert_eq!(get("stopPrice"), Some("49500"));
        assert_eq!(get("newClientOrderId"), Some("tp-1"));
    }
}

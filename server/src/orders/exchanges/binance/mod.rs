//! `binance`: Binance spot over its signed REST API.
//!
//! The rule it is built around: an order request whose outcome is unknown
//! (a timeout, a dropped connection, a 5xx, -1007) is never sent again
//! blindly. It is looked up by its client order id first; "no such order"
//! only counts once Binance can no longer accept the request (its
//! `timestamp` plus `recvWindow` has passed on Binance's clock). Only then
//! is it sent again, with the same client order id.

mod config;
pub(crate) mod credentials;
mod mapping;
mod oco;
mod placement;
mod replies;
mod rest;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use http::Method;
use rust_decimal::Decimal;

pub use self::config::{BinanceAccount, BinanceConfig, MAINNET_URL, TESTNET_URL};
use self::{
    mapping::{TRAILING_DELTA_BIPS, order_error, read_error, venue_symbol},
    placement::SETTLE_MARGIN,
    replies::{AccountReply, ExchangeInfoReply, OrderReply, TickerReply},
    rest::{Failure, Rest},
};
use super::{Exchange, ExchangeError, ExchangeOrder, InstrumentRules, OrderTicket};

/// The Binance spot connector.
pub struct BinanceExchange {
    account: String,
    rest: Rest,
    live: bool,
    max_retry_wait: Duration,
    rules_ttl: Duration,
    rules: Mutex<HashMap<String, (Instant, InstrumentRules)>>,
}

impl BinanceExchange {
    /// A connector for `account`, configured by `config` (one of
    /// [`BinanceConfig::accounts_in_force`]). Nothing is sent until the
    /// first call.
    pub fn new(account: &str, config: &BinanceConfig) -> Result<Self, String> {
        Ok(Self {
            account: account.to_string(),
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
}

#[async_trait]
impl Exchange for BinanceExchange {
    fn name(&self) -> &str {
        "binance"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn kind(&self) -> &'static str {
        "binance"
    }

    fn live(&self) -> bool {
        self.live
    }

    fn native_trailing(&self) -> Option<std::ops::RangeInclusive<u32>> {
        Some(TRAILING_DELTA_BIPS)
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        self.place_order(ticket).await
    }

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        self.place_order_list(stop, target).await
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

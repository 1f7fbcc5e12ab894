//! `binance` and `binance_usdm`: Binance spot and USDⓈ-M futures over
//! their signed REST APIs, one connector for both markets (see
//! [`Market`]).
//!
//! The rule it is built around: an order request whose outcome is unknown
//! (a timeout, a dropped connection, a 5xx, -1007) is never sent again
//! blindly. It is looked up by its client order id first; "no such order"
//! only counts once Binance can no longer accept the request (its
//! `timestamp` plus `recvWindow` has passed on Binance's clock). Only then
//! is it sent again, with the same client order id.

mod config;
pub(crate) mod credentials;
mod futures;
mod mapping;
mod market;
mod oco;
mod placement;
mod protective;
mod replies;
mod rest;

use std::{sync::atomic::AtomicBool, time::Duration};

use async_trait::async_trait;
use http::Method;
use rust_decimal::Decimal;

pub use self::{
    config::{BinanceAccount, BinanceConfig},
    market::Market,
};
use self::{
    mapping::{order_error, read_error, venue_symbol},
    replies::{AccountReply, ExchangeInfoReply, OrderReply, TickerReply},
    rest::{Failure, Rest},
};
use super::{
    Exchange, ExchangeError, ExchangeOrder, InstrumentRules, NativeTrailing, OrderTicket,
    PerpPosition, exactly_once::SETTLE_MARGIN, listings::Listings,
};
use crate::market::{instrument::InstrumentKind, margin::Leverage};

/// A Binance connector, for one account on one market.
pub struct BinanceExchange {
    market: Market,
    account: String,
    rest: Rest,
    live: bool,
    /// USDⓈ-M: hedge mode (`positionSide`) rather than one-way.
    hedge_mode: bool,
    /// USDⓈ-M: whether the account's position mode is set as configured.
    position_mode_set: AtomicBool,
    max_retry_wait: Duration,
    rules: Listings<InstrumentRules>,
}

impl BinanceExchange {
    /// A connector for `account` on `market`, configured by `config` (one
    /// of [`BinanceConfig::accounts_in_force`]). Nothing is sent until the
    /// first call.
    pub fn new(market: Market, account: &str, config: &BinanceConfig) -> Result<Self, String> {
        Ok(Self {
            market,
            account: account.to_string(),
            rest: Rest::new(
                (config.effective_base_url(market), market.paths().time),
                &config.api_key,
                &config.api_secret,
                config.recv_window,
                config.request_timeout,
            )?,
            live: config.mainnet,
            hedge_mode: config.hedge_mode,
            position_mode_set: AtomicBool::new(false),
            max_retry_wait: config.max_retry_wait,
            rules: Listings::new(config.rules_ttl),
        })
    }
}

#[async_trait]
impl Exchange for BinanceExchange {
    fn name(&self) -> &str {
        self.market.name()
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn kind(&self) -> &'static str {
        self.market.name()
    }

    fn live(&self) -> bool {
        self.live
    }

    /// Both markets trail natively: spot with `trailingDelta`, USDⓈ-M
    /// with `TRAILING_STOP_MARKET`'s `callbackRate`.
    fn native_trailing(&self) -> Option<NativeTrailing> {
        Some(self.market.native_trailing())
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        self.market.instrument_kinds()
    }

    /// USDⓈ-M sends a triggered take-profit as `TAKE_PROFIT_MARKET`.
    fn triggers_take_profits(&self) -> bool {
        self.market == Market::UsdM
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        if self.market == Market::UsdM {
            self.ensure_position_mode().await?;
        }
        self.place_order(ticket).await
    }

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        match self.market {
            Market::Spot => self.place_order_list(stop, target).await,
            Market::UsdM => self.place_legs(stop, target).await,
        }
    }

    async fn set_leverage(&self, symbol: &str, leverage: Leverage) -> Result<(), ExchangeError> {
        match self.market {
            Market::Spot => Err(ExchangeError::Rejected(format!(
                "unsupported_instrument: `binance` trades spot only, it has no leverage for {symbol}"
            ))),
            Market::UsdM => self.set_futures_leverage(symbol, leverage).await,
        }
    }

    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        match self.market {
            Market::Spot => Ok(Vec::new()),
            Market::UsdM => self.futures_positions().await,
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
                self.market.paths().order,
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
                self.market.paths().order,
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
        if self.market == Market::UsdM {
            return self.futures_balances().await;
        }
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
        if let Some(rules) = self.rules.fresh(symbol) {
            return Ok(rules);
        }
        let venue = venue_symbol(symbol);
        // Spot answers for the symbol asked; USDⓈ-M lists every contract.
        let query = match self.market {
            Market::Spot => vec![("symbol", venue.clone())],
            Market::UsdM => Vec::new(),
        };
        let info: ExchangeInfoReply = self
            .rest
            .public(self.market.paths().exchange_info, &query)
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
            .find(|listed| listed.symbol == venue)
            .ok_or_else(|| ExchangeError::UnknownSymbol(symbol.to_string()))?;
        if listed.status != "TRADING" {
            return Err(ExchangeError::Rejected(format!(
                "{symbol} is not trading on Binance (status {})",
                listed.status
            )));
        }
        let rules = listed.rules();
        self.rules.keep(symbol, rules);
        Ok(rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let ticker: TickerReply = self
            .rest
            .public(
                self.market.paths().ticker,
                &[("symbol", venue_symbol(symbol))],
            )
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

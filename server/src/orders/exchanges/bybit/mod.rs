//! `bybit`: Bybit's v5 API, spot and USDT perpetuals (category `linear`)
//! in one connector; the instrument kind picks the category.
//!
//! As with Binance, an order request whose outcome is unknown (a timeout,
//! a dropped connection, a 5xx, retCode 10000 or 10016) is never sent
//! again blindly: it is looked up by its `orderLinkId` first, and "no such
//! order" only counts once Bybit can no longer accept the request (its
//! timestamp plus the receive window has passed on Bybit's clock).
//!
//! On linear perpetuals an entry can carry its exits as the position's
//! TP/SL (see `position_exits`).

mod config;
mod mapping;
mod perps;
mod placement;
mod position_exits;
mod replies;
mod rest;

use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub use self::config::{BybitAccount, BybitConfig, DEMO_URL, LIVE_URL, TESTNET_URL};
use self::{
    mapping::{category, market_params, order_error, read_error, venue_symbol},
    replies::{InstrumentReply, Listed, TickerReply, WalletReply},
    rest::{Failure, Rest},
};
use super::{
    Attachment, Exchange, ExchangeError, ExchangeOrder, InstrumentRules, OrderTicket, PerpPosition,
    exactly_once::SETTLE_MARGIN, listings::Listings,
};
use crate::market::{instrument::InstrumentKind, margin::Leverage};

/// The Bybit connector of one account.
pub struct BybitExchange {
    account: String,
    rest: Rest,
    live: bool,
    /// Linear perpetuals in hedge mode (`positionIdx` 1 and 2).
    hedge_mode: bool,
    max_retry_wait: Duration,
    rules: Listings<InstrumentRules>,
}

impl BybitExchange {
    /// A connector for `account` (one of [`BybitConfig::accounts_in_force`])
    /// with the section's shared settings. Nothing is sent until the first
    /// call.
    pub fn new(
        account: &str,
        connection: &BybitAccount,
        config: &BybitConfig,
    ) -> Result<Self, String> {
        Ok(Self {
            account: account.to_string(),
            rest: Rest::new(
                connection.effective_base_url(),
                &connection.api_key,
                &connection.api_secret,
                config.recv_window,
                config.request_timeout,
            )?,
            live: connection.live,
            hedge_mode: config.hedge_mode,
            max_retry_wait: config.max_retry_wait,
            rules: Listings::new(config.rules_ttl),
        })
    }

    /// A signed POST whose only answer that matters is success; codes in
    /// `unchanged` (Bybit's "not modified") count as success too.
    async fn post_setting(
        &self,
        path: &str,
        body: &Value,
        unchanged: i64,
        symbol: &str,
    ) -> Result<(), ExchangeError> {
        let (_, result) = self.rest.post::<Value>(path, body).await;
        match result {
            Ok(_) => Ok(()),
            Err(Failure::Refused { code, .. }) if code == unchanged => Ok(()),
            Err(failure) => Err(order_error(failure, symbol)),
        }
    }
}

#[async_trait]
impl Exchange for BybitExchange {
    fn name(&self) -> &str {
        "bybit"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn kind(&self) -> &'static str {
        "bybit"
    }

    fn live(&self) -> bool {
        self.live
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        self.place_order(ticket).await
    }

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        match Attachment::entry(&stop.attachment) {
            Some(entry) => self.adopt_exits(entry, stop, target).await,
            None => self.place_pair(stop, target).await,
        }
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let body = json!({
            "category": category(symbol),
            "symbol": venue_symbol(symbol),
            "orderLinkId": client_order_id,
        });
        let (_, result) = self.rest.post::<Value>("/v5/order/cancel", &body).await;
        match result {
            // Not found: nothing open to cancel; the lookup tells why.
            Ok(_)
            | Err(Failure::Refused {
                code: 110001 | 170213,
                ..
            }) => {}
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
        self.lookup(client_order_id, symbol)
            .await
            .map_err(read_error)
    }

    async fn fetch_sent(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        match Attachment::entry(&ticket.attachment) {
            Some(entry) => self.fetch_exit(entry, ticket).await.map(Some),
            None => self.fetch(&ticket.client_order_id, &ticket.symbol).await,
        }
    }

    async fn cancel_sent(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        match Attachment::entry(&ticket.attachment) {
            Some(entry) => self.cancel_exit(entry, ticket).await,
            None => self.cancel(&ticket.client_order_id, &ticket.symbol).await,
        }
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let (_, result) = self
            .rest
            .get::<Listed<WalletReply>>(
                "/v5/account/wallet-balance",
                &[("accountType", "UNIFIED".into())],
            )
            .await;
        Ok(result
            .map_err(read_error)?
            .list
            .into_iter()
            .flat_map(|wallet| wallet.coin)
            .map(|c| (c.coin, c.wallet_balance - c.locked, c.locked))
            .collect())
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        if let Some(rules) = self.rules.fresh(symbol) {
            return Ok(rules);
        }
        let listed: Listed<InstrumentReply> = self
            .rest
            .public("/v5/market/instruments-info", &market_params(symbol))
            .await
            .map_err(|f| order_error(f, symbol))?;
        let unknown = || ExchangeError::UnknownSymbol(symbol.to_string());
        let instrument = listed.list.into_iter().next().ok_or_else(unknown)?;
        // The canonical pair must be the one Bybit lists under the name.
        let pair = symbol.trim_end_matches(":PERP");
        if format!("{}/{}", instrument.base_coin, instrument.quote_coin) != pair {
            return Err(unknown());
        }
        if instrument.status != "Trading" {
            return Err(ExchangeError::Rejected(format!(
                "{symbol} is not trading on Bybit (status {})",
                instrument.status
            )));
        }
        let rules = instrument.rules().map_err(ExchangeError::Unavailable)?;
        self.rules.keep(symbol, rules);
        Ok(rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let listed: Listed<TickerReply> = self
            .rest
            .public("/v5/market/tickers", &market_params(symbol))
            .await
            .map_err(|f| order_error(f, symbol))?;
        Ok(listed.list.into_iter().next().map(|t| t.last_price))
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        &[InstrumentKind::Spot, InstrumentKind::Perpetual]
    }

    /// Linear perpetuals: the exits become the position's TP/SL.
    fn attaches_exits(&self, kind: InstrumentKind) -> bool {
        kind == InstrumentKind::Perpetual
    }

    async fn set_leverage(&self, symbol: &str, leverage: Leverage) -> Result<(), ExchangeError> {
        self.apply_leverage(symbol, leverage).await
    }

    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        self.open_positions().await
    }

    fn rate_limit(&self) -> Option<(u64, u64)> {
        Some(self.rest.usage())
    }

    fn acceptance_window(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.rest.recv_window_ms()).unwrap_or(0))
            + SETTLE_MARGIN
    }
}

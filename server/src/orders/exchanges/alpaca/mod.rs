//! `alpaca`: US equities through Alpaca's trading API v2, paper trading
//! unless an account is `live`, with market data (latest trades) from
//! Alpaca's data API.
//!
//! As with every venue, an order request whose outcome is unknown (a
//! timeout, a dropped connection, a 5xx) is never sent again blindly: it
//! is looked up by its `client_order_id` first; Alpaca refuses a second
//! order under the same id, so a later send cannot place it twice.
//! Alpaca's market clock (`/v2/clock`) tells the desk when the market is
//! closed. An entry with exits goes as one bracket order whose legs
//! are adopted, never sent (see `bracket`).

mod bracket;
mod config;
mod mapping;
mod placement;
mod replies;
mod rest;

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rust_decimal::Decimal;

pub use self::config::{AlpacaAccount, AlpacaConfig, DATA_URL, LIVE_URL, PAPER_URL};
use self::{
    mapping::{NOT_FOUND, UNPROCESSABLE, order_error, read_error},
    replies::{AccountReply, AssetReply, ClockReply, LatestTradeReply, PositionReply},
    rest::{Api, Failure, Rest},
};
use super::{
    Attachment, Exchange, ExchangeError, ExchangeOrder, InstrumentRules, MarketHours, OrderTicket,
    exactly_once::SETTLE_MARGIN, listings::Listings,
};
use crate::market::instrument::InstrumentKind;

/// The Alpaca connector of one account.
pub struct AlpacaExchange {
    account: String,
    rest: Rest,
    live: bool,
    max_retry_wait: Duration,
    rules: Listings<InstrumentRules>,
    clock_ttl: Duration,
    /// The market clock last read, and when.
    clock: Mutex<Option<(Instant, MarketHours)>>,
}

impl AlpacaExchange {
    /// A connector for `account` (one of [`AlpacaConfig::accounts_in_force`])
    /// with the section's shared settings. Nothing is sent until the first
    /// call.
    pub fn new(
        account: &str,
        connection: &AlpacaAccount,
        config: &AlpacaConfig,
    ) -> Result<Self, String> {
        Ok(Self {
            account: account.to_string(),
            rest: Rest::new(
                (connection.trading_url(), connection.market_data_url()),
                (&connection.api_key, &connection.api_secret),
                config.request_timeout,
            )?,
            live: connection.live,
            max_retry_wait: config.max_retry_wait,
            rules: Listings::new(config.rules_ttl),
            clock_ttl: config.clock_ttl,
            clock: Mutex::new(None),
        })
    }
}

impl AlpacaExchange {
    /// Cancels the order `find` looks up by its Alpaca id, and answers
    /// how `find` then finds it. One no longer cancelable (422: filled or
    /// canceled, as a bracket leg whose sibling was canceled) or gone
    /// (404) is left to that lookup, which tells which.
    async fn cancel_found<F, Found>(&self, find: F) -> Result<ExchangeOrder, ExchangeError>
    where
        F: Fn() -> Found,
        Found: std::future::Future<Output = Result<Option<ExchangeOrder>, ExchangeError>>,
    {
        let order = find().await?.ok_or(ExchangeError::NotFound)?;
        let path = format!("/v2/orders/{}", order.exchange_order_id);
        match self.rest.delete(&path).await {
            Ok(())
            | Err(Failure::Refused {
                code: UNPROCESSABLE | NOT_FOUND,
                ..
            }) => {}
            Err(failure) => return Err(order_error(failure)),
        }
        find().await?.ok_or(ExchangeError::NotFound)
    }
}

#[async_trait]
impl Exchange for AlpacaExchange {
    fn name(&self) -> &str {
        "alpaca"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn kind(&self) -> &'static str {
        "alpaca"
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
            Some(entry) => self.adopt_bracket(entry).await,
            None => self.place_pair(stop, target).await,
        }
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        self.cancel_found(|| self.fetch(client_order_id, symbol))
            .await
    }

    async fn fetch_sent(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        match Attachment::entry(&ticket.attachment) {
            Some(entry) => self.fetch_leg(ticket, entry).await,
            None => self.fetch(&ticket.client_order_id, &ticket.symbol).await,
        }
    }

    async fn cancel_sent(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        match Attachment::entry(&ticket.attachment) {
            Some(entry) => self.cancel_found(|| self.fetch_leg(ticket, entry)).await,
            None => self.cancel(&ticket.client_order_id, &ticket.symbol).await,
        }
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

    /// USD buying power as free cash (what it falls short of the cash is
    /// held by open orders), and each position's shares, those held for
    /// open sell orders locked.
    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let account: AccountReply = self
            .rest
            .get(Api::Trading, "/v2/account", &[])
            .await
            .map_err(read_error)?;
        let positions: Vec<PositionReply> = self
            .rest
            .get(Api::Trading, "/v2/positions", &[])
            .await
            .map_err(read_error)?;
        let held = (account.cash - account.buying_power).max(Decimal::ZERO);
        let cash = ("USD".to_string(), account.buying_power, held);
        Ok(std::iter::once(cash)
            .chain(
                positions
                    .into_iter()
                    .map(|p| (p.symbol, p.qty_available, p.qty - p.qty_available)),
            )
            .collect())
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        if let Some(rules) = self.rules.fresh(symbol) {
            return Ok(rules);
        }
        let asset: AssetReply = match self
            .rest
            .get(Api::Trading, &format!("/v2/assets/{symbol}"), &[])
            .await
        {
            Ok(asset) => asset,
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => return Err(ExchangeError::UnknownSymbol(symbol.into())),
            Err(failure) => return Err(read_error(failure)),
        };
        if asset.symbol != symbol {
            return Err(ExchangeError::UnknownSymbol(symbol.into()));
        }
        if asset.status != "active" || !asset.tradable {
            return Err(ExchangeError::Rejected(format!(
                "{symbol} is not tradable at Alpaca (status {})",
                asset.status
            )));
        }
        let rules = asset.rules(self.last_price(symbol).await?);
        self.rules.keep(symbol, rules);
        Ok(rules)
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let path = format!("/v2/stocks/{symbol}/trades/latest");
        match self
            .rest
            .get::<LatestTradeReply>(Api::Data, &path, &[])
            .await
        {
            Ok(latest) => Ok(Some(latest.trade.price)),
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => Ok(None),
            Err(failure) => Err(read_error(failure)),
        }
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        &[InstrumentKind::Equity]
    }

    /// Stocks: an entry's stop and target go as one bracket order.
    fn attaches_exits(&self, kind: InstrumentKind) -> bool {
        kind == InstrumentKind::Equity
    }

    fn rate_limit(&self) -> Option<(u64, u64)> {
        Some(self.rest.usage())
    }

    fn acceptance_window(&self) -> Duration {
        SETTLE_MARGIN
    }

    /// Alpaca's clock of the US stock market, read again once it is
    /// older than `clock_ttl`.
    async fn market_hours(&self, _symbol: &str) -> Result<MarketHours, ExchangeError> {
        let cached = self.clock.lock().ok().and_then(|c| *c);
        if let Some((read_at, hours)) = cached
            && read_at.elapsed() < self.clock_ttl
        {
            return Ok(hours);
        }
        let clock: ClockReply = self
            .rest
            .get(Api::Trading, "/v2/clock", &[])
            .await
            .map_err(read_error)?;
        let hours = if clock.is_open {
            MarketHours::Open {
                next_close_ms: clock.next_close,
            }
        } else {
            MarketHours::Closed {
                next_open_ms: clock.next_open,
            }
        };
        if let Ok(mut cached) = self.clock.lock() {
            *cached = Some((Instant::now(), hours));
        }
        Ok(hours)
    }
}

//! `okx`: OKX spot (`BTC-USDT`) and USDT-margined perpetual swaps
//! (`BTC-USDT-SWAP`) over its signed v5 REST API, demo trading unless an
//! account is `live`.
//!
//! The rule it is built around, as for Binance: an order request whose
//! outcome is unknown (a timeout, a dropped connection, a 5xx, 50004 or
//! 50013) is never sent again blindly. It is looked up by its `clOrdId`
//! first; "no such order" only counts once OKX can no longer accept the
//! request (every signed request carries `expTime`, its timestamp plus
//! the receive window, on OKX's clock). Only then is it sent again, with
//! the same `clOrdId`.

mod algo;
mod attached;
mod config;
mod mapping;
mod oco;
mod placement;
mod replies;
mod rest;

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use http::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub use self::config::{BASE_URL, OkxAccount, OkxConfig};
use self::{
    mapping::{
        Instrument, KINDS, lookup_id, order_error, read_error, venue_client_id, venue_symbol,
    },
    replies::{
        AccountConfigReply, BalanceReply, InstrumentReply, OrderReply, PositionReply, TickerReply,
    },
    rest::{Credentials, Failure, Rest},
};
use super::{
    Attachment, Exchange, ExchangeError, ExchangeOrder, InstrumentRules, OrderTicket, PerpPosition,
    exactly_once::SETTLE_MARGIN, listings::Listings,
};
use crate::market::{
    instrument::InstrumentKind,
    margin::{Leverage, MarginMode},
};

/// The OKX connector.
pub struct OkxExchange {
    account: String,
    rest: Rest,
    live: bool,
    max_retry_wait: Duration,
    instruments: Listings<Instrument>,
    /// The margin mode last set per perpetual symbol (OKX takes it with
    /// every order as `tdMode`).
    margin_modes: Mutex<HashMap<String, MarginMode>>,
    /// Swaps trade in long/short position mode (`posSide`): configured,
    /// or read from the account before the first leverage is set.
    long_short_mode: AtomicBool,
}

impl OkxExchange {
    /// A connector for `account`, configured by `config` (one of
    /// [`OkxConfig::accounts_in_force`]). Nothing is sent until the first
    /// call.
    pub fn new(account: &str, config: &OkxConfig) -> Result<Self, String> {
        let credentials = Credentials {
            api_key: &config.api_key,
            api_secret: &config.api_secret,
            passphrase: &config.passphrase,
            live: config.live,
        };
        Ok(Self {
            account: account.to_string(),
            rest: Rest::new(
                config.effective_base_url(),
                &credentials,
                config.recv_window,
                config.request_timeout,
            )?,
            live: config.live,
            max_retry_wait: config.max_retry_wait,
            instruments: Listings::new(config.rules_ttl),
            margin_modes: Mutex::new(HashMap::new()),
            long_short_mode: AtomicBool::new(config.long_short_mode),
        })
    }

    /// The instrument behind a canonical symbol, from the cache while it
    /// is fresh.
    async fn instrument(&self, symbol: &str) -> Result<Instrument, ExchangeError> {
        if let Some(instrument) = self.instruments.fresh(symbol) {
            return Ok(instrument);
        }
        let (inst_type, inst_id) = venue_symbol(symbol)?;
        let listed: Vec<InstrumentReply> = self
            .rest
            .public(
                "/api/v5/public/instruments",
                &[("instType", inst_type.into()), ("instId", inst_id)],
            )
            .await
            .map_err(|f| order_error(f, symbol))?;
        let listed = listed
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::UnknownSymbol(symbol.to_string()))?;
        if listed.state != "live" {
            return Err(ExchangeError::Rejected(format!(
                "{symbol} is not trading on OKX (state {})",
                listed.state
            )));
        }
        let instrument =
            Instrument::from_reply(inst_type, listed).map_err(ExchangeError::Unavailable)?;
        self.instruments.keep(symbol, instrument.clone());
        Ok(instrument)
    }

    /// The group a leg is found and canceled through, with its
    /// instrument: a spot `oco` group, or the algo order OKX attached to
    /// an entry; `None` for any other order.
    async fn linked_group<'t>(
        &self,
        ticket: &'t OrderTicket,
    ) -> Result<Option<(&'t str, Instrument)>, ExchangeError> {
        let Some(group) = ticket.oco_group.as_deref() else {
            return Ok(None);
        };
        let instrument = self.instrument(&ticket.symbol).await?;
        let linked =
            instrument.inst_type != "SWAP" || Attachment::entry(&ticket.attachment).is_some();
        Ok(linked.then_some((group, instrument)))
    }

    /// `body` for `ticket`, in the account's position mode.
    fn positioned(&self, mut body: Value, ticket: &OrderTicket, instrument: &Instrument) -> Value {
        if self.long_short_mode.load(Ordering::Relaxed) {
            mapping::in_long_short_mode(&mut body, ticket, instrument);
        }
        body
    }

    /// Whether the account trades swaps in long/short mode: as configured,
    /// else as `GET /api/v5/account/config` says (`posMode`), kept for
    /// every later order.
    async fn read_position_mode(&self, symbol: &str) -> Result<bool, ExchangeError> {
        if self.long_short_mode.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let (_, result) = self
            .rest
            .signed::<AccountConfigReply>(Method::GET, "/api/v5/account/config", &[], None)
            .await;
        let config = result
            .map_err(|f| order_error(f, symbol))?
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::Unavailable("OKX sent no account config".into()))?;
        let long_short = match config.pos_mode.as_str() {
            "long_short_mode" => true,
            "net_mode" => false,
            other => {
                return Err(ExchangeError::Unavailable(format!(
                    "OKX reported the unfamiliar posMode `{other}`"
                )));
            }
        };
        self.long_short_mode.store(long_short, Ordering::Relaxed);
        Ok(long_short)
    }

    /// The margin mode set for `symbol`, if any.
    fn margin_mode(&self, symbol: &str) -> Option<MarginMode> {
        self.margin_modes.lock().ok()?.get(symbol).copied()
    }

    /// Looks a plain order up; `None` when OKX has none under the id.
    async fn fetch_order(
        &self,
        client_order_id: &str,
        instrument: &Instrument,
    ) -> Result<Option<ExchangeOrder>, Failure> {
        let params = [
            ("instId", instrument.inst_id.clone()),
            ("clOrdId", lookup_id(client_order_id)?),
        ];
        match self
            .lookup::<OrderReply>("/api/v5/trade/order", &params)
            .await?
        {
            Some(order) => self.with_fills(order, instrument).await.map(Some),
            None => Ok(None),
        }
    }

    /// The first item a signed GET answers; `None` when OKX has none
    /// (51603).
    async fn lookup<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Option<T>, Failure> {
        let (_, result) = self.rest.signed::<T>(Method::GET, path, params, None).await;
        match result {
            Ok(items) => Ok(items.into_iter().next()),
            Err(Failure::Refused { code: 51603, .. }) => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    /// Brings an order up to a full view, with its fills.
    async fn with_fills(
        &self,
        order: OrderReply,
        instrument: &Instrument,
    ) -> Result<ExchangeOrder, Failure> {
        let mut fills = Vec::new();
        if order.has_fills() {
            let (_, replies) = self
                .rest
                .signed::<replies::FillReply>(
                    Method::GET,
                    "/api/v5/trade/fills",
                    &[
                        ("instType", instrument.inst_type.into()),
                        ("instId", instrument.inst_id.clone()),
                        ("ordId", order.ord_id.clone()),
                    ],
                    None,
                )
                .await;
            for reply in replies? {
                fills.push(reply.fill(instrument).map_err(Failure::NoAnswer)?);
            }
        }
        order.view(fills).map_err(Failure::NoAnswer)
    }
}

#[async_trait]
impl Exchange for OkxExchange {
    fn name(&self) -> &str {
        "okx"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn kind(&self) -> &'static str {
        "okx"
    }

    fn live(&self) -> bool {
        self.live
    }

    fn instrument_kinds(&self) -> &'static [InstrumentKind] {
        KINDS
    }

    /// Spot and swap entries carry their TP/SL as `attachAlgoOrds`.
    fn attaches_exits(&self, kind: InstrumentKind) -> bool {
        KINDS.contains(&kind)
    }

    async fn place(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        let instrument = self.instrument(&ticket.symbol).await?;
        let mut body = mapping::order_body(ticket, &instrument, self.margin_mode(&ticket.symbol))?;
        if let Some(exits) = Attachment::exits(&ticket.attachment) {
            body["attachAlgoOrds"] = attached::attach_algo_orders(exits)?;
        }
        let body = self.positioned(body, ticket, &instrument);
        self.place_with_lookup(ticket, "/api/v5/trade/order", &body)
            .await
    }

    async fn place_oco(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        match Attachment::entry(&stop.attachment) {
            Some(entry) => self.adopt_attached(stop, target, entry).await,
            None => self.place_bracket(stop, target).await,
        }
    }

    async fn cancel(
        &self,
        client_order_id: &str,
        symbol: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let instrument = self.instrument(symbol).await?;
        let body = json!({
            "instId": instrument.inst_id,
            "clOrdId": venue_client_id(client_order_id)?,
        });
        let (_, result) = self
            .rest
            .signed::<serde_json::Value>(
                Method::POST,
                "/api/v5/trade/cancel-order",
                &[],
                Some(&body),
            )
            .await;
        match result {
            Ok(_) => {}
            // Not a plain order: a protective leg is an algo order.
            Err(Failure::Refused { code: 51603, .. }) if instrument.inst_type == "SWAP" => {
                self.cancel_algo(client_order_id, &instrument).await?;
            }
            // 51400-51402: nothing open to cancel; the lookup tells why.
            Err(Failure::Refused {
                code: 51400..=51402,
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
        let instrument = self.instrument(symbol).await?;
        match self
            .fetch_order(client_order_id, &instrument)
            .await
            .map_err(read_error)?
        {
            Some(order) => Ok(Some(order)),
            // A swap's stop leg, or a spot `oco` group, is an algo order.
            None => self
                .fetch_algo(client_order_id, &instrument)
                .await
                .map_err(read_error),
        }
    }

    async fn fetch_sent(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        match self.linked_group(ticket).await? {
            Some((group, instrument)) => self.fetch_oco_leg(ticket, group, &instrument).await,
            None => self.fetch(&ticket.client_order_id, &ticket.symbol).await,
        }
    }

    async fn cancel_sent(&self, ticket: &OrderTicket) -> Result<ExchangeOrder, ExchangeError> {
        match self.linked_group(ticket).await? {
            Some((group, instrument)) => self.cancel_oco_leg(ticket, group, &instrument).await,
            None => self.cancel(&ticket.client_order_id, &ticket.symbol).await,
        }
    }

    async fn balances(&self) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<BalanceReply>(Method::GET, "/api/v5/account/balance", &[], None)
            .await;
        Ok(result
            .map_err(read_error)?
            .into_iter()
            .flat_map(|account| account.details)
            .map(|d| (d.ccy, d.avail_bal, d.frozen_bal))
            .collect())
    }

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        Ok(self.instrument(symbol).await?.rules())
    }

    async fn last_price(&self, symbol: &str) -> Result<Option<Decimal>, ExchangeError> {
        let (_, inst_id) = venue_symbol(symbol)?;
        let ticker: Vec<TickerReply> = self
            .rest
            .public("/api/v5/market/ticker", &[("instId", inst_id)])
            .await
            .map_err(|f| order_error(f, symbol))?;
        Ok(ticker.into_iter().next().map(|t| t.last))
    }

    async fn set_leverage(&self, symbol: &str, leverage: Leverage) -> Result<(), ExchangeError> {
        let instrument = self.instrument(symbol).await?;
        if instrument.inst_type != "SWAP" {
            return Err(ExchangeError::Rejected(format!(
                "unsupported_instrument: {symbol} is spot, it has no leverage"
            )));
        }
        // In long/short mode an isolated leverage is set per side.
        let long_short = self.read_position_mode(symbol).await?;
        let sides: &[&str] = match (long_short, leverage.mode) {
            (true, MarginMode::Isolated) => &["long", "short"],
            _ => &[""],
        };
        for side in sides {
            let mut body = json!({
                "instId": instrument.inst_id,
                "lever": leverage.leverage.to_string(),
                "mgnMode": leverage.mode.word(),
            });
            if !side.is_empty() {
                body["posSide"] = json!(side);
            }
            let (_, result) = self
                .rest
                .signed::<Value>(
                    Method::POST,
                    "/api/v5/account/set-leverage",
                    &[],
                    Some(&body),
                )
                .await;
            result.map_err(|f| order_error(f, symbol))?;
        }
        if let Ok(mut modes) = self.margin_modes.lock() {
            modes.insert(symbol.to_string(), leverage.mode);
        }
        Ok(())
    }

    async fn positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<PositionReply>(
                Method::GET,
                "/api/v5/account/positions",
                &[("instType", "SWAP".into())],
                None,
            )
            .await;
        let mut positions = Vec::new();
        for reply in result.map_err(read_error)? {
            let symbol = canonical_swap(&reply.inst_id)?;
            let instrument = self.instrument(&symbol).await?;
            let position = reply
                .view(&symbol, &instrument)
                .map_err(ExchangeError::Unavailable)?;
            if !position.quantity.is_zero() {
                positions.push(position);
            }
        }
        Ok(positions)
    }

    fn rate_limit(&self) -> Option<(u64, u64)> {
        Some(self.rest.usage())
    }

    fn acceptance_window(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.rest.recv_window_ms()).unwrap_or(0))
            + SETTLE_MARGIN
    }
}

/// `BTC-USDT-SWAP` → `BTC/USDT:PERP`.
fn canonical_swap(inst_id: &str) -> Result<String, ExchangeError> {
    inst_id
        .strip_suffix("-SWAP")
        .and_then(|pair| pair.split_once('-'))
        .map(|(base, quote)| format!("{base}/{quote}:PERP"))
        .ok_or_else(|| ExchangeError::UnknownSymbol(inst_id.to_string()))
}

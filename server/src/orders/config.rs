//! Exchange connector settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::orders::exchanges::binance::{BinanceConfig, Market};

/// Exchange connectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangesConfig {
    /// How old an order the process stored but never sent (it stopped
    /// first, or the exchange never got it) may be and still be sent;
    /// older ones fail.
    #[serde(with = "humantime_serde")]
    pub resend_within: Duration,
    /// How often the replica on duty brings open orders up to date with
    /// their venues (and sends what was stored but never sent).
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// The embedded paper exchange.
    pub paper: crate::orders::exchanges::paper::PaperConfig,
    /// Binance spot (off unless `enabled`).
    pub binance: BinanceConfig,
    /// Binance USDⓈ-M futures (off unless `enabled`).
    pub binance_usdm: BinanceConfig,
    /// OKX spot and perpetual swaps (off unless `enabled`).
    pub okx: crate::orders::exchanges::okx::OkxConfig,
    /// Bybit spot and USDT perpetuals (off unless `enabled`).
    pub bybit: crate::orders::exchanges::bybit::BybitConfig,
    /// Alpaca US equities (off unless `enabled`).
    pub alpaca: crate::orders::exchanges::alpaca::AlpacaConfig,
    /// Every exchange's circuit breaker.
    pub breaker: crate::controls::breakers::BreakerConfig,
}

impl Default for ExchangesConfig {
    fn default() -> Self {
        Self {
            resend_within: Duration::from_secs(120),
            sync_interval: Duration::from_secs(5),
            paper: Default::default(),
            binance: Default::default(),
            binance_usdm: Default::default(),
            okx: Default::default(),
            bybit: Default::default(),
            alpaca: Default::default(),
            breaker: Default::default(),
        }
    }
}

impl ExchangesConfig {
    /// The Binance sections, each with its market.
    pub fn binance_markets(&self) -> [(Market, &BinanceConfig); 2] {
        [
            (Market::Spot, &self.binance),
            (Market::UsdM, &self.binance_usdm),
        ]
    }

    /// Reads every account's `credentials_file`.
    pub fn load_credentials(&mut self) -> Result<(), (String, String)> {
        self.binance.load_credentials(Market::Spot)?;
        self.binance_usdm.load_credentials(Market::UsdM)?;
        self.okx.load_credentials()?;
        self.bybit.load_credentials()?;
        self.alpaca.load_credentials()
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.sync_interval.is_zero() {
            return Err(("exchanges.sync_interval".into(), "must be positive".into()));
        }
        for (market, section) in self.binance_markets() {
            section.validate(market)?;
        }
        self.okx.validate()?;
        self.bybit.validate()?;
        self.alpaca.validate()
    }
}

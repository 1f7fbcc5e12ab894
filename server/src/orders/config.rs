//! Exchange connector settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Exchange connectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangesConfig {
    /// How old an order the process stored but never sent (it stopped
    /// first, or the exchange never got it) may be and still be sent;
    /// older ones fail.
    #[serde(with = "humantime_serde")]
    pub resend_within: Duration,
    /// The embedded paper exchange.
    pub paper: crate::orders::exchanges::paper::PaperConfig,
    /// Binance spot (off unless `enabled`).
    pub binance: crate::orders::exchanges::binance::BinanceConfig,
    /// Bybit spot and USDT perpetuals (off unless `enabled`).
    pub bybit: crate::orders::exchanges::bybit::BybitConfig,
    /// Every exchange's circuit breaker.
    pub breaker: crate::controls::breakers::BreakerConfig,
}

impl Default for ExchangesConfig {
    fn default() -> Self {
        Self {
            resend_within: Duration::from_secs(120),
            paper: Default::default(),
            binance: Default::default(),
            bybit: Default::default(),
            breaker: Default::default(),
        }
    }
}

//! Exchange connector settings.

use serde::{Deserialize, Serialize};

/// Exchange connectors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangesConfig {
    /// The embedded paper exchange.
    pub paper: crate::orders::exchanges::paper::PaperConfig,
    /// Binance spot (off unless `enabled`).
    pub binance: crate::orders::exchanges::binance::BinanceConfig,
    /// Every exchange's circuit breaker.
    pub breaker: crate::controls::breakers::BreakerConfig,
}

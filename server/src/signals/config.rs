//! Signal validation and dedupe settings.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

/// Signal validation and dedupe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Oldest acceptable event time, relative to receipt.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How far in the future an event time may be (clock skew).
    #[serde(with = "humantime_serde")]
    pub max_future_skew: Duration,
    /// Signals with a lower confidence are rejected (`low_confidence`).
    pub min_confidence: rust_decimal::Decimal,
    /// Largest acceptable quantity.
    pub max_quantity: rust_decimal::Decimal,
    /// Largest move from the last accepted price of the same instrument, in
    /// percent; 0 disables the check.
    pub max_price_deviation_pct: rust_decimal::Decimal,
    /// Extra symbol spellings: raw symbol → canonical (`"NQ1!" = "CME:NQ/USD"`).
    pub symbol_map: BTreeMap<String, String>,
    /// Sources that get their own metric label; others count as `other`.
    pub metric_sources: Vec<String>,
    /// How long an idempotency key (request id or event time based) is
    /// remembered.
    #[serde(with = "humantime_serde")]
    pub dedupe_retention: Duration,
    /// How long a content hash without event time is remembered (so that a
    /// retried delivery is caught but a repeated signal is not).
    #[serde(with = "humantime_serde")]
    pub content_dedupe_window: Duration,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_future_skew: Duration::from_secs(60),
            min_confidence: rust_decimal::Decimal::ZERO,
            max_quantity: rust_decimal::Decimal::from(1_000_000_000u64),
            max_price_deviation_pct: rust_decimal::Decimal::from(20u32),
            symbol_map: BTreeMap::new(),
            metric_sources: vec!["tradingview".into(), "grpc".into()],
            dedupe_retention: Duration::from_secs(24 * 3600),
            content_dedupe_window: Duration::from_secs(60),
        }
    }
}

//! The Binance connector's settings and their checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The Binance spot testnet, the default.
pub const TESTNET_URL: &str = "https://testnet.binance.vision";
/// Binance spot, where orders move real money.
pub const MAINNET_URL: &str = "https://api.binance.com";
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
}

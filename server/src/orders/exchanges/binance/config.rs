//! The Binance connector's settings and their checks, one section per
//! market: `[exchanges.binance]` (spot) and `[exchanges.binance_usdm]`
//! (USDⓈ-M futures). A section is the account `default`; each
//! `[exchanges.<section>.accounts.<name>]` adds an account with its own
//! credentials and `live` flag, and the section's other settings.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{credentials, market::Market};
use crate::{
    market::account::DEFAULT_ACCOUNT,
    orders::exchanges::sections::{self, check_account_names, check_base_url, check_timing},
};

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
    /// A TOML file with `api_key` and `api_secret` (mode 0600), read at
    /// start instead of the two keys.
    pub credentials_file: String,
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
    /// How long instrument rules from `exchangeInfo` are reused.
    #[serde(with = "humantime_serde")]
    pub rules_ttl: Duration,
    /// USDⓈ-M only: trade in hedge mode, a long and a short position per
    /// symbol (`positionSide`); off, one-way mode. Refused for spot.
    pub hedge_mode: bool,
    /// More accounts, by name.
    pub accounts: BTreeMap<String, BinanceAccount>,
}

/// A named Binance account: its own credentials and `live` flag; the
/// other settings come from `[exchanges.binance]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinanceAccount {
    /// API key (`TRADEPLANE_EXCHANGES__BINANCE__ACCOUNTS__<NAME>__API_KEY`).
    pub api_key: String,
    /// API secret (`TRADEPLANE_EXCHANGES__BINANCE__ACCOUNTS__<NAME>__API_SECRET`).
    pub api_secret: String,
    /// As [`BinanceConfig::credentials_file`].
    pub credentials_file: String,
    /// Must be set to trade real money with this account; without it the
    /// account uses the testnet.
    pub live: bool,
    /// REST base URL; empty: the section's `base_url`, else the testnet
    /// (or Binance itself with `live = true`).
    pub base_url: String,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: String::new(),
            mainnet: false,
            api_key: String::new(),
            api_secret: String::new(),
            credentials_file: String::new(),
            recv_window: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(5),
            rules_ttl: Duration::from_secs(3600),
            hedge_mode: false,
            accounts: BTreeMap::new(),
        }
    }
}

impl BinanceConfig {
    /// The base URL in force on `market`.
    pub fn effective_base_url(&self, market: Market) -> &str {
        match (self.base_url.is_empty(), self.mainnet) {
            (false, _) => &self.base_url,
            (true, false) => market.testnet_url(),
            (true, true) => market.mainnet_url(),
        }
    }

    /// Every account to connect, by name, each with the whole settings of
    /// its connection: `default` when `enabled`, then the named ones.
    pub fn accounts_in_force(&self) -> Vec<(String, BinanceConfig)> {
        let base = BinanceConfig {
            credentials_file: String::new(),
            accounts: BTreeMap::new(),
            ..self.clone()
        };
        let named = self.accounts.iter().map(|(name, account)| {
            let base_url = if account.base_url.is_empty() {
                base.base_url.clone()
            } else {
                account.base_url.clone()
            };
            let connection = BinanceConfig {
                enabled: true,
                base_url,
                mainnet: account.live,
                api_key: account.api_key.clone(),
                api_secret: account.api_secret.clone(),
                ..base.clone()
            };
            (name.clone(), connection)
        });
        self.enabled
            .then(|| (DEFAULT_ACCOUNT.to_string(), base.clone()))
            .into_iter()
            .chain(named)
            .collect()
    }

    /// Reads every `credentials_file` into its account's key and secret.
    pub fn load_credentials(&mut self, market: Market) -> Result<(), (String, String)> {
        let section = section_key(market, DEFAULT_ACCOUNT);
        if let Some((key, secret)) = credentials::load(
            &section,
            &self.credentials_file,
            (&self.api_key, &self.api_secret),
        )? {
            (self.api_key, self.api_secret) = (key, secret);
        }
        for (name, account) in &mut self.accounts {
            if let Some((key, secret)) = credentials::load(
                &section_key(market, name),
                &account.credentials_file,
                (&account.api_key, &account.api_secret),
            )? {
                (account.api_key, account.api_secret) = (key, secret);
            }
        }
        Ok(())
    }

    /// A copy with every key and secret passed through `hide`.
    pub fn redacted(&self, hide: impl Fn(&str) -> String) -> Self {
        let mut copy = self.clone();
        copy.api_key = hide(&self.api_key);
        copy.api_secret = hide(&self.api_secret);
        for account in copy.accounts.values_mut() {
            account.api_key = hide(&account.api_key);
            account.api_secret = hide(&account.api_secret);
        }
        copy
    }

    /// Checks the settings of `market`'s section; the error names the
    /// key.
    pub fn validate(&self, market: Market) -> Result<(), (String, String)> {
        let section = market.name();
        if self.hedge_mode && market == Market::Spot {
            return Err((
                format!("exchanges.{section}.hedge_mode"),
                "spot has no positions to hedge; it is for [exchanges.binance_usdm]".into(),
            ));
        }
        check_account_names(section, self.accounts.keys())?;
        let connections = self.accounts_in_force();
        if connections.is_empty() {
            return Ok(());
        }
        check_timing(
            section,
            (self.recv_window, Duration::from_secs(60)),
            self.request_timeout,
        )?;
        for (name, connection) in &connections {
            connection.validate_connection(market, name)?;
        }
        Ok(())
    }

    /// The checks of one account's connection: credentials, and a base
    /// URL that moves real money only with the account's live flag.
    fn validate_connection(&self, market: Market, account: &str) -> Result<(), (String, String)> {
        let section = section_key(market, account);
        let live_key = if account == DEFAULT_ACCOUNT {
            "mainnet"
        } else {
            "live"
        };
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            let env = match (market, account) {
                (Market::Spot, DEFAULT_ACCOUNT) => {
                    "TRADEPLANE_BINANCE_API_KEY and TRADEPLANE_BINANCE_API_SECRET".to_string()
                }
                _ => {
                    let prefix =
                        format!("TRADEPLANE_{}", section.replace('.', "__")).to_uppercase();
                    format!("{prefix}__API_KEY and {prefix}__API_SECRET")
                }
            };
            return Err((
                format!("{section}.api_key"),
                format!("set api_key and api_secret, or credentials_file, or {env}"),
            ));
        }
        let testnet = market.testnet_url().trim_start_matches("https://");
        check_base_url(
            &section,
            self.effective_base_url(market),
            (self.mainnet, live_key),
            (&[testnet], "the testnet"),
        )
    }
}

/// The configuration section of `account` on `market`.
fn section_key(market: Market, account: &str) -> String {
    sections::section_key(market.name(), account)
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

    fn account(api_key: &str, api_secret: &str) -> BinanceAccount {
        BinanceAccount {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            ..Default::default()
        }
    }

    #[test]
    fn mainnet_needs_an_explicit_setting() {
        assert!(config("", false).validate(Market::Spot).is_ok());
        assert_eq!(
            config("", false).effective_base_url(Market::Spot),
            Market::Spot.testnet_url()
        );
        assert_eq!(
            config("", true).effective_base_url(Market::Spot),
            Market::Spot.mainnet_url()
        );
        assert!(
            config("http://127.0.0.1:9", false)
                .validate(Market::Spot)
                .is_ok()
        );
        let refused = config(Market::Spot.mainnet_url(), false).validate(Market::Spot);
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.binance.base_url" && m.contains("mainnet = true"))
        );
        assert!(
            config(Market::Spot.mainnet_url(), true)
                .validate(Market::Spot)
                .is_ok()
        );
        assert!(
            config("http://example.com", true)
                .validate(Market::Spot)
                .is_err(),
            "plain http off loopback"
        );
    }

    #[test]
    fn futures_has_its_own_testnet_and_alone_may_hedge() {
        let futures = config("", false);
        assert_eq!(
            futures.effective_base_url(Market::UsdM),
            "https://testnet.binancefuture.com"
        );
        assert!(futures.validate(Market::UsdM).is_ok());
        let refused = config(Market::UsdM.mainnet_url(), false).validate(Market::UsdM);
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.binance_usdm.base_url" && m.contains("binance_usdm.mainnet = true")),
            "{refused:?}"
        );
        let hedged = BinanceConfig {
            hedge_mode: true,
            ..config("", false)
        };
        assert!(hedged.validate(Market::UsdM).is_ok());
        assert!(
            matches!(hedged.validate(Market::Spot), Err((ref key, _)) if key == "exchanges.binance.hedge_mode")
        );
        let keyless = BinanceConfig {
            api_key: String::new(),
            ..config("", false)
        };
        assert!(
            matches!(keyless.validate(Market::UsdM), Err((_, ref m)) if m.contains("TRADEPLANE_EXCHANGES__BINANCE_USDM__API_KEY"))
        );
    }

    #[test]
    fn named_accounts_inherit_the_section_and_go_live_only_when_told() {
        let mut base = config("", true);
        base.accounts.insert("copy_a".into(), account("ka", "sa"));
        let accounts = base.accounts_in_force();
        let names: Vec<_> = accounts.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["default", "copy_a"]);
        let copy_a = &accounts[1].1;
        assert_eq!(
            copy_a.effective_base_url(Market::Spot),
            Market::Spot.testnet_url(),
            "testnet unless live"
        );
        assert_eq!(copy_a.api_key, "ka");
        assert_eq!(copy_a.recv_window, base.recv_window);

        base.base_url = Market::Spot.mainnet_url().into();
        let refused = base.validate(Market::Spot);
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.binance.accounts.copy_a.base_url" && m.contains("accounts.copy_a.live = true")),
            "{refused:?}"
        );
        if let Some(account) = base.accounts.get_mut("copy_a") {
            account.live = true;
        }
        assert!(base.validate(Market::Spot).is_ok());

        base.accounts
            .insert("Bad-Name".into(), BinanceAccount::default());
        assert!(
            matches!(base.validate(Market::Spot), Err((ref key, _)) if key == "exchanges.binance.accounts.Bad-Name")
        );
        base.accounts.clear();
        base.accounts
            .insert("nokey".into(), BinanceAccount::default());
        let refused = base.validate(Market::Spot);
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.binance.accounts.nokey.api_key" && m.contains("ACCOUNTS__NOKEY__API_KEY")),
            "{refused:?}"
        );
    }

    #[test]
    fn every_accounts_credentials_are_redacted() {
        let mut base = config("", false);
        base.accounts.insert("copy_a".into(), account("ka", "sa"));
        let shown = format!("{:?}", base.redacted(|_| "<redacted>".into()));
        for secret in ["\"key\"", "\"secret\"", "\"ka\"", "\"sa\""] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

//! The Alpaca connector's settings and their checks. The section
//! `[exchanges.alpaca]` is the account `default`; each
//! `[exchanges.alpaca.accounts.<name>]` adds an account with its own key
//! pair, `live` flag and base URLs, and the section's other settings.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    market::account::DEFAULT_ACCOUNT,
    orders::exchanges::binance::credentials,
    orders::exchanges::sections::{self, Refusal, check_account_names, check_base_url},
};

/// Alpaca's paper trading API, the default.
pub const PAPER_URL: &str = "https://paper-api.alpaca.markets";
/// Alpaca's live trading API, where orders move real money.
pub const LIVE_URL: &str = "https://api.alpaca.markets";
/// Alpaca's market data API (the same for paper and live accounts).
pub const DATA_URL: &str = "https://data.alpaca.markets";
/// Hosts that never move real money (market data moves none either).
const PRACTICE_HOSTS: [&str; 2] = ["paper-api.alpaca.markets", "data.alpaca.markets"];

/// One account's connection: what differs between accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlpacaAccount {
    /// API key id (`TRADEPLANE_EXCHANGES__ALPACA__API_KEY`, or
    /// `TRADEPLANE_EXCHANGES__ALPACA__ACCOUNTS__<NAME>__API_KEY`).
    pub api_key: String,
    /// API secret key (`..._API_SECRET`).
    pub api_secret: String,
    /// A TOML file with `api_key` and `api_secret` (mode 0600), read at
    /// start instead of the two keys.
    pub credentials_file: String,
    /// Must be set to trade real money: a trading URL other than paper
    /// trading or a loopback address is refused without it.
    pub live: bool,
    /// Trading API base URL; empty: the section's, else paper trading (or
    /// live trading with `live = true`).
    pub base_url: String,
    /// Market data base URL; empty: the section's, else [`DATA_URL`].
    pub data_url: String,
}

/// Alpaca connector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlpacaConfig {
    /// Connects the `alpaca` exchange with the account `default`.
    pub enabled: bool,
    /// API key id of the account `default`
    /// (`TRADEPLANE_EXCHANGES__ALPACA__API_KEY`).
    pub api_key: String,
    /// API secret key of the account `default`
    /// (`TRADEPLANE_EXCHANGES__ALPACA__API_SECRET`).
    pub api_secret: String,
    /// As [`AlpacaAccount::credentials_file`], for the account `default`.
    pub credentials_file: String,
    /// As [`AlpacaAccount::live`], for the account `default`.
    pub live: bool,
    /// Trading API base URL of the account `default`, and of named
    /// accounts that set none.
    pub base_url: String,
    /// Market data base URL of the account `default`, and of named
    /// accounts that set none.
    pub data_url: String,
    /// Longest wait for one HTTP answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest rate-limit wait a placement sits out before trying again.
    #[serde(with = "humantime_serde")]
    pub max_retry_wait: Duration,
    /// How long an asset's rules are reused.
    #[serde(with = "humantime_serde")]
    pub rules_ttl: Duration,
    /// How long Alpaca's market clock (open or closed) is reused.
    #[serde(with = "humantime_serde")]
    pub clock_ttl: Duration,
    /// More accounts, by name.
    pub accounts: BTreeMap<String, AlpacaAccount>,
}

impl Default for AlpacaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            api_key: String::new(),
            api_secret: String::new(),
            credentials_file: String::new(),
            live: false,
            base_url: String::new(),
            data_url: String::new(),
            request_timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(5),
            rules_ttl: Duration::from_secs(3600),
            clock_ttl: Duration::from_secs(15),
            accounts: BTreeMap::new(),
        }
    }
}

impl AlpacaAccount {
    /// The trading URL in force.
    pub fn trading_url(&self) -> &str {
        match (self.base_url.as_str(), self.live) {
            ("", true) => LIVE_URL,
            ("", false) => PAPER_URL,
            (url, _) => url,
        }
    }

    /// The market data URL in force.
    pub fn market_data_url(&self) -> &str {
        if self.data_url.is_empty() {
            DATA_URL
        } else {
            &self.data_url
        }
    }

    /// Checks the key pair and that the URLs move real money only with
    /// `live`; errors name the key under `section`.
    fn check(&self, section: &str) -> Result<(), Refusal> {
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            let env = format!(
                "TRADEPLANE_{}__API_KEY and ..._API_SECRET",
                section.to_uppercase().replace('.', "__")
            );
            return Err((
                format!("{section}.api_key"),
                format!("set api_key and api_secret, or credentials_file, or {env}"),
            ));
        }
        let practice = (PRACTICE_HOSTS.as_slice(), "Alpaca's paper trading");
        check_base_url(section, self.trading_url(), (self.live, "live"), practice)?;
        check_base_url(
            section,
            self.market_data_url(),
            (self.live, "live"),
            practice,
        )
        .map_err(|(_, message)| (format!("{section}.data_url"), message))
    }
}

impl AlpacaConfig {
    /// The account `default` as the section describes it.
    pub fn default_account(&self) -> AlpacaAccount {
        AlpacaAccount {
            api_key: self.api_key.clone(),
            api_secret: self.api_secret.clone(),
            credentials_file: self.credentials_file.clone(),
            live: self.live,
            base_url: self.base_url.clone(),
            data_url: self.data_url.clone(),
        }
    }

    /// Every account to connect, by name, with its connection: `default`
    /// when `enabled`, then the named ones (their URLs defaulting to the
    /// section's).
    pub fn accounts_in_force(&self) -> Vec<(String, AlpacaAccount)> {
        let named = self.accounts.iter().map(|(name, account)| {
            let mut account = account.clone();
            for (own, section) in [
                (&mut account.base_url, &self.base_url),
                (&mut account.data_url, &self.data_url),
            ] {
                if own.is_empty() {
                    own.clone_from(section);
                }
            }
            (name.clone(), account)
        });
        self.enabled
            .then(|| (DEFAULT_ACCOUNT.to_string(), self.default_account()))
            .into_iter()
            .chain(named)
            .collect()
    }

    /// Reads every `credentials_file` into its account's key pair.
    pub fn load_credentials(&mut self) -> Result<(), Refusal> {
        let mut default = self.default_account();
        let accounts = std::iter::once((DEFAULT_ACCOUNT, &mut default))
            .chain(self.accounts.iter_mut().map(|(n, a)| (n.as_str(), a)));
        for (name, account) in accounts {
            let loaded = credentials::load(
                &section_key(name),
                &account.credentials_file,
                (&account.api_key, &account.api_secret),
            )?;
            if let Some((key, secret)) = loaded {
                (account.api_key, account.api_secret) = (key, secret);
            }
        }
        (self.api_key, self.api_secret) = (default.api_key, default.api_secret);
        Ok(())
    }

    /// A copy with every key id and secret key passed through `hide`.
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

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), Refusal> {
        check_account_names("alpaca", self.accounts.keys())?;
        let connections = self.accounts_in_force();
        if connections.is_empty() {
            return Ok(());
        }
        for (key, value) in [
            ("request_timeout", self.request_timeout),
            ("clock_ttl", self.clock_ttl),
        ] {
            if value.is_zero() {
                return Err((format!("exchanges.alpaca.{key}"), "must be positive".into()));
            }
        }
        for (name, account) in &connections {
            account.check(&section_key(name))?;
        }
        Ok(())
    }
}

/// The configuration section of `account`.
fn section_key(account: &str) -> String {
    sections::section_key("alpaca", account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_money_needs_live_per_account() {
        let section = |base_url: &str, live| AlpacaConfig {
            enabled: true,
            api_key: "key".into(),
            api_secret: "secret".into(),
            live,
            base_url: base_url.into(),
            ..Default::default()
        };
        assert_eq!(
            section("", false).default_account().trading_url(),
            PAPER_URL
        );
        assert_eq!(section("", true).default_account().trading_url(), LIVE_URL);
        for (url, live, refused_key) in [
            ("", false, None),
            ("http://127.0.0.1:9", false, None),
            (LIVE_URL, true, None),
            (LIVE_URL, false, Some("exchanges.alpaca.base_url")),
        ] {
            let checked = section(url, live).validate();
            assert_eq!(
                checked.as_ref().err().map(|(k, _)| k.as_str()),
                refused_key,
                "{url}"
            );
        }
        // A named account inherits the section's URLs but not its `live`,
        // and names its own keys in the environment.
        let mut shared = section(LIVE_URL, true);
        let named = AlpacaAccount {
            api_secret: "named".into(),
            ..Default::default()
        };
        shared.accounts.insert("copy_a".into(), named);
        let refused = shared.validate();
        assert!(
            matches!(refused, Err((ref k, ref m)) if k == "exchanges.alpaca.accounts.copy_a.api_key" && m.contains("TRADEPLANE_EXCHANGES__ALPACA__ACCOUNTS__COPY_A__API_KEY")),
            "{refused:?}"
        );
        if let Some(account) = shared.accounts.get_mut("copy_a") {
            account.api_key = "named".into();
        }
        let refused = shared.validate();
        assert!(
            matches!(refused, Err((ref k, _)) if k == "exchanges.alpaca.accounts.copy_a.base_url"),
            "{refused:?}"
        );
        let shown = format!("{:?}", shared.redacted(|_| "<redacted>".into()));
        assert!(
            !shown.contains("\"key\"") && !shown.contains("\"named\""),
            "{shown}"
        );
    }
}

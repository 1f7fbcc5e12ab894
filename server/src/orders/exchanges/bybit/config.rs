//! The Bybit connector's settings and their checks. The section
//! `[exchanges.bybit]` is the account `default`; each
//! `[exchanges.bybit.accounts.<name>]` adds an account with its own
//! credentials, `live` flag and base URL, and the section's other
//! settings. Credential files are read by the Binance connector's
//! reader, account names checked by [`crate::market::account`].

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    market::account::DEFAULT_ACCOUNT,
    orders::exchanges::binance::credentials,
    orders::exchanges::sections::{self, check_account_names, check_base_url, check_timing},
};

/// Bybit's testnet, the default.
pub const TESTNET_URL: &str = "https://api-testnet.bybit.com";
/// Bybit's demo trading (real market, simulated funds).
pub const DEMO_URL: &str = "https://api-demo.bybit.com";
/// Bybit itself, where orders move real money.
pub const LIVE_URL: &str = "https://api.bybit.com";
/// Hosts that never move real money.
const PRACTICE_HOSTS: [&str; 2] = ["api-testnet.bybit.com", "api-demo.bybit.com"];

/// One account's connection: what differs between accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BybitAccount {
    /// API key (`TRADEPLANE_EXCHANGES__BYBIT__API_KEY`, or
    /// `TRADEPLANE_EXCHANGES__BYBIT__ACCOUNTS__<NAME>__API_KEY`).
    pub api_key: String,
    /// API secret (`..._API_SECRET`).
    pub api_secret: String,
    /// A TOML file with `api_key` and `api_secret` (mode 0600), read at
    /// start instead of the two keys.
    pub credentials_file: String,
    /// Must be set to trade real money: a base URL other than the testnet,
    /// demo trading or a loopback address is refused without it.
    pub live: bool,
    /// REST base URL; empty: the section's, else the testnet (or Bybit
    /// itself with `live = true`).
    pub base_url: String,
}

/// Bybit connector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BybitConfig {
    /// Connects the `bybit` exchange with the account `default`.
    pub enabled: bool,
    /// API key of the account `default` (`TRADEPLANE_EXCHANGES__BYBIT__API_KEY`).
    pub api_key: String,
    /// API secret of the account `default` (`TRADEPLANE_EXCHANGES__BYBIT__API_SECRET`).
    pub api_secret: String,
    /// As [`BybitAccount::credentials_file`], for the account `default`.
    pub credentials_file: String,
    /// As [`BybitAccount::live`], for the account `default`.
    pub live: bool,
    /// REST base URL of the account `default`, and of named accounts that
    /// set none.
    pub base_url: String,
    /// `X-BAPI-RECV-WINDOW` of signed requests.
    #[serde(with = "humantime_serde")]
    pub recv_window: Duration,
    /// Longest wait for one HTTP answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest rate-limit wait a placement sits out before trying again.
    #[serde(with = "humantime_serde")]
    pub max_retry_wait: Duration,
    /// How long instrument rules are reused.
    #[serde(with = "humantime_serde")]
    pub rules_ttl: Duration,
    /// Linear perpetuals in hedge mode (a long and a short side per
    /// symbol, `positionIdx` 1 and 2); off, one-way (`positionIdx` 0).
    /// Spot has no positions: its orders never carry a `positionIdx`.
    pub hedge_mode: bool,
    /// More accounts, by name.
    pub accounts: BTreeMap<String, BybitAccount>,
}

impl Default for BybitConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            api_key: String::new(),
            api_secret: String::new(),
            credentials_file: String::new(),
            live: false,
            base_url: String::new(),
            recv_window: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(5),
            rules_ttl: Duration::from_secs(3600),
            hedge_mode: false,
            accounts: BTreeMap::new(),
        }
    }
}

impl BybitAccount {
    /// The base URL in force.
    pub fn effective_base_url(&self) -> &str {
        if !self.base_url.is_empty() {
            &self.base_url
        } else if self.live {
            LIVE_URL
        } else {
            TESTNET_URL
        }
    }

    /// Reads the account's `credentials_file`, if set, into its key and
    /// secret.
    fn load_credentials(&mut self, name: &str) -> Result<(), (String, String)> {
        let loaded = credentials::load(
            &section_key(name),
            &self.credentials_file,
            (&self.api_key, &self.api_secret),
        )?;
        if let Some((key, secret)) = loaded {
            (self.api_key, self.api_secret) = (key, secret);
        }
        Ok(())
    }

    /// Checks the credentials and that the URL moves real money only with
    /// `live`; errors name the key under `section`.
    fn check(&self, section: &str) -> Result<(), (String, String)> {
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
        check_base_url(
            section,
            self.effective_base_url(),
            (self.live, "live"),
            (&PRACTICE_HOSTS, "Bybit's testnet or demo"),
        )
    }
}

impl BybitConfig {
    /// The account `default` as the section describes it.
    pub fn default_account(&self) -> BybitAccount {
        BybitAccount {
            api_key: self.api_key.clone(),
            api_secret: self.api_secret.clone(),
            credentials_file: self.credentials_file.clone(),
            live: self.live,
            base_url: self.base_url.clone(),
        }
    }

    /// Every account to connect, by name, with its connection: `default`
    /// when `enabled`, then the named ones (their base URL defaulting to
    /// the section's).
    pub fn accounts_in_force(&self) -> Vec<(String, BybitAccount)> {
        let named = self.accounts.iter().map(|(name, account)| {
            let mut account = account.clone();
            if account.base_url.is_empty() {
                account.base_url.clone_from(&self.base_url);
            }
            (name.clone(), account)
        });
        self.enabled
            .then(|| (DEFAULT_ACCOUNT.to_string(), self.default_account()))
            .into_iter()
            .chain(named)
            .collect()
    }

    /// Reads every `credentials_file` into its account's key and secret.
    pub fn load_credentials(&mut self) -> Result<(), (String, String)> {
        let mut default = self.default_account();
        default.load_credentials(DEFAULT_ACCOUNT)?;
        (self.api_key, self.api_secret) = (default.api_key, default.api_secret);
        for (name, account) in &mut self.accounts {
            account.load_credentials(name)?;
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

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        check_account_names("bybit", self.accounts.keys())?;
        let connections = self.accounts_in_force();
        if connections.is_empty() {
            return Ok(());
        }
        check_timing(
            "bybit",
            (self.recv_window, Duration::from_secs(60)),
            self.request_timeout,
        )?;
        for (name, account) in &connections {
            account.check(&section_key(name))?;
        }
        Ok(())
    }
}

/// The configuration section of `account`.
fn section_key(account: &str) -> String {
    sections::section_key("bybit", account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(base_url: &str, live: bool) -> BybitConfig {
        BybitConfig {
            enabled: true,
            api_key: "key".into(),
            api_secret: "secret".into(),
            live,
            base_url: base_url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn real_money_needs_live_per_account() {
        assert!(enabled("", false).validate().is_ok());
        assert_eq!(
            enabled("", false).default_account().effective_base_url(),
            TESTNET_URL
        );
        assert_eq!(
            enabled("", true).default_account().effective_base_url(),
            LIVE_URL
        );
        assert!(enabled(DEMO_URL, false).validate().is_ok());
        assert!(enabled("http://127.0.0.1:9", false).validate().is_ok());
        let refused = enabled(LIVE_URL, false).validate();
        assert!(
            matches!(refused, Err((ref k, ref m)) if k == "exchanges.bybit.base_url" && m.contains("exchanges.bybit.live = true")),
            "{refused:?}"
        );
        assert!(enabled(LIVE_URL, true).validate().is_ok());

        let mut base = enabled(LIVE_URL, true);
        base.accounts.insert(
            "copy_a".into(),
            BybitAccount {
                api_key: "ka".into(),
                api_secret: "sa".into(),
                ..Default::default()
            },
        );
        let refused = base.validate();
        assert!(
            matches!(refused, Err((ref k, _)) if k == "exchanges.bybit.accounts.copy_a.base_url"),
            "{refused:?}"
        );
        base.accounts
            .insert("nokey".into(), BybitAccount::default());
        base.accounts.remove("copy_a");
        let refused = base.validate();
        assert!(
            matches!(refused, Err((ref k, ref m)) if k == "exchanges.bybit.accounts.nokey.api_key" && m.contains("TRADEPLANE_EXCHANGES__BYBIT__ACCOUNTS__NOKEY__API_KEY")),
            "{refused:?}"
        );
        let shown = format!("{:?}", base.redacted(|_| "<redacted>".into()));
        assert!(
            !shown.contains("\"key\"") && !shown.contains("\"secret\""),
            "{shown}"
        );
    }
}

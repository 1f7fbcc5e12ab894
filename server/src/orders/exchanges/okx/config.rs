//! The OKX connector's settings and their checks. The section
//! `[exchanges.okx]` is the account `default`; each
//! `[exchanges.okx.accounts.<name>]` adds an account with its own
//! credentials and `live` flag, and the section's other settings.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    market::account::DEFAULT_ACCOUNT,
    orders::exchanges::binance::credentials,
    orders::exchanges::sections::{self, check_account_names, check_base_url, check_timing},
};

/// OKX's REST API, demo trading and live alike: demo trading is the
/// same host with the header `x-simulated-trading: 1`.
pub const BASE_URL: &str = "https://www.okx.com";

/// OKX connector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OkxConfig {
    /// Connects the `okx` exchange.
    pub enabled: bool,
    /// REST base URL; empty means [`BASE_URL`].
    pub base_url: String,
    /// Must be set to trade real money: without it every request asks
    /// for demo trading, and a base URL other than OKX's or a loopback
    /// address is refused.
    pub live: bool,
    /// API key (`TRADEPLANE_EXCHANGES__OKX__API_KEY`).
    pub api_key: String,
    /// API secret (`TRADEPLANE_EXCHANGES__OKX__API_SECRET`).
    pub api_secret: String,
    /// The passphrase set when the key was made
    /// (`TRADEPLANE_EXCHANGES__OKX__PASSPHRASE`).
    pub passphrase: String,
    /// A TOML file with `api_key`, `api_secret` and, unless set here,
    /// `passphrase` (mode 0600), read at start instead of them.
    pub credentials_file: String,
    /// How long after it was signed OKX may still accept a request (sent
    /// as `expTime`): an order not found once this has passed was never
    /// placed.
    #[serde(with = "humantime_serde")]
    pub recv_window: Duration,
    /// Longest wait for one HTTP answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest rate-limit wait a placement waits out before trying again.
    #[serde(with = "humantime_serde")]
    pub max_retry_wait: Duration,
    /// The account trades swaps in long/short position mode (OKX's
    /// `posMode` `long_short_mode`): every swap order carries `posSide`
    /// (`long` or `short`, from its side and whether it reduces) instead
    /// of `reduceOnly`. Spot orders never carry it. Unset, the mode is
    /// read from `GET /api/v5/account/config` before the first leverage.
    pub long_short_mode: bool,
    /// How long instruments from `/api/v5/public/instruments` are reused.
    #[serde(with = "humantime_serde")]
    pub rules_ttl: Duration,
    /// More accounts, by name.
    pub accounts: BTreeMap<String, OkxAccount>,
}

/// A named OKX account: its own credentials and `live` flag; the other
/// settings come from `[exchanges.okx]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OkxAccount {
    /// API key (`TRADEPLANE_EXCHANGES__OKX__ACCOUNTS__<NAME>__API_KEY`).
    pub api_key: String,
    /// API secret (`..._API_SECRET`).
    pub api_secret: String,
    /// Passphrase (`..._PASSPHRASE`).
    pub passphrase: String,
    /// As [`OkxConfig::credentials_file`].
    pub credentials_file: String,
    /// Must be set to trade real money with this account.
    pub live: bool,
    /// REST base URL; empty: the section's.
    pub base_url: String,
}

impl Default for OkxConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: String::new(),
            live: false,
            api_key: String::new(),
            api_secret: String::new(),
            passphrase: String::new(),
            credentials_file: String::new(),
            recv_window: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retry_wait: Duration::from_secs(5),
            rules_ttl: Duration::from_secs(3600),
            long_short_mode: false,
            accounts: BTreeMap::new(),
        }
    }
}

impl OkxConfig {
    /// The base URL in force.
    pub fn effective_base_url(&self) -> &str {
        if self.base_url.is_empty() {
            BASE_URL
        } else {
            &self.base_url
        }
    }

    /// Every account to connect, by name, each with the whole settings of
    /// its connection: `default` when `enabled`, then the named ones.
    pub fn accounts_in_force(&self) -> Vec<(String, OkxConfig)> {
        let base = OkxConfig {
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
            let connection = OkxConfig {
                enabled: true,
                base_url,
                live: account.live,
                api_key: account.api_key.clone(),
                api_secret: account.api_secret.clone(),
                passphrase: account.passphrase.clone(),
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

    /// Reads every `credentials_file` into its account's key and secret,
    /// and its passphrase when the file holds one.
    pub fn load_credentials(&mut self) -> Result<(), (String, String)> {
        load_into(
            &section_key(DEFAULT_ACCOUNT),
            &self.credentials_file,
            (
                &mut self.api_key,
                &mut self.api_secret,
                &mut self.passphrase,
            ),
        )?;
        for (name, account) in &mut self.accounts {
            load_into(
                &section_key(name),
                &account.credentials_file,
                (
                    &mut account.api_key,
                    &mut account.api_secret,
                    &mut account.passphrase,
                ),
            )?;
        }
        Ok(())
    }

    /// A copy with every key, secret and passphrase passed through `hide`.
    pub fn redacted(&self, hide: impl Fn(&str) -> String) -> Self {
        let mut copy = self.clone();
        copy.api_key = hide(&self.api_key);
        copy.api_secret = hide(&self.api_secret);
        copy.passphrase = hide(&self.passphrase);
        for account in copy.accounts.values_mut() {
            account.api_key = hide(&account.api_key);
            account.api_secret = hide(&account.api_secret);
            account.passphrase = hide(&account.passphrase);
        }
        copy
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        check_account_names("okx", self.accounts.keys())?;
        let connections = self.accounts_in_force();
        if connections.is_empty() {
            return Ok(());
        }
        // OKX refuses requests older than 30 s.
        check_timing(
            "okx",
            (self.recv_window, Duration::from_secs(30)),
            self.request_timeout,
        )?;
        for (name, connection) in &connections {
            connection.validate_connection(name)?;
        }
        Ok(())
    }

    /// The checks of one account's connection: credentials, and a base
    /// URL that moves real money only with the account's live flag.
    fn validate_connection(&self, account: &str) -> Result<(), (String, String)> {
        let section = section_key(account);
        if self.api_key.is_empty() || self.api_secret.is_empty() || self.passphrase.is_empty() {
            let env = format!("TRADEPLANE_{}__", section.replace('.', "__").to_uppercase());
            return Err((
                format!("{section}.api_key"),
                format!(
                    "set api_key, api_secret and passphrase (or a credentials_file with \
                     them), or {env}API_KEY, {env}API_SECRET and {env}PASSPHRASE"
                ),
            ));
        }
        // Demo trading is OKX's own hosts with `x-simulated-trading: 1`.
        check_base_url(
            &section,
            self.effective_base_url(),
            (self.live, "live"),
            (
                &["www.okx.com", "okx.com", "aws.okx.com"],
                "OKX's demo trading",
            ),
        )
    }
}

/// Reads `file`, if set, into an account's key, secret and passphrase.
fn load_into(
    section: &str,
    file: &str,
    (key, secret, passphrase): (&mut String, &mut String, &mut String),
) -> Result<(), (String, String)> {
    let loaded = credentials::load_with_passphrase(section, file, (key, secret, passphrase))?;
    if let Some(file) = loaded {
        (*key, *secret) = (file.api_key, file.api_secret);
        if let Some(from_file) = file.passphrase {
            *passphrase = from_file;
        }
    }
    Ok(())
}

/// The configuration section of `account`.
fn section_key(account: &str) -> String {
    sections::section_key("okx", account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str, live: bool) -> OkxConfig {
        OkxConfig {
            enabled: true,
            base_url: base_url.into(),
            live,
            api_key: "key".into(),
            api_secret: "secret".into(),
            passphrase: "phrase".into(),
            ..Default::default()
        }
    }

    #[test]
    fn demo_unless_live_and_no_stranger_hosts() {
        assert!(config("", false).validate().is_ok());
        assert_eq!(config("", false).effective_base_url(), BASE_URL);
        assert!(config("http://127.0.0.1:9", false).validate().is_ok());
        let refused = config("https://okx.example.com", false).validate();
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.okx.base_url" && m.contains("exchanges.okx.live = true")),
            "{refused:?}"
        );
        assert!(config("https://okx.example.com", true).validate().is_ok());
        assert!(config("http://example.com", true).validate().is_err());
        let mut no_phrase = config("", false);
        no_phrase.passphrase.clear();
        let refused = no_phrase.validate();
        assert!(
            matches!(refused, Err((ref key, ref m)) if key == "exchanges.okx.api_key" && m.contains("TRADEPLANE_EXCHANGES__OKX__PASSPHRASE")),
            "{refused:?}"
        );
    }

    #[test]
    fn named_accounts_inherit_and_are_redacted() {
        let mut base = config("", true);
        base.accounts.insert(
            "copy_a".into(),
            OkxAccount {
                api_key: "ka".into(),
                api_secret: "sa".into(),
                passphrase: "pa".into(),
                ..Default::default()
            },
        );
        let accounts = base.accounts_in_force();
        assert_eq!(accounts.len(), 2);
        assert!(!accounts[1].1.live, "an account is live only when told");
        assert_eq!(accounts[1].1.passphrase, "pa");
        let shown = format!("{:?}", base.redacted(|_| "<redacted>".into()));
        for secret in [
            "\"key\"",
            "\"secret\"",
            "\"phrase\"",
            "\"ka\"",
            "\"sa\"",
            "\"pa\"",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        base.accounts.insert("Bad".into(), OkxAccount::default());
        assert!(
            matches!(base.validate(), Err((ref key, _)) if key == "exchanges.okx.accounts.Bad")
        );
    }
}

//! Checks every venue's configuration section shares: where an account's
//! settings live, account names, the timing of signed requests, and a base
//! URL that moves real money only when the account says it is live. Each
//! error names the key.

use std::time::Duration;

use crate::market::account::{DEFAULT_ACCOUNT, check_name};

/// A configuration error: the key, and what is wrong with it.
pub type Refusal = (String, String);

/// `exchanges.<section>` for the account `default` (the section itself),
/// `exchanges.<section>.accounts.<name>` for the others.
pub fn section_key(section: &str, account: &str) -> String {
    if account == DEFAULT_ACCOUNT {
        format!("exchanges.{section}")
    } else {
        format!("exchanges.{section}.accounts.{account}")
    }
}

/// Checks the names of a section's named accounts.
pub fn check_account_names<'a>(
    section: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), Refusal> {
    for name in names {
        let refused = if name == DEFAULT_ACCOUNT {
            Err(format!(
                "`default` is the [exchanges.{section}] section itself"
            ))
        } else {
            check_name(name)
        };
        refused.map_err(|message| (section_key(section, name), message))?;
    }
    Ok(())
}

/// Checks a receive window in (0, `max_window`] and a positive request
/// timeout.
pub fn check_timing(
    section: &str,
    (recv_window, max_window): (Duration, Duration),
    request_timeout: Duration,
) -> Result<(), Refusal> {
    if recv_window.is_zero() || recv_window > max_window {
        return Err((
            format!("exchanges.{section}.recv_window"),
            format!(
                "must be above 0 and at most {}",
                humantime::format_duration(max_window)
            ),
        ));
    }
    if request_timeout.is_zero() {
        return Err((
            format!("exchanges.{section}.request_timeout"),
            "must be positive".into(),
        ));
    }
    Ok(())
}

/// Checks the base URL of the account at `account_section`: https (plain
/// http only on loopback), and, unless `live` (the value of the key
/// `live_key`), loopback or one of the venue's `practice_hosts`, which the
/// error calls `practice` (e.g. "Bybit's testnet or demo").
pub fn check_base_url(
    account_section: &str,
    url: &str,
    (live, live_key): (bool, &str),
    (practice_hosts, practice): (&[&str], &str),
) -> Result<(), Refusal> {
    let url_key = format!("{account_section}.base_url");
    let url = url::Url::parse(url).map_err(|e| (url_key.clone(), format!("not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if url.scheme() != "https" && !loopback {
        return Err((
            url_key,
            "must be https:// (plain http only on loopback)".into(),
        ));
    }
    if !live && !loopback && !practice_hosts.contains(&host) {
        return Err((
            url_key,
            format!(
                "`{host}` is not {practice}; set {account_section}.{live_key} = true to trade real money"
            ),
        ));
    }
    Ok(())
}

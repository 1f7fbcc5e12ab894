//! Named accounts at a venue. Every venue has the account `default`; more
//! are configured by name. An account is addressed by its venue and name,
//! and keyed inside the process (breakers, the exchange registry) by
//! [`key`]: the venue alone for `default`, `venue/name` otherwise, so that
//! what was stored before accounts existed keeps its meaning.

/// The account a venue's own configuration section describes, and the one
/// used when none is named.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Longest account name.
const MAX_NAME: usize = 32;

/// The account `account` means: `default` when empty.
pub fn or_default(account: &str) -> &str {
    if account.is_empty() {
        DEFAULT_ACCOUNT
    } else {
        account
    }
}

/// The key of `account` at `exchange`.
pub fn key(exchange: &str, account: &str) -> String {
    match or_default(account) {
        DEFAULT_ACCOUNT => exchange.to_string(),
        named => format!("{exchange}/{named}"),
    }
}

/// The venue and account a [`key`] stands for.
pub fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((key, DEFAULT_ACCOUNT))
}

/// Checks an account name: 1 to 32 of `a-z`, `0-9` and `_` (so that it
/// can appear in an environment variable's name).
pub fn check_name(name: &str) -> Result<(), String> {
    let fits = (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if fits {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an account name: 1 to {MAX_NAME} characters of a-z, 0-9 and '_'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_account_keys_as_its_venue() {
        assert_eq!(key("binance", ""), "binance");
        assert_eq!(key("binance", DEFAULT_ACCOUNT), "binance");
        assert_eq!(key("binance", "alice"), "binance/alice");
        assert_eq!(split("binance/alice"), ("binance", "alice"));
        assert_eq!(split("binance"), ("binance", DEFAULT_ACCOUNT));
        assert!(check_name("copy_2").is_ok());
        assert!(check_name("Copy").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}

//! What a venue's instruments endpoint said about each symbol, kept for a
//! while so that an order does not wait for it every time.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Per-symbol listings, each fresh for `ttl` after it was read.
#[derive(Debug)]
pub struct Listings<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Listings<V> {
    /// An empty cache whose entries stay fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The listing of `symbol` while it is fresh.
    pub fn fresh(&self, symbol: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (read_at, listing) = entries.get(symbol)?;
        (read_at.elapsed() < self.ttl).then(|| listing.clone())
    }

    /// Keeps what the venue just said about `symbol`.
    pub fn keep(&self, symbol: &str, listing: V) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(symbol.to_string(), (Instant::now(), listing));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_served_until_it_goes_stale() {
        let listings = Listings::new(Duration::from_secs(60));
        assert_eq!(listings.fresh("BTC/USDT"), None);
        listings.keep("BTC/USDT", 1);
        assert_eq!(listings.fresh("BTC/USDT"), Some(1));
        let stale = Listings::new(Duration::ZERO);
        stale.keep("BTC/USDT", 1);
        assert_eq!(stale.fresh("BTC/USDT"), None);
    }
}

//! Token buckets per API key (gRPC) and per client address (webhooks).
//!
//! Memory is bounded: the table holds at most [`MAX_BUCKETS`] buckets.
//! When a shard is full, buckets that have refilled completely are dropped
//! first (a full bucket is the same as a new one, so nothing is lost);
//! if that frees too little, the longest-idle eighth goes. A flood of
//! distinct addresses therefore costs a bounded table, never more.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    net::IpAddr,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// Shards of the bucket table (one lock each).
const SHARDS: usize = 16;
/// Most buckets held at once, over all shards.
pub const MAX_BUCKETS: usize = 16 * 1024;
const SHARD_CAPACITY: usize = MAX_BUCKETS / SHARDS;
/// Most clients remembered for ListRateLimited.
const MAX_OFFENDERS: usize = 1024;

/// One token bucket's settings; a rate of 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Sustained requests per second.
    pub rate_per_second: f64,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

/// Both limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub per_api_key: Limit,
    pub per_client_ip: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_api_key: Limit {
                rate_per_second: 100.0,
                burst: 200,
            },
            per_client_ip: Limit {
                rate_per_second: 20.0,
                burst: 40,
            },
        }
    }
}

impl Limit {
    /// One of `replicas` equal shares of this limit (a burst of at least 1).
    fn share(self, replicas: u32) -> Self {
        Self {
            rate_per_second: self.rate_per_second / f64::from(replicas.max(1)),
            burst: (self.burst / replicas.max(1)).max(1),
        }
    }

    /// Checks the values an operator gave.
    pub fn validate(&self) -> Result<(), String> {
        if !self.rate_per_second.is_finite() || self.rate_per_second < 0.0 {
            return Err("rate_per_second must be 0 (unlimited) or a positive number".into());
        }
        if self.rate_per_second > 0.0 && self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        Ok(())
    }
}

/// Whose bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// An API key, by id; `name` is what an operator sees.
    ApiKey {
        id: String,
        name: String,
    },
    ClientIp(IpAddr),
}

impl Client {
    /// `api_key` or `client_ip` (a metric label).
    pub fn scope(&self) -> &'static str {
        match self {
            Client::ApiKey { .. } => "api_key",
            Client::ClientIp(_) => "client_ip",
        }
    }

    fn display(&self) -> String {
        match self {
            Client::ApiKey { name, .. } => name.clone(),
            Client::ClientIp(ip) => ip.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A client that was refused, for ListRateLimited.
#[derive(Debug, Clone, PartialEq)]
pub struct Offender {
    pub scope: &'static str,
    pub client: String,
    pub rejected: u64,
    pub last_ms: i64,
}

/// The rate limiter.
pub struct RateLimiter {
    limits: RwLock<Limits>,
    /// The replicas that share the limits (each enforces its share).
    replicas: std::sync::atomic::AtomicU32,
    shards: Vec<Mutex<HashMap<Client, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
    offenders: Mutex<HashMap<Client, Offender>>,
}

impl RateLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits: RwLock::new(limits),
            replicas: std::sync::atomic::AtomicU32::new(1),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_capacity(SHARD_CAPACITY)))
                .collect(),
            hasher: Default::default(),
            offenders: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits.read().map(|l| *l).unwrap_or_default()
    }

    /// Changes the limits; buckets keep their tokens, capped at the new burst.
    pub fn set_limits(&self, limits: Limits) {
        if let Ok(mut current) = self.limits.write() {
            *current = limits;
        }
    }

    /// Enforces `1 / replicas` of every limit here: the replicas behind
    /// one balancer together admit about the configured rate.
    pub fn share_among(&self, replicas: u32) {
        self.replicas
            .store(replicas.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes one token from `client`'s bucket, or says how long until one
    /// is available.
    pub fn check(&self, client: &Client, now: Instant, now_ms: i64) -> Result<(), Duration> {
        let configured = match client {
            Client::ApiKey { .. } => self.limits().per_api_key,
            Client::ClientIp(_) => self.limits().per_client_ip,
        };
        let limit = configured.share(self.replicas.load(std::sync::atomic::Ordering::Relaxed));
        if limit.rate_per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(limit.burst.max(1));
        let shard = &self.shards[self.hasher.hash_one(client) as usize % SHARDS];
        let Ok(mut buckets) = shard.lock() else {
            return Ok(());
        };
        if buckets.len() >= SHARD_CAPACITY && !buckets.contains_key(client) {
            make_room(&mut buckets, now, limit);
        }
        let bucket = match buckets.get_mut(client) {
            Some(bucket) => bucket,
            None => buckets.entry(client.clone()).or_insert(Bucket {
                tokens: burst,
                updated: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate_per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / limit.rate_per_second);
        drop(buckets);
        self.note_offender(client, now_ms);
        Err(wait)
    }

    fn note_offender(&self, client: &Client, now_ms: i64) {
        let Ok(mut offenders) = self.offenders.lock() else {
            return;
        };
        if !offenders.contains_key(client) && offenders.len() >= MAX_OFFENDERS {
            let least = offenders
                .iter()
                .min_by_key(|(_, o)| (o.rejected, o.last_ms))
                .map(|(c, _)| c.clone());
            if let Some(least) = least {
                offenders.remove(&least);
            }
        }
        let entry = offenders.entry(client.clone()).or_insert_with(|| Offender {
            scope: client.scope(),
            client: client.display(),
            rejected: 0,
            last_ms: now_ms,
        });
        entry.rejected += 1;
        entry.last_ms = now_ms;
    }

    /// The `limit` most-refused clients, most refusals first.
    pub fn top_offenders(&self, limit: usize) -> Vec<Offender> {
        let mut all: Vec<Offender> = self
            .offenders
            .lock()
            .map(|o| o.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| b.rejected.cmp(&a.rejected).then(b.last_ms.cmp(&a.last_ms)));
        all.truncate(limit);
        all
    }

    /// Buckets held now (the memory bound's witness).
    pub fn bucket_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|b| b.len()).unwrap_or(0))
            .sum()
    }
}

/// Frees space in a full shard: refilled buckets first, then the oldest.
fn make_room<K: Clone + Eq + Hash>(buckets: &mut HashMap<K, Bucket>, now: Instant, limit: Limit) {
    let burst = f64::from(limit.burst.max(1));
    buckets.retain(|_, b| {
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens + elapsed * limit.rate_per_second < burst
    });
    let target = SHARD_CAPACITY - SHARD_CAPACITY / 8;
    if buckets.len() > target {
        let mut ages: Vec<(Instant, K)> = buckets
            .iter()
            .map(|(k, b)| (b.updated, k.clone()))
            .collect();
        let evict = buckets.len() - target;
        ages.select_nth_unstable_by_key(evict - 1, |(updated, _)| *updated);
        for (_, key) in ages.into_iter().take(evict) {
            buckets.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Client {
        Client::ClientIp(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn replicas_each_enforce_their_share() {
        let limiter = RateLimiter::new(Limits {
            per_client_ip: Limit {
                rate_per_second: 10.0,
                burst: 4,
            },
            ..Default::default()
        });
        limiter.share_among(2);
        let start = Instant::now();
        for _ in 0..2 {
            assert!(limiter.check(&ip(1), start, 0).is_ok());
        }
        let wait = limiter.check(&ip(1), start, 0).unwrap_err();
        assert!(
            wait > Duration::from_millis(190) && wait <= Duration::from_millis(200),
            "half the burst, refilled at half the rate: {wait:?}"
        );
        assert_eq!(limiter.limits().per_client_ip.burst, 4, "as configured");
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(Limits {
            per_client_ip: Limit {
                rate_per_second: 10.0,
                burst: 3,
            },
            ..Default::default()
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&ip(1), start, 0).is_ok());
        }
        let wait = limiter.check(&ip(1), start, 0).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        assert!(
            limiter.check(&ip(2), start, 0).is_ok(),
            "buckets are per client"
        );
        assert!(
            limiter
                .check(&ip(1), start + Duration::from_millis(100), 0)
                .is_ok()
        );
        assert_eq!(limiter.top_offenders(10)[0].rejected, 1);
    }

    #[test]
    fn a_zero_rate_is_unlimited() {
        let limiter = RateLimiter::new(Limits {
            per_client_ip: Limit {
                rate_per_second: 0.0,
                burst: 0,
            },
            ..Default::default()
        });
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.check(&ip(1), now, 0).is_ok()));
    }

    #[test]
    fn a_million_addresses_stay_within_the_bound() {
        let limiter = RateLimiter::new(Limits::default());
        let now = Instant::now();
        for n in 0..1_000_000 {
            let _ = limiter.check(&ip(n), now, 0);
        }
        assert!(limiter.bucket_count() <= MAX_BUCKETS);
    }
}

//! One circuit breaker per exchange account, keyed by
//! [`account::key`]. An open breaker makes orders to that account fail
//! fast.
//!
//! Closed → open after `consecutive_failures` failures in a row, or when
//! at least `min_requests` calls in `window` failed at `failure_ratio` or
//! more. Open → half-open after `cooldown`: one probe is let through, and
//! its outcome closes or re-opens the breaker. Operators trip and reset
//! breakers through the admin API; a manual trip stays open until a manual
//! reset. The state is persisted, so a trip survives a restart.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use serde::{Deserialize, Serialize};
use tradeplane_api::{CircuitBreaker, CircuitBreakerState, ProtoEnum};

use crate::{api_error::ApiError, market::account, proto_time::ms_to_timestamp};

/// A breaker's persisted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerRecord {
    /// Stored as its number; a number no state has does not load.
    #[serde(with = "state_number")]
    pub state: CircuitBreakerState,
    pub consecutive_failures: u32,
    pub change_ms: i64,
    pub reason: String,
}

impl Default for BreakerRecord {
    fn default() -> Self {
        Self {
            state: CircuitBreakerState::Closed,
            consecutive_failures: 0,
            change_ms: 0,
            reason: String::new(),
        }
    }
}

/// When a breaker opens by itself, and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures in a row that open the breaker.
    pub consecutive_failures: u32,
    /// Share of failed calls within `window` that opens it…
    pub failure_ratio: f64,
    /// …once the window holds at least this many calls.
    pub min_requests: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long it stays open before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_requests: 20,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(30),
        }
    }
}

/// What the breaker says to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Go ahead.
    Admitted,
    /// Go ahead as the half-open probe; the breaker just moved to
    /// half-open (persist and audit this record).
    Probe(BreakerRecord),
    /// Fail fast: the breaker is open.
    Refused,
}

/// In-memory state behind the persisted record.
#[derive(Default)]
struct Live {
    outcomes: VecDeque<(Instant, bool)>,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

/// The settings key a breaker is persisted under.
pub fn setting_key(exchange: &str) -> String {
    format!("circuit_breaker.{exchange}")
}

/// Every exchange's breaker.
pub struct CircuitBreakers {
    breakers: Arc<RwLock<BTreeMap<String, BreakerRecord>>>,
    live: Mutex<HashMap<String, Live>>,
    config: BreakerConfig,
    transitions: Counter<u64>,
}

/// Reasons that start like this were set by an operator.
const MANUAL: &str = "manual";

const STATES: [CircuitBreakerState; 3] = [
    CircuitBreakerState::Closed,
    CircuitBreakerState::Open,
    CircuitBreakerState::HalfOpen,
];

impl CircuitBreakers {
    /// Breakers for `exchanges`, restored from `stored` where present.
    pub fn new(
        exchanges: BTreeMap<String, Option<BreakerRecord>>,
        config: BreakerConfig,
        meter: &Meter,
    ) -> Self {
        let breakers: BTreeMap<_, _> = exchanges
            .into_iter()
            .map(|(exchange, stored)| (exchange, stored.unwrap_or_default()))
            .collect();
        let breakers = Arc::new(RwLock::new(breakers));
        let observed = breakers.clone();
        meter
            .u64_observable_gauge("tradeplane.circuit_breaker.state")
            .with_description("1 for each exchange's current breaker state, else 0")
            .with_callback(move |gauge| {
                let Ok(breakers) = observed.read() else {
                    return;
                };
                for (exchange, record) in breakers.iter() {
                    for state in STATES {
                        gauge.observe(u64::from(record.state == state), &labels(exchange, state));
                    }
                }
            })
            .build();
        let transitions = meter
            .u64_counter("tradeplane.circuit_breaker.transitions")
            .with_description("Breaker state changes, by exchange and new state")
            .build();
        let now = Instant::now();
        let live = breakers
            .read()
            .map(|b| {
                b.iter()
                    .map(|(exchange, record)| {
                        let open = record.state != CircuitBreakerState::Closed;
                        let live = Live {
                            // Restored open: the cooldown starts again now.
                            opened_at: open.then_some(now),
                            ..Default::default()
                        };
                        (exchange.clone(), live)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            breakers,
            live: Mutex::new(live),
            config,
            transitions,
        }
    }

    /// Every breaker.
    pub fn list(&self) -> Vec<CircuitBreaker> {
        self.breakers
            .read()
            .map(|b| b.iter().map(|(e, r)| to_proto(e, r)).collect())
            .unwrap_or_default()
    }

    /// The state of `exchange`'s breaker (closed when there is none).
    pub fn state(&self, exchange: &str) -> CircuitBreakerState {
        self.breakers
            .read()
            .ok()
            .and_then(|b| b.get(exchange).map(|r| r.state))
            .unwrap_or(CircuitBreakerState::Closed)
    }

    /// The record `exchange` would have after moving to `state`; nothing
    /// changes until [`CircuitBreakers::apply`].
    pub fn transition(
        &self,
        exchange: &str,
        state: CircuitBreakerState,
        reason: &str,
        now_ms: i64,
    ) -> Result<BreakerRecord, ApiError> {
        let breakers = self
            .breakers
            .read()
            .map_err(|_| ApiError::Internal("breaker table poisoned".into()))?;
        let current = breakers.get(exchange).ok_or_else(|| ApiError::NotFound {
            what: "exchange",
            id: exchange.to_string(),
        })?;
        Ok(BreakerRecord {
            state,
            consecutive_failures: if state == CircuitBreakerState::Closed {
                0
            } else {
                current.consecutive_failures
            },
            change_ms: now_ms,
            reason: reason.to_string(),
        })
    }

    /// Installs a persisted record; returns the protobuf view.
    pub fn apply(&self, exchange: &str, record: BreakerRecord) -> CircuitBreaker {
        self.count_transition(exchange, record.state);
        if let Ok(mut live) = self.live.lock() {
            let live = live.entry(exchange.to_string()).or_default();
            live.outcomes.clear();
            live.probe_in_flight = false;
            live.opened_at = (record.state == CircuitBreakerState::Open).then(Instant::now);
        }
        let view = to_proto(exchange, &record);
        if let Ok(mut breakers) = self.breakers.write() {
            breakers.insert(exchange.to_string(), record);
        }
        view
    }

    /// Asks whether a call to `exchange` may go out now.
    pub fn admit(&self, exchange: &str, now: Instant, now_ms: i64) -> Admission {
        let Some(record) = self.record_of(exchange) else {
            return Admission::Admitted;
        };
        let Ok(mut live) = self.live.lock() else {
            return Admission::Admitted;
        };
        let live = live.entry(exchange.to_string()).or_default();
        match record.state {
            CircuitBreakerState::Open => {
                let cooled = live
                    .opened_at
                    .is_some_and(|at| now.duration_since(at) >= self.config.cooldown);
                if record.reason.starts_with(MANUAL) || !cooled {
                    return Admission::Refused;
                }
                live.probe_in_flight = true;
                let half_open = BreakerRecord {
                    state: CircuitBreakerState::HalfOpen,
                    consecutive_failures: record.consecutive_failures,
                    change_ms: now_ms,
                    reason: format!(
                        "cooldown of {} over; probing",
                        humantime::format_duration(self.config.cooldown)
                    ),
                };
                self.install(exchange, half_open.clone());
                Admission::Probe(half_open)
            }
            CircuitBreakerState::HalfOpen if live.probe_in_flight => Admission::Refused,
            CircuitBreakerState::HalfOpen => {
                live.probe_in_flight = true;
                Admission::Admitted
            }
            _ => Admission::Admitted,
        }
    }

    /// A call that was admitted will not be made after all.
    pub fn abandon(&self, exchange: &str) {
        if let Ok(mut live) = self.live.lock()
            && let Some(live) = live.get_mut(exchange)
        {
            live.probe_in_flight = false;
        }
    }

    /// Records how an admitted call went; returns the new record when the
    /// breaker changed state (persist and audit it).
    pub fn record(
        &self,
        exchange: &str,
        success: bool,
        now: Instant,
        now_ms: i64,
    ) -> Option<BreakerRecord> {
        let mut record = self.record_of(exchange)?;
        let mut all = self.live.lock().ok()?;
        let live = all.entry(exchange.to_string()).or_default();
        let next = match record.state {
            CircuitBreakerState::HalfOpen => {
                live.probe_in_flight = false;
                Some(if success {
                    BreakerRecord {
                        reason: "probe succeeded".into(),
                        ..closed(now_ms)
                    }
                } else {
                    live.opened_at = Some(now);
                    BreakerRecord {
                        state: CircuitBreakerState::Open,
                        consecutive_failures: record.consecutive_failures + 1,
                        change_ms: now_ms,
                        reason: "probe failed".into(),
                    }
                })
            }
            CircuitBreakerState::Closed => {
                live.outcomes.push_back((now, success));
                while live
                    .outcomes
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > self.config.window)
                {
                    live.outcomes.pop_front();
                }
                record.consecutive_failures = if success {
                    0
                } else {
                    record.consecutive_failures + 1
                };
                let failed = live.outcomes.iter().filter(|(_, ok)| !ok).count();
                let total = live.outcomes.len();
                let ratio = failed as f64 / total.max(1) as f64;
                let reason = if record.consecutive_failures >= self.config.consecutive_failures {
                    Some(format!(
                        "{} consecutive failures",
                        record.consecutive_failures
                    ))
                } else if !success
                    && total >= self.config.min_requests as usize
                    && ratio >= self.config.failure_ratio
                {
                    Some(format!(
                        "{failed} of {total} calls failed within {}",
                        humantime::format_duration(self.config.window)
                    ))
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        live.outcomes.clear();
                        live.opened_at = Some(now);
                        Some(BreakerRecord {
                            state: CircuitBreakerState::Open,
                            consecutive_failures: record.consecutive_failures,
                            change_ms: now_ms,
                            reason,
                        })
                    }
                    None => {
                        if let Ok(mut breakers) = self.breakers.write() {
                            breakers.insert(exchange.to_string(), record);
                        }
                        None
                    }
                }
            }
            _ => None,
        };
        drop(all);
        if let Some(next) = &next {
            self.install(exchange, next.clone());
        }
        next
    }

    /// Opens `exchange`'s breaker at once (the venue told us to stop, as
    /// Binance's 418 does); returns the new record unless it was open.
    pub fn trip(
        &self,
        exchange: &str,
        reason: &str,
        now: Instant,
        now_ms: i64,
    ) -> Option<BreakerRecord> {
        let record = self.record_of(exchange)?;
        if record.state == CircuitBreakerState::Open {
            self.abandon(exchange);
            return None;
        }
        if let Ok(mut live) = self.live.lock() {
            let live = live.entry(exchange.to_string()).or_default();
            live.outcomes.clear();
            live.probe_in_flight = false;
            live.opened_at = Some(now);
        }
        let open = BreakerRecord {
            state: CircuitBreakerState::Open,
            consecutive_failures: record.consecutive_failures + 1,
            change_ms: now_ms,
            reason: reason.to_string(),
        };
        self.install(exchange, open.clone());
        Some(open)
    }

    /// `exchange`'s breaker as it stands here.
    pub fn record_of(&self, exchange: &str) -> Option<BreakerRecord> {
        self.breakers.read().ok()?.get(exchange).cloned()
    }

    /// Counts a transition of `exchange`'s breaker into `state`.
    fn count_transition(&self, exchange: &str, state: CircuitBreakerState) {
        self.transitions.add(1, &labels(exchange, state));
    }

    /// Puts an automatic transition in force (the live state is already
    /// updated by the caller).
    fn install(&self, exchange: &str, record: BreakerRecord) {
        self.count_transition(exchange, record.state);
        if let Ok(mut breakers) = self.breakers.write() {
            breakers.insert(exchange.to_string(), record);
        }
    }
}

fn closed(now_ms: i64) -> BreakerRecord {
    BreakerRecord {
        state: CircuitBreakerState::Closed,
        consecutive_failures: 0,
        change_ms: now_ms,
        reason: String::new(),
    }
}

/// The labels of a breaker's metrics: its key's exchange and account
/// (see [`account::key`]), and `state`.
fn labels(key: &str, state: CircuitBreakerState) -> [KeyValue; 3] {
    let (exchange, account) = account::split(key);
    [
        KeyValue::new("exchange", exchange.to_string()),
        KeyValue::new("account", account.to_string()),
        KeyValue::new("state", state.word()),
    ]
}

fn to_proto(key: &str, record: &BreakerRecord) -> CircuitBreaker {
    let (exchange, account) = account::split(key);
    CircuitBreaker {
        exchange: exchange.to_string(),
        account: account.to_string(),
        state: record.state as i32,
        consecutive_failures: record.consecutive_failures,
        change_time: (record.change_ms > 0).then(|| ms_to_timestamp(record.change_ms)),
        reason: record.reason.clone(),
    }
}

/// A breaker state as its number in the stored record.
mod state_number {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use tradeplane_api::{CircuitBreakerState, ProtoEnum};

    pub fn serialize<S: Serializer>(state: &CircuitBreakerState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(*state as i32)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CircuitBreakerState, D::Error> {
        CircuitBreakerState::known(i32::deserialize(d)?, "state").map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers(config: BreakerConfig) -> CircuitBreakers {
        let meter = opentelemetry::global::meter("test");
        CircuitBreakers::new(BTreeMap::from([("x".to_string(), None)]), config, &meter)
    }

    fn state(b: &CircuitBreakers) -> CircuitBreakerState {
        b.state("x")
    }

    #[test]
    fn a_trip_opens_at_once_and_cools_down_like_any_opening() {
        let b = breakers(BreakerConfig {
            cooldown: Duration::from_secs(10),
            ..Default::default()
        });
        let t0 = Instant::now();
        assert_eq!(b.admit("x", t0, 0), Admission::Admitted);
        let opened = b.trip("x", "banned", t0, 0).expect("opens");
        assert_eq!(opened.state, CircuitBreakerState::Open);
        assert_eq!(b.trip("x", "banned again", t0, 0), None, "already open");
        assert_eq!(
            b.admit("x", t0 + Duration::from_secs(5), 0),
            Admission::Refused
        );
        assert!(matches!(
            b.admit("x", t0 + Duration::from_secs(11), 0),
            Admission::Probe(_)
        ));
    }

    #[test]
    fn consecutive_failures_open_then_one_probe_decides() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 3,
            cooldown: Duration::from_secs(10),
            ..Default::default()
        });
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.record("x", false, t0, 0), None);
        }
        assert_eq!(
            b.record("x", true, t0, 0),
            None,
            "a success resets the count"
        );
        for _ in 0..2 {
            b.record("x", false, t0, 0);
        }
        let opened = b.record("x", false, t0, 0).unwrap();
        assert_eq!(opened.reason, "3 consecutive failures");
        assert_eq!(state(&b), CircuitBreakerState::Open);
        assert_eq!(
            b.admit("x", t0 + Duration::from_secs(9), 0),
            Admission::Refused
        );

        let later = t0 + Duration::from_secs(10);
        assert!(matches!(b.admit("x", later, 0), Admission::Probe(_)));
        assert_eq!(state(&b), CircuitBreakerState::HalfOpen);
        assert_eq!(
            b.admit("x", later, 0),
            Admission::Refused,
            "one probe at a time"
        );
        assert_eq!(
            b.record("x", false, later, 0).unwrap().reason,
            "probe failed"
        );
        assert_eq!(
            b.admit("x", later, 0),
            Admission::Refused,
            "the cooldown starts again"
        );

        let again = later + Duration::from_secs(10);
        assert!(matches!(b.admit("x", again, 0), Admission::Probe(_)));
        assert_eq!(
            b.record("x", true, again, 0).unwrap().state,
            CircuitBreakerState::Closed
        );
        assert_eq!(b.admit("x", again, 0), Admission::Admitted);
    }

    #[test]
    fn a_failure_ratio_over_the_window_opens() {
        let b = breakers(BreakerConfig {
            consecutive_failures: 100,
            failure_ratio: 0.5,
            min_requests: 10,
            ..Default::default()
        });
        let now = Instant::now();
        let mut opened = None;
        for i in 0..10 {
            opened = b.record("x", i % 2 == 1, now, 0).or(opened);
        }
        assert!(
            opened.is_none(),
            "5 of 10 failed, but the tenth call succeeded"
        );
        let opened = b.record("x", false, now, 0).unwrap();
        assert_eq!(opened.reason, "6 of 11 calls failed within 1m");
    }

    #[test]
    fn a_manual_trip_waits_for_a_manual_reset() {
        let b = breakers(BreakerConfig {
            cooldown: Duration::ZERO,
            ..Default::default()
        });
        let tripped = b
            .transition("x", CircuitBreakerState::Open, "manual trip", 0)
            .unwrap();
        b.apply("x", tripped);
        assert_eq!(
            b.admit("x", Instant::now() + Duration::from_secs(3600), 0),
            Admission::Refused
        );
    }

    #[test]
    fn a_stored_state_no_value_has_does_not_load() {
        let open = r#"{"state":2,"consecutive_failures":1,"change_ms":5,"reason":"manual"}"#;
        let record: BreakerRecord = serde_json::from_str(open).unwrap();
        assert_eq!(record.state, CircuitBreakerState::Open);
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            open,
            "stored as its number"
        );
        let unknown = r#"{"state":999,"consecutive_failures":0,"change_ms":0,"reason":""}"#;
        let err = serde_json::from_str::<BreakerRecord>(unknown).unwrap_err();
        assert!(
            err.to_string().contains("state has no value numbered 999"),
            "{err}"
        );
    }
}

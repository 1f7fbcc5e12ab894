//! One circuit breaker per exchange. An open breaker makes orders to that
//! exchange fail fast. Operators trip and reset breakers through the admin
//! API; the state is persisted, so a manual trip survives a restart.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use serde::{Deserialize, Serialize};
use tradeplane_api::{CircuitBreaker, CircuitBreakerState};

use crate::{api_error::ApiError, proto_time::ms_to_timestamp};

/// A breaker's persisted state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerRecord {
    /// `CircuitBreakerState` number.
    pub state: i32,
    pub consecutive_failures: u32,
    pub change_ms: i64,
    pub reason: String,
}

impl Default for BreakerRecord {
    fn default() -> Self {
        Self {
            state: CircuitBreakerState::Closed as i32,
            consecutive_failures: 0,
            change_ms: 0,
            reason: String::new(),
        }
    }
}

/// The settings key a breaker is persisted under.
pub fn setting_key(exchange: &str) -> String {
    format!("circuit_breaker.{exchange}")
}

/// Every exchange's breaker.
pub struct CircuitBreakers {
    breakers: Arc<RwLock<BTreeMap<String, BreakerRecord>>>,
    transitions: Counter<u64>,
}

const STATES: [(CircuitBreakerState, &str); 3] = [
    (CircuitBreakerState::Closed, "closed"),
    (CircuitBreakerState::Open, "open"),
    (CircuitBreakerState::HalfOpen, "half_open"),
];

impl CircuitBreakers {
    /// Breakers for `exchanges`, restored from `stored` where present.
    pub fn new(exchanges: BTreeMap<String, Option<BreakerRecord>>, meter: &Meter) -> Self {
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
                    for (state, label) in STATES {
                        gauge.observe(
                            u64::from(record.state == state as i32),
                            &[
                                KeyValue::new("exchange", exchange.clone()),
                                KeyValue::new("state", label),
                            ],
                        );
                    }
                }
            })
            .build();
        let transitions = meter
            .u64_counter("tradeplane.circuit_breaker.transitions")
            .with_description("Breaker state changes, by exchange and new state")
            .build();
        Self {
            breakers,
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
            .and_then(|s| CircuitBreakerState::try_from(s).ok())
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
            state: state as i32,
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
        let label = STATES
            .iter()
            .find(|(s, _)| *s as i32 == record.state)
            .map_or("closed", |(_, l)| *l);
        self.transitions.add(
            1,
            &[
                KeyValue::new("exchange", exchange.to_string()),
                KeyValue::new("state", label),
            ],
        );
        let view = to_proto(exchange, &record);
        if let Ok(mut breakers) = self.breakers.write() {
            breakers.insert(exchange.to_string(), record);
        }
        view
    }
}

fn to_proto(exchange: &str, record: &BreakerRecord) -> CircuitBreaker {
    CircuitBreaker {
        exchange: exchange.to_string(),
        state: record.state,
        consecutive_failures: record.consecutive_failures,
        change_time: (record.change_ms > 0).then(|| ms_to_timestamp(record.change_ms)),
        reason: record.reason.clone(),
    }
}

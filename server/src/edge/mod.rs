//! The edges a stranger reaches, below the domains: how many connections
//! and requests each surface takes at once, how long a client may take to
//! send its headers, and what an over-limit caller is told (quickly).

pub mod grpc_incoming;
pub mod http_serve;
pub mod malformed;
pub mod shed;
pub mod watch_end;

use std::time::Duration;

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use serde::{Deserialize, Serialize};

/// Limits of the gRPC and HTTP ports (`[limits]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// Open connections the HTTP port keeps; one more is answered 503 and
    /// closed.
    pub http_max_connections: usize,
    /// How long an HTTP/1 client may take to send a request's headers,
    /// and how long a kept-alive connection may wait for the next one.
    #[serde(with = "humantime_serde")]
    pub http_header_read_timeout: Duration,
    /// How long an HTTP connection may stay open with no request in
    /// flight (HTTP/2 included) before it is closed gracefully.
    #[serde(with = "humantime_serde")]
    pub http_idle_timeout: Duration,
    /// HTTP requests handled at once; more are answered 503 with
    /// `Retry-After` (`/metrics`, `/healthz` and `/readyz` are exempt).
    pub http_max_in_flight: usize,
    /// gRPC calls handled at once; more are answered RESOURCE_EXHAUSTED
    /// with RetryInfo (health checks are exempt).
    pub grpc_max_in_flight: usize,
    /// Open connections the gRPC port keeps; one more is closed at once.
    pub grpc_max_connections: usize,
    /// How long a new gRPC connection may take to send its first byte.
    #[serde(with = "humantime_serde")]
    pub grpc_handshake_timeout: Duration,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            http_max_connections: 1024,
            http_header_read_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            http_max_in_flight: 512,
            grpc_max_in_flight: 1024,
            grpc_max_connections: 1024,
            grpc_handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl EdgeConfig {
    /// Checks that every limit lets something through.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("limits.http_max_connections", self.http_max_connections),
            ("limits.http_max_in_flight", self.http_max_in_flight),
            ("limits.grpc_max_in_flight", self.grpc_max_in_flight),
            ("limits.grpc_max_connections", self.grpc_max_connections),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err((field, "must be at least 1".into()));
        }
        let timeouts = [
            (
                "limits.http_header_read_timeout",
                self.http_header_read_timeout,
            ),
            ("limits.http_idle_timeout", self.http_idle_timeout),
            ("limits.grpc_handshake_timeout", self.grpc_handshake_timeout),
        ];
        if let Some((field, _)) = timeouts.iter().find(|(_, value)| value.is_zero()) {
            return Err((field, "must be positive".into()));
        }
        Ok(())
    }
}

/// Connections closed as soon as they were accepted on `surface`'s port
/// (exposed from the start, at zero).
fn refused_connections(meter: &Meter, surface: &'static str) -> (Counter<u64>, [KeyValue; 1]) {
    let counter = meter
        .u64_counter("tradeplane.overload.refused_connections")
        .with_description("Connections closed at once because the port had its limit open")
        .build();
    let attributes = [KeyValue::new("surface", surface)];
    counter.add(0, &attributes);
    (counter, attributes)
}

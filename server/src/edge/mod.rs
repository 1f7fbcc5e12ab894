//! The edges a stranger reaches, below the domains: how many connections
//! and requests each surface takes at once, how long a client may take to
//! send its headers, and what an over-limit caller is told (quickly).

pub mod http_serve;
pub mod shed;

use std::time::Duration;

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
    /// HTTP requests handled at once; more are answered 503 with
    /// `Retry-After` (`/metrics`, `/healthz` and `/readyz` are exempt).
    pub http_max_in_flight: usize,
    /// gRPC calls handled at once; more are answered RESOURCE_EXHAUSTED
    /// with RetryInfo (health checks are exempt).
    pub grpc_max_in_flight: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            http_max_connections: 1024,
            http_header_read_timeout: Duration::from_secs(10),
            http_max_in_flight: 512,
            grpc_max_in_flight: 1024,
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
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err((field, "must be at least 1".into()));
        }
        if self.http_header_read_timeout.is_zero() {
            return Err(("limits.http_header_read_timeout", "must be positive".into()));
        }
        Ok(())
    }
}

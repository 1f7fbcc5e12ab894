//! Logging and telemetry configuration.

use serde::{Deserialize, Serialize};

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A level, or levels by target, such as `info` or
    /// `info,tradeplane_server=debug` (`tracing_subscriber`'s `Targets`).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Switches for the cost of telemetry, so that it can be measured and, if
/// need be, turned down. Traces are sampled as `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG` say (checked at start).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Record metrics; when off every instrument is a no-op and
    /// `/metrics` serves the process metrics only.
    pub metrics: bool,
    /// Create spans (per call and per stage); when off no span is created,
    /// nothing is exported and stored trace ids are empty.
    pub spans: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            metrics: true,
            spans: true,
        }
    }
}

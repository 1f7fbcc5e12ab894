//! Telemetry: OpenTelemetry metrics exported to our own Prometheus registry
//! (with process metrics) for `GET /metrics`, structured logs carrying the
//! trace id, OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the
//! one tower layer that meters and traces every call.

mod layer;
mod logging;

use opentelemetry::{
    KeyValue,
    metrics::{Meter, MeterProvider},
};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider};
use prometheus::{Encoder, TextEncoder};

pub use layer::{CallTrace, TelemetryLayer};
pub use logging::{TracingGuard, init_tracing};

/// Histogram buckets in seconds, from 100 µs to 30 s (the SDK defaults are
/// millisecond-scale and useless for second-valued instruments).
pub const SECONDS_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The server's metric pipeline: one meter provider per server instance,
/// exporting into its own registry.
pub struct Telemetry {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    meter: Meter,
}

impl Telemetry {
    /// Builds the registry, the exporter and the meter, and records
    /// `tradeplane_build_info`.
    pub fn new() -> anyhow::Result<Self> {
        let registry = prometheus::Registry::new();
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()?;
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(Resource::builder().with_service_name("tradeplane").build())
            .build();
        let meter = provider.meter("tradeplane");
        meter
            .u64_gauge("tradeplane.build.info")
            .with_description("Build information; the value is always 1")
            .build()
            .record(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        Ok(Self {
            registry,
            provider,
            meter,
        })
    }

    /// The meter every domain creates its instruments from.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }

    /// Flushes and stops the meter provider.
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::debug!(error = %err, "meter provider shutdown");
        }
    }
}

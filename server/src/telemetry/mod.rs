//! Telemetry: OpenTelemetry metrics exported to our own Prometheus registry
//! (with process metrics) for `GET /metrics`, structured logs carrying the
//! trace id, OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the
//! one tower layer that meters and traces every call.

mod call_ids;
mod call_names;
pub mod config;
mod layer;
mod log_fields;
mod logging;
mod request_log;
mod sampler;

use opentelemetry::{
    KeyValue,
    metrics::{Meter, MeterProvider, noop::NoopMeterProvider},
};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider};
use prometheus::{Encoder, TextEncoder};

pub use layer::TelemetryLayer;
pub use logging::{TracingGuard, init_tracing, subscriber};
pub use sampler::sampler_from_env;

/// Where spans are exported to: `OTEL_EXPORTER_OTLP_ENDPOINT`, if set.
fn otlp_endpoint() -> Option<String> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()
}

/// What the process is, for spans and `target_info`: the standard
/// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, with the service
/// named `tradeplane` when neither names it.
pub fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name("tradeplane").build()
    }
}

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
    /// With `metrics` off every instrument is a no-op.
    pub fn new(metrics: bool) -> anyhow::Result<Self> {
        let registry = prometheus::Registry::new();
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()?;
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(resource())
            .build();
        let meter = if metrics {
            provider.meter("tradeplane")
        } else {
            NoopMeterProvider::new().meter("tradeplane")
        };
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

//! Process-wide tracing set-up: JSON or pretty logs that carry the trace id,
//! and OTLP trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use super::config::{LogConfig, LogFormat};

/// Keeps the tracer provider alive; [`TracingGuard::shutdown`] flushes spans.
pub struct TracingGuard {
    provider: SdkTracerProvider,
}

impl TracingGuard {
    /// Exports buffered spans and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("trace export shutdown: {err}");
        }
    }
}

/// Installs the global subscriber. Spans always get OpenTelemetry ids (so
/// logs and stored signals carry a trace id); they leave the process only
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub fn init_tracing(config: &LogConfig) -> anyhow::Result<TracingGuard> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("tradeplane").build());
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("tradeplane"));

    // The log level filters what is printed only: spans (and so trace ids
    // and OTLP export) do not depend on it.
    let log_filter = EnvFilter::try_new(&config.level)
        .map_err(|e| anyhow::anyhow!("invalid configuration key `log.level`: {e}"))?;
    let span_filter = EnvFilter::new("info");
    let registry = tracing_subscriber::registry().with(otel.with_filter(span_filter));
    match config.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(log_filter),
            )
            .try_init()?,
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_writer(std::io::stderr)
                    .with_filter(log_filter),
            )
            .try_init()?,
    }
    Ok(TracingGuard { provider })
}

//! Process-wide tracing set-up: JSON or pretty logs that carry the trace id,
//! and OTLP trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, LevelFilter, Targets, filter_fn},
    fmt::MakeWriter,
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use super::{
    config::{LogConfig, LogFormat, TelemetryConfig},
    log_fields::LogFields,
    sampler::sampler_from_env,
};

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

/// Installs the global subscriber (logs to stderr) built by [`subscriber`].
pub fn init_tracing(
    config: &LogConfig,
    telemetry: &TelemetryConfig,
) -> anyhow::Result<TracingGuard> {
    let (subscriber, guard) = subscriber(config, telemetry, std::io::stderr)?;
    subscriber.try_init()?;
    Ok(guard)
}

/// The tracing subscriber the server runs with, writing log lines to
/// `writer`. With `telemetry.spans` on, calls get OpenTelemetry ids (so
/// logs and stored signals carry a trace id), sampled as
/// `OTEL_TRACES_SAMPLER` says; spans leave the process, through
/// `tracing-opentelemetry`, only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set. With it off, no span is created.
pub fn subscriber<W>(
    config: &LogConfig,
    telemetry: &TelemetryConfig,
    writer: W,
) -> anyhow::Result<(impl Subscriber + Send + Sync + 'static, TracingGuard)>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let sampler = sampler_from_env(|name| std::env::var(name).ok())?;
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(super::resource());
    let endpoint = super::otlp_endpoint();
    let exporting = endpoint.is_some();
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    // Spans carry what their fields say. The busy/idle timing, thread,
    // target and source-location attributes are left off: they cost a clock
    // read on every poll of an instrumented future and five attributes per
    // span. Entering a span does not make its context OpenTelemetry's
    // current one (nothing here reads that; parents come from tracing's
    // own span tree): that was the largest piece of telemetry's time per
    // webhook call.
    let otel = tracing_opentelemetry::layer()
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_target(false)
        .with_location(false)
        .with_context_activation(false)
        .with_tracer(provider.tracer("tradeplane"));

    // The log level filters what is printed only: spans (and so trace ids
    // and OTLP export) do not depend on it. Both filters are static (a
    // level per target): an `EnvFilter` takes a lock on every span enter
    // and exit, to follow span-scoped directives, which were most of the
    // filters' cost per call.
    let log_filter: Targets = config
        .level
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid configuration key `log.level`: {e}"))?;
    let span_filter = LevelFilter::INFO;
    let spans = telemetry.spans;
    // Spans go through OpenTelemetry only when they leave the process;
    // otherwise a call's ids come from the SDK at the edge
    // (`layer.rs`), and spans stay tracing's own.
    let otel = (spans && exporting).then(|| otel.with_filter(span_filter));
    let log_filter = log_filter.and(filter_fn(move |meta| spans || meta.is_event()));
    let log = match config.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(
                tracing_subscriber::fmt::format()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .fmt_fields(LogFields::json())
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .fmt_fields(LogFields::text())
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(otel).with(log);
    Ok((subscriber, TracingGuard { provider }))
}

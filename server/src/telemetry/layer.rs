//! The one tower layer that wraps every gRPC service and every HTTP route:
//! a span per call (parented on an incoming W3C `traceparent`), an in-flight
//! gauge, and the OpenTelemetry semantic-convention duration histogram
//! (`rpc.server.call.duration` / `http.server.request.duration`), and a
//! log line per request (`request_log.rs`). A gRPC
//! status is read from the response headers (trailers-only responses) or,
//! when the body ends, from the trailers.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::extract::MatchedPath;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{
    Context as OtelContext, KeyValue,
    global::BoxedTracer,
    metrics::{Histogram, Meter, UpDownCounter},
    propagation::{Extractor, TextMapPropagator},
    trace::{Span as _, SpanBuilder, SpanContext, SpanKind, TraceContextExt, Tracer},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower::{Layer, Service};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::request_log::RequestLine;
use crate::observe::{CallTrace, SECONDS_BUCKETS};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

struct Instruments {
    protocol: Protocol,
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    propagator: TraceContextPropagator,
    /// The process's tracer while spans are on, for the call's ids when
    /// they are not exported (see [`call_span_context`]).
    tracer: Option<BoxedTracer>,
}

/// Meters and traces every call of the service it wraps.
#[derive(Clone)]
pub struct TelemetryLayer {
    instruments: Arc<Instruments>,
}

impl TelemetryLayer {
    /// The layer for tonic services; `spans`: `telemetry.spans`.
    pub fn grpc(meter: &Meter, spans: bool) -> Self {
        Self::new(
            meter,
            spans,
            Protocol::Grpc,
            "rpc.server.call.duration",
            "rpc.server.active_requests",
        )
    }

    /// The layer for the axum HTTP routes; `spans`: `telemetry.spans`.
    pub fn http(meter: &Meter, spans: bool) -> Self {
        Self::new(
            meter,
            spans,
            Protocol::Http,
            "http.server.request.duration",
            "http.server.active_requests",
        )
    }

    fn new(
        meter: &Meter,
        spans: bool,
        protocol: Protocol,
        duration: &'static str,
        active: &'static str,
    ) -> Self {
        let instruments = Instruments {
            protocol,
            duration: meter
                .f64_histogram(duration)
                .with_unit("s")
                .with_description("Duration of server calls")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(active)
                .with_description("Calls in flight")
                .build(),
            propagator: TraceContextPropagator::new(),
            tracer: spans.then(|| opentelemetry::global::tracer("tradeplane")),
        };
        Self {
            instruments: Arc::new(instruments),
        }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            instruments: self.instruments.clone(),
        }
    }
}

/// The service produced by [`TelemetryLayer`].
#[derive(Clone)]
pub struct TelemetryService<S> {
    inner: S,
    instruments: Arc<Instruments>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TelemetryService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let record = CallRecord::start(self.instruments.clone(), &mut request);
        let span = record.span.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            match tracing::Instrument::instrument(future, span).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let mut record = record;
                    record.status_from_headers(&parts.headers, parts.status);
                    Ok(Response::from_parts(
                        parts,
                        MeteredBody {
                            inner: body,
                            record: Some(record),
                        },
                    ))
                }
                Err(err) => {
                    let mut record = record;
                    record.outcome = Outcome::Failed("transport".into());
                    drop(record);
                    Err(err)
                }
            }
        })
    }
}

/// The call's span context, continuing `parent`: the exported span's when
/// spans go to an exporter; when they do not (spans are then tracing's
/// own, for the log lines), one that `tracer` (the SDK's sampler and id
/// generator) makes for the call alone, which costs a fraction of
/// building a span through `tracing-opentelemetry`; none when spans are
/// off.
fn call_span_context(
    span: &Span,
    parent: OtelContext,
    tracer: Option<&BoxedTracer>,
) -> SpanContext {
    let _ = span.set_parent(parent.clone());
    let bridged = span.context().span().span_context().clone();
    match tracer {
        Some(tracer) if !bridged.is_valid() => tracer
            .build_with_context(
                SpanBuilder::from_name("call").with_kind(SpanKind::Server),
                &parent,
            )
            .span_context()
            .clone(),
        _ => bridged,
    }
}

/// How a call ended, as far as is known.
enum Outcome {
    /// gRPC: body still streaming, status comes in trailers.
    Pending,
    Grpc(i32),
    Http(u16),
    Failed(String),
}

/// Accumulates one call's attributes and records it exactly once (when the
/// response body ends or is dropped).
struct CallRecord {
    instruments: Arc<Instruments>,
    attributes: Vec<KeyValue>,
    started: Instant,
    span: Span,
    outcome: Outcome,
    line: RequestLine,
}

impl CallRecord {
    fn start<B>(instruments: Arc<Instruments>, request: &mut Request<B>) -> Self {
        let parent = instruments
            .propagator
            .extract(&HeaderExtractor(request.headers()));
        let (span, attributes, named) = match instruments.protocol {
            Protocol::Grpc => {
                let method = request.uri().path().trim_start_matches('/').to_string();
                let span = tracing::info_span!(
                    "grpc",
                    otel.name = %method,
                    otel.kind = "server",
                    rpc.system.name = "grpc",
                    rpc.method = %method,
                    trace_id = tracing::field::Empty,
                );
                (
                    span,
                    vec![
                        KeyValue::new("rpc.system.name", "grpc"),
                        KeyValue::new("rpc.method", method.clone()),
                    ],
                    (method, None),
                )
            }
            Protocol::Http => {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "unmatched".into());
                let method = request.method().as_str().to_string();
                let span = tracing::info_span!(
                    "http",
                    otel.name = %format!("{method} {route}"),
                    otel.kind = "server",
                    http.request.method = %method,
                    http.route = %route,
                    trace_id = tracing::field::Empty,
                );
                (
                    span,
                    vec![
                        KeyValue::new("http.request.method", method.clone()),
                        KeyValue::new("http.route", route.clone()),
                    ],
                    (method, Some(route)),
                )
            }
        };
        let span_context = call_span_context(&span, parent, instruments.tracer.as_ref());
        let (trace_id, span_id, traceparent) = {
            if span_context.is_valid() {
                (
                    span_context.trace_id().to_string(),
                    span_context.span_id().to_string(),
                    format!(
                        "00-{}-{}-{:02x}",
                        span_context.trace_id(),
                        span_context.span_id(),
                        span_context.trace_flags().to_u8()
                    ),
                )
            } else {
                (String::new(), String::new(), String::new())
            }
        };
        let line = match named {
            (method, None) => RequestLine::grpc(&method, &trace_id, &span_id),
            (method, Some(route)) => RequestLine::http(&method, &route, &trace_id, &span_id),
        };
        if !trace_id.is_empty() {
            span.record("trace_id", trace_id.as_str());
        }
        request.extensions_mut().insert(CallTrace {
            trace_id,
            traceparent,
        });
        instruments.active.add(1, &attributes);
        Self {
            instruments,
            attributes,
            started: Instant::now(),
            span,
            outcome: Outcome::Pending,
            line,
        }
    }

    fn status_from_headers(&mut self, headers: &HeaderMap, status: http::StatusCode) {
        self.outcome = match self.instruments.protocol {
            Protocol::Http => Outcome::Http(status.as_u16()),
            Protocol::Grpc => grpc_status(headers).map_or(Outcome::Pending, Outcome::Grpc),
        };
    }

    fn status_from_trailers(&mut self, trailers: &HeaderMap) {
        if let Some(code) = grpc_status(trailers) {
            self.outcome = Outcome::Grpc(code);
        }
    }

    /// The body ended without trailers or was dropped early.
    fn ended_early(&mut self, dropped: bool) {
        if matches!(self.outcome, Outcome::Pending) {
            // 1 = CANCELLED (client went away), 2 = UNKNOWN (no status sent).
            self.outcome = Outcome::Grpc(if dropped { 1 } else { 2 });
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.ended_early(true);
        let mut attributes = std::mem::take(&mut self.attributes);
        // The gauge was raised with the call's attributes before any status
        // was known; lower it with the same ones.
        self.instruments.active.add(-1, &attributes);
        let (outcome, failed) = match &self.outcome {
            Outcome::Grpc(code) => {
                let name = grpc_code_name(*code);
                self.span.set_attribute("rpc.response.status_code", name);
                attributes.push(KeyValue::new("rpc.response.status_code", name));
                if *code != 0 {
                    attributes.push(KeyValue::new("error.type", name));
                }
                (name.to_string(), *code != 0)
            }
            Outcome::Http(code) => {
                self.span
                    .set_attribute("http.response.status_code", i64::from(*code));
                attributes.push(KeyValue::new("http.response.status_code", i64::from(*code)));
                if *code >= 500 {
                    attributes.push(KeyValue::new("error.type", code.to_string()));
                }
                (code.to_string(), *code >= 400)
            }
            Outcome::Failed(kind) => {
                attributes.push(KeyValue::new("error.type", kind.clone()));
                (kind.clone(), true)
            }
            Outcome::Pending => ("UNKNOWN".to_string(), true),
        };
        let latency = self.started.elapsed();
        self.instruments
            .duration
            .record(latency.as_secs_f64(), &attributes);
        self.line.write(&outcome, failed, latency);
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes its call's record when it ends.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        record: Option<CallRecord>,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(record)) = (frame.trailers_ref(), this.record.as_mut())
                {
                    record.status_from_trailers(trailers);
                    *this.record = None;
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take()
                    && matches!(record.outcome, Outcome::Pending)
                {
                    record.outcome = Outcome::Failed("body".into());
                }
            }
            Poll::Ready(None) => {
                if let Some(mut record) = this.record.take() {
                    record.ended_early(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// The canonical name of a gRPC status code, as the semantic conventions
/// want it in `rpc.response.status_code`.
fn grpc_code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

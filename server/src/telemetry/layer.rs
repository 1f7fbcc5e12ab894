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
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{
    KeyValue, Value,
    metrics::Meter,
    propagation::{Extractor, TextMapPropagator},
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower::{Layer, Service};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    call_ids::CallTracing,
    call_names::{CallMeters, CallName, CallNames, method_name},
    request_log::RequestLine,
};
use crate::observe::{CallTrace, SECONDS_BUCKETS};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

struct Instruments {
    protocol: Protocol,
    meters: CallMeters,
    propagator: TraceContextPropagator,
    tracing: CallTracing,
    names: CallNames,
}

/// Meters and traces every call of the service it wraps.
#[derive(Clone)]
pub struct TelemetryLayer {
    instruments: Arc<Instruments>,
}

impl TelemetryLayer {
    /// The layer for tonic services; `spans`: `telemetry.spans`. A bad
    /// `OTEL_TRACES_SAMPLER` is an error naming it.
    pub fn grpc(meter: &Meter, spans: bool) -> anyhow::Result<Self> {
        Self::new(
            meter,
            spans,
            Protocol::Grpc,
            "rpc.server.call.duration",
            "rpc.server.active_requests",
        )
    }

    /// The layer for the axum HTTP routes; `spans`: `telemetry.spans`.
    pub fn http(meter: &Meter, spans: bool) -> anyhow::Result<Self> {
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
    ) -> anyhow::Result<Self> {
        let instruments = Instruments {
            protocol,
            meters: CallMeters {
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
            },
            propagator: TraceContextPropagator::new(),
            tracing: CallTracing::from_env(spans)?,
            names: CallNames::default(),
        };
        Ok(Self {
            instruments: Arc::new(instruments),
        })
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
        let (record, span) = CallRecord::start(self.instruments.clone(), &mut request);
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
                    record.outcome = Outcome::Failed("transport");
                    drop(record);
                    Err(err)
                }
            }
        })
    }
}

/// How a call ended, as far as is known.
enum Outcome {
    /// gRPC: body still streaming, status comes in trailers.
    Pending,
    Grpc(i32),
    Http(StatusCode),
    Failed(&'static str),
}

/// Accumulates one call's attributes and records it exactly once (when the
/// response body ends or is dropped).
struct CallRecord {
    instruments: Arc<Instruments>,
    started: Instant,
    /// The call's span while spans are exported (it gets the status).
    exported: Option<Span>,
    outcome: Outcome,
    line: RequestLine,
}

impl CallRecord {
    /// Starts the record of `request` and opens its span, which the
    /// handler runs in. The call's trace goes into the request's
    /// extensions.
    fn start<B>(instruments: Arc<Instruments>, request: &mut Request<B>) -> (Self, Span) {
        let call = match instruments.protocol {
            Protocol::Grpc => {
                let path = request.uri().path().trim_start_matches('/');
                instruments
                    .names
                    .get(path, "POST", || CallName::grpc(path, &instruments.meters))
            }
            Protocol::Http => {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                let method = method_name(request.method());
                instruments.names.get(route, method, || {
                    CallName::http(method, route, &instruments.meters)
                })
            }
        };
        let parent = || {
            instruments
                .propagator
                .extract(&HeaderExtractor(request.headers()))
        };
        // Without an exporter the ids are known before the span is made,
        // and go into it at once; an exported span makes its own.
        let local = match &instruments.tracing {
            CallTracing::Local(ids) => Some(trace_of(&ids.start(&parent(), &call.name))),
            CallTracing::Off | CallTracing::Exported => None,
        };
        let trace_id = local.as_ref().map(CallTrace::trace_id);
        let span = match instruments.protocol {
            Protocol::Grpc => tracing::info_span!(
                "grpc",
                otel.name = %call.name,
                otel.kind = "server",
                rpc.system.name = "grpc",
                rpc.method = %call.target(),
                trace_id,
            ),
            Protocol::Http => tracing::info_span!(
                "http",
                otel.name = %call.name,
                otel.kind = "server",
                http.request.method = call.method,
                http.route = %call.target(),
                trace_id,
            ),
        };
        let (trace, exported) = match (&instruments.tracing, local) {
            (CallTracing::Exported, _) => {
                let _ = span.set_parent(parent());
                let trace = trace_of(span.context().span().span_context());
                span.record("trace_id", trace.trace_id());
                (trace, Some(span.clone()))
            }
            (_, local) => (local.unwrap_or_default(), None),
        };
        request.extensions_mut().insert(trace.clone());
        call.active.add(1);
        let record = Self {
            instruments,
            started: Instant::now(),
            exported,
            outcome: Outcome::Pending,
            line: RequestLine { call, trace },
        };
        (record, span)
    }

    fn status_from_headers(&mut self, headers: &HeaderMap, status: StatusCode) {
        self.outcome = match self.instruments.protocol {
            Protocol::Http => Outcome::Http(status),
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
        let call = &self.line.call;
        call.active.add(-1);
        let latency = self.started.elapsed();
        // What the log line says, the status attribute, whether the call
        // failed, and its `error.type`.
        let (outcome, status, failed, error) = match &self.outcome {
            Outcome::Grpc(code) => {
                let name = grpc_code_name(*code);
                let status = KeyValue::new("rpc.response.status_code", name);
                let error = (*code != 0).then_some(Value::from(name));
                (name, Some(status), *code != 0, error)
            }
            Outcome::Http(code) => {
                let status = KeyValue::new("http.response.status_code", i64::from(code.as_u16()));
                let error = code
                    .is_server_error()
                    .then(|| Value::from(code.as_str().to_string()));
                (code.as_str(), Some(status), code.as_u16() >= 400, error)
            }
            Outcome::Failed(kind) => (*kind, None, true, Some(Value::from(*kind))),
            Outcome::Pending => ("UNKNOWN", None, true, None),
        };
        if let (Some(span), Some(status)) = (&self.exported, &status) {
            span.set_attribute(status.key.clone(), status.value.clone());
        }
        let seconds = latency.as_secs_f64();
        let duration = &self.instruments.meters.duration;
        let succeeded =
            !failed && !matches!(self.outcome, Outcome::Http(code) if !code.is_success());
        let recorded = match &status {
            Some(status) if succeeded => call.record_success(status, duration, seconds),
            _ => false,
        };
        if !recorded {
            let mut attributes = call.attributes.to_vec();
            attributes.extend(status);
            attributes.extend(error.map(|value| KeyValue::new("error.type", value)));
            duration.record(seconds, &attributes);
        }
        self.line.write(outcome, failed, latency);
    }
}

/// The trace of a call whose span has `context` (none if it is invalid).
fn trace_of(context: &SpanContext) -> CallTrace {
    if context.is_valid() {
        CallTrace::new(
            context.trace_id().to_bytes(),
            context.span_id().to_bytes(),
            context.trace_flags().to_u8(),
        )
    } else {
        CallTrace::default()
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
                    record.outcome = Outcome::Failed("body");
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

//! OTLP traces end to end: the real binary exports to an OTLP/gRPC
//! collector served in the test (opentelemetry-proto's TraceService over
//! tonic). A webhook signal that triggers a pipeline is one trace from the
//! HTTP span to the exchange call; the trace survives a restart between
//! the acknowledgement and the execution; a client's `traceparent`
//! parents the server span; and `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` name the service in spans and `target_info`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value,
    trace::v1::Span,
};
use serde_json::json;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, Served, any_signal_pipeline, create_pipeline, eventually, serve_async,
    webhook_accepts,
};

/// Spans received, in arrival order, and the service names of the
/// resources that sent them.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    services: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let resource_spans = request.into_inner().resource_spans;
        let services = resource_spans
            .iter()
            .filter_map(|r| r.resource.as_ref())
            .flat_map(|r| &r.attributes)
            .filter(|a| a.key == "service.name")
            .filter_map(|a| match a.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(name) => Some(name.clone()),
                _ => None,
            });
        self.services.lock().expect("services").extend(services);
        let spans = resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().expect("spans").extend(spans);
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    async fn start() -> (Self, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let collector = Self::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        (collector, addr)
    }

    /// Waits until the trace holds a span of every name in `names`.
    async fn trace(&self, trace_id: &str, names: &[&str]) -> Vec<Span> {
        eventually(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || async {
                let spans: Vec<Span> = self
                    .spans
                    .lock()
                    .expect("spans")
                    .iter()
                    .filter(|s| hex::encode(&s.trace_id) == trace_id)
                    .cloned()
                    .collect();
                if names.iter().all(|n| spans.iter().any(|s| s.name == *n)) {
                    return Ok(spans);
                }
                let seen: Vec<_> = spans.iter().map(|s| s.name.clone()).collect();
                Err(format!("trace {trace_id} has {seen:?}, wants {names:?}"))
            },
        )
        .await
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no `{name}` span"))
}

/// The value of `span`'s attribute `key`, if it has one.
fn attribute(span: &Span, key: &str) -> Option<any_value::Value> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.clone()?.value)
}

/// Asserts that `child`'s parent is `parent`.
fn parented(spans: &[Span], child: &str, parent: &str) {
    assert_eq!(
        hex::encode(&named(spans, child).parent_span_id),
        hex::encode(&named(spans, parent).span_id),
        "`{child}` is a child of `{parent}`"
    );
}

async fn start_binary(data_dir: std::path::PathBuf, otlp: SocketAddr, workers: &str) -> Served {
    start_binary_with(data_dir, otlp, workers, &[]).await
}

async fn start_binary_with(
    data_dir: std::path::PathBuf,
    otlp: SocketAddr,
    workers: &str,
    extra: &[(&str, &str)],
) -> Served {
    let endpoint = format!("http://{otlp}");
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
        ("TRADEPLANE_PIPELINES__WORKERS", workers),
    ];
    env.extend_from_slice(extra);
    serve_async(&data_dir, &env).await
}

/// Submits a signal over gRPC as part of trace `trace_id` (its parent
/// span is `00f067aa0ba902b7`).
async fn submit_with_traceparent(served: &Served, trace_id: &str) {
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client");
    let mut request = Request::new(SubmitSignalRequest {
        symbol: "BTCUSDT".into(),
        action: "buy".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("metadata"),
    );
    client
        .signals()
        .submit_signal(request)
        .await
        .expect("SubmitSignal answers");
}

async fn create_traced_pipeline(served: &Served) {
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client");
    create_pipeline(&client, any_signal_pipeline("traced")).await;
}

async fn alert(served: &Served, trace_id: &str, parent: &str) {
    let traceparent = format!("00-{trace_id}-{parent}-01");
    webhook_accepts(
        &served.webhook_url(),
        &json!({"passphrase": PASSPHRASE, "ticker": "BTCUSDT", "action": "buy", "price": "50000"}),
        &[("traceparent", &traceparent)],
    )
    .await;
}

const HTTP: &str = "POST /webhooks/tradingview";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_signal_is_one_trace_from_the_http_span_to_the_exchange_call() {
    let (collector, otlp) = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let served = start_binary(dir.path().join("data"), otlp, "2").await;
    create_traced_pipeline(&served).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    alert(&served, trace_id, "b7ad6b7169203331").await;
    let spans = collector
        .trace(
            trace_id,
            &[
                HTTP,
                "signal.submit",
                "execution",
                "order.place",
                "exchange place",
            ],
        )
        .await;
    assert_eq!(
        hex::encode(&named(&spans, HTTP).parent_span_id),
        "b7ad6b7169203331",
        "the caller's traceparent parents the HTTP span"
    );
    let http = named(&spans, HTTP);
    assert_eq!(
        attribute(http, "http.response.status_code"),
        Some(any_value::Value::IntValue(202)),
        "{http:?}"
    );
    assert_eq!(
        attribute(http, "http.route"),
        Some(any_value::Value::StringValue(
            "/webhooks/tradingview".into()
        ))
    );
    parented(&spans, "signal.submit", HTTP);
    parented(&spans, "execution", HTTP);
    parented(&spans, "order.place", "execution");
    parented(&spans, "exchange place", "order.place");
    served.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_keeps_the_trace_across_a_restart() {
    let (collector, otlp) = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // This node only ingests: the execution waits in the queue.
    let ingest = start_binary(dir.path().join("data"), otlp, "0").await;
    create_traced_pipeline(&ingest).await;
    let trace_id = "5b8efff798038103d269b633813fc60c";
    alert(&ingest, trace_id, "eee19b7ec3c1b174").await;
    let before = collector.trace(trace_id, &[HTTP]).await;
    ingest.kill();

    let node = start_binary(dir.path().join("data"), otlp, "2").await;
    let spans = collector
        .trace(trace_id, &["execution", "order.place"])
        .await;
    assert_eq!(
        hex::encode(&named(&spans, "execution").parent_span_id),
        hex::encode(&named(&before, HTTP).span_id),
        "the execution, in another process, continues the webhook's span"
    );
    parented(&spans, "order.place", "execution");
    node.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_clients_traceparent_parents_the_server_span() {
    let (collector, otlp) = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let served = start_binary(dir.path().join("data"), otlp, "2").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    submit_with_traceparent(&served, trace_id).await;
    let name = "tradeplane.v1.SignalService/SubmitSignal";
    let spans = collector.trace(trace_id, &[name, "signal.submit"]).await;
    assert_eq!(
        hex::encode(&named(&spans, name).parent_span_id),
        "00f067aa0ba902b7"
    );
    assert_eq!(
        attribute(named(&spans, name), "rpc.response.status_code"),
        Some(any_value::Value::StringValue("OK".into()))
    );
    parented(&spans, "signal.submit", name);
    let services = collector.services.lock().expect("services").clone();
    assert!(services.iter().all(|s| s == "tradeplane"), "{services:?}");
    served.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_resource_variables_name_the_service_in_spans_and_target_info() {
    let (collector, otlp) = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let served = start_binary_with(
        dir.path().join("data"),
        otlp,
        "2",
        &[
            ("OTEL_SERVICE_NAME", "tradeplane-east"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging"),
        ],
    )
    .await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4736";
    submit_with_traceparent(&served, trace_id).await;
    collector.trace(trace_id, &["signal.submit"]).await;
    let services = collector.services.lock().expect("services").clone();
    assert!(
        !services.is_empty() && services.iter().all(|s| s == "tradeplane-east"),
        "{services:?}"
    );
    let metrics = reqwest::get(format!("{}/metrics", served.http))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let target_info = metrics
        .lines()
        .find(|line| line.starts_with("target_info{"))
        .unwrap_or_else(|| panic!("no target_info in {metrics}"));
    assert!(
        target_info.contains(r#"service_name="tradeplane-east""#)
            && target_info.contains(r#"deployment_environment="staging""#),
        "{target_info}"
    );
    served.kill();
}

//! The server as orchestrators and operators see it: health and readiness,
//! reflection, `/metrics`, and the contract's not-yet-implemented RPCs.

use std::time::Duration;

use futures::StreamExt;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_reflection::pb::{v1, v1alpha};
use tradeplane_api::SubmitSignalRequest;
use tradeplane_e2e::TestServer;

const SERVICES: [&str; 4] = [
    "tradeplane.v1.SignalService",
    "tradeplane.v1.OrderService",
    "tradeplane.v1.PipelineService",
    "tradeplane.v1.SecurityAdminService",
];

#[tokio::test]
async fn health_follows_the_kubernetes_convention() {
    let server = TestServer::start().await;
    let client = server.client().await;
    for service in ["", "readiness"].into_iter().chain(SERVICES) {
        let status = client.check(service).await.unwrap().status();
        assert_eq!(status, ServingStatus::Serving, "service {service:?}");
    }
    let unknown = client.check("no.such.Service").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    assert_eq!(
        reqwest::get(server.http_url("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.http_url("/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );

    // Readiness goes NOT_SERVING when shutdown begins.
    let mut watch = client
        .health()
        .watch(HealthCheckRequest {
            service: "readiness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let stopping = tokio::spawn(server.stop());
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    // Then the watch ends, instead of holding shutdown open.
    let end = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch ends at shutdown");
    match end {
        None => {}
        Some(Err(status)) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        Some(Ok(update)) => panic!("a watch update after NOT_SERVING: {update:?}"),
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn during_the_drain_delay_readyz_answers_503_before_the_ports_close() {
    let server = TestServer::start_with(|config| {
        config.drain_delay = Duration::from_secs(3);
    })
    .await;
    let readyz = server.http_url("/readyz");
    let grpc = server.grpc_addr.to_string();
    // Built now (the first call builds it), not while the delay runs.
    let tpctl = tradeplane_e2e::binary("tpctl");
    assert_eq!(reqwest::get(&readyz).await.unwrap().status(), 200);
    let stopping = tokio::spawn(server.stop());
    let status = tradeplane_e2e::eventually(
        Duration::from_secs(2),
        Duration::from_millis(20),
        || async {
            match reqwest::get(&readyz).await {
                Ok(reply) if reply.status() == 503 => Ok(reply.text().await.unwrap_or_default()),
                Ok(reply) => Err(format!("still {}", reply.status())),
                Err(err) => Err(format!("refused: {err}")),
            }
        },
    )
    .await;
    assert_eq!(status, "shutting down\n");
    // A probe such as Docker's HEALTHCHECK sees it in tpctl's exit code.
    let probe = tokio::process::Command::new(&tpctl)
        .args(["--server", &grpc, "health", "--service", "readiness"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "NOT_SERVING",
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert_eq!(probe.status.code(), Some(1));
    stopping.await.unwrap();
    assert!(
        reqwest::get(&readyz).await.is_err(),
        "closed after the delay"
    );
}

#[tokio::test]
async fn reflection_lists_every_service_in_both_versions() {
    let server = TestServer::start().await;
    let channel = server.channel().await;

    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }

    // v1alpha (older grpcurl) can describe a method's file.
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "tradeplane.v1.SignalService.SubmitSignal".into(),
            ),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    assert!(matches!(
        response.message_response,
        Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()
    ));
    server.stop().await;
}

#[tokio::test]
async fn reflection_describes_the_error_details_errors_carry() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    for symbol in [
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
        "google.rpc.RetryInfo",
        "google.rpc.Status",
    ] {
        let request = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()),
            ),
        };
        let mut responses = client
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.next().await.unwrap().unwrap();
        assert!(
            matches!(
                response.message_response,
                Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f))
                    if !f.file_descriptor_proto.is_empty()
            ),
            "{symbol}: {response:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn reflection_can_be_turned_off() {
    let server = TestServer::start_with(|c| c.reflection = false).await;
    let channel = server.channel().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let result = client
        .server_reflection_info(futures::stream::iter([request]))
        .await;
    assert_eq!(result.unwrap_err().code(), Code::Unimplemented);
    server.stop().await;
}

#[tokio::test]
async fn metrics_carry_rpc_http_and_signal_series_with_second_buckets() {
    let server = TestServer::start().await;
    let client = server.client().await;
    client
        .signals()
        .submit_signal(SubmitSignalRequest {
            symbol: "BTCUSDT".into(),
            action: "buy".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let _ = client
        .signals()
        .submit_signal(SubmitSignalRequest::default())
        .await
        .unwrap_err();
    client.check("").await.unwrap();
    // A streaming call's status arrives in trailers.
    let stream = futures::stream::iter([tradeplane_api::SubmitSignalsRequest { signal: None }]);
    let mut responses = client
        .signals()
        .submit_signals(stream)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        responses.next().await.unwrap().unwrap_err().code(),
        Code::InvalidArgument
    );
    drop(responses);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let metrics = server.metrics().await;
    let method = r#"rpc_method="tradeplane.v1.SignalService/SubmitSignal""#;
    let ok = format!(
        r#"rpc_server_call_duration_seconds_count{{{method},rpc_response_status_code="OK",rpc_system_name="grpc"}} 1"#
    );
    assert!(metrics.contains(&ok), "missing {ok} in\n{metrics}");
    let invalid = format!(
        r#"rpc_server_call_duration_seconds_count{{error_type="INVALID_ARGUMENT",{method},rpc_response_status_code="INVALID_ARGUMENT",rpc_system_name="grpc"}} 1"#
    );
    assert!(metrics.contains(&invalid), "missing {invalid}");
    assert!(metrics.contains(r#"rpc_method="tradeplane.v1.SignalService/SubmitSignals",rpc_response_status_code="INVALID_ARGUMENT""#), "trailer status");
    assert!(metrics.contains(r#"rpc_method="grpc.health.v1.Health/Check""#));
    for bucket in [r#"le="0.0001""#, r#"le="0.005""#, r#"le="1""#, r#"le="30""#] {
        assert!(metrics.contains(&format!("rpc_server_call_duration_seconds_bucket{{{method},rpc_response_status_code=\"OK\",rpc_system_name=\"grpc\",{bucket}}}")), "bucket {bucket}");
    }
    assert!(metrics.contains("rpc_server_active_requests"));
    assert!(metrics.contains(r#"tradeplane_signals_total{outcome="accepted",source="grpc"} 1"#));
    assert!(
        metrics.contains(
            r#"tradeplane_signal_rejections_total{reason="missing_field",source="grpc"} 1"#
        )
    );
    assert!(metrics.contains("tradeplane_signal_processing_duration_seconds_bucket"));
    assert!(metrics.contains("tradeplane_store_operation_duration_seconds_bucket"));
    assert!(metrics.contains(r#"tradeplane_build_info{version=""#));
    assert!(metrics.contains("process_resident_memory_bytes"));
    // The HTTP layer meters the scrape itself (visible on the next scrape).
    let metrics = server.metrics().await;
    assert!(metrics.contains(
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/metrics"}"#
    ));
    server.stop().await;
}

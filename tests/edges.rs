//! The ports under slow, greedy and too many clients: slow header senders
//! are cut while the webhook keeps answering, a full HTTP port turns
//! connections away with 503, and an overloaded gRPC port answers
//! RESOURCE_EXHAUSTED at once while health stays SERVING; idle connections
//! of either HTTP version are closed.

use std::time::Duration;

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_types::StatusExt;
use tradeplane_api::{ListOrdersRequest, OrderType, PlaceOrderRequest, Side};
use tradeplane_e2e::{
    PASSPHRASE, TestServer, error_reason, eventually,
    mock_binance::{Fault, MockBinance, Route},
    post_webhook,
};

/// How long a test waits for the server to cut or answer a connection.
const WITHIN: Duration = Duration::from_secs(15);

/// Opens a connection that starts a request and then sends its headers a
/// byte at a time, slowly (it never finishes them in time).
async fn slow_sender(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.http_addr).await.expect("connect");
    stream
        .write_all(b"POST /webhooks/tradingview HTTP/1.1\r\nHost: tradeplane\r\nX-Slow: ")
        .await
        .expect("write");
    stream
}

/// Whether the server closed `stream` (after any answer) within [`WITHIN`].
async fn closed_by_server(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WITHIN, async {
        loop {
            // Keep trickling: the connection is cut for being slow, not idle.
            let _ = stream.write_all(b"x").await;
            let mut buffer = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept a slow header sender open");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A webhook alert, distinct by `order_id`.
fn alert(order_id: &str) -> String {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": "buy",
        "contracts": "0.001",
        "order_id": order_id,
    })
    .to_string()
}

#[tokio::test]
async fn slow_header_senders_are_cut_while_webhooks_are_answered() {
    let server = TestServer::start_with(|config| {
        config.limits.http_header_read_timeout = Duration::from_secs(2);
        config.limits.http_max_connections = 64;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(slow_sender(&server).await);
    }
    // While they trickle, a normal caller is answered.
    let reply = post_webhook(&server.webhook_url(), alert("during"), &[]).await;
    assert_eq!(reply.status(), 202);
    for stream in &mut slow {
        closed_by_server(stream).await;
    }
    let reply = post_webhook(&server.webhook_url(), alert("after"), &[]).await;
    assert_eq!(reply.status(), 202, "the port is free again");
}

/// Everything the server sends on `stream` until it closes it, or `None`
/// if it is still open after [`WITHIN`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WITHIN, stream.read_to_end(&mut answer)).await;
    matches!(read, Ok(Ok(_))).then_some(answer)
}

/// The types of the HTTP/2 frames in `bytes`.
fn http2_frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let length =
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    types
}

#[tokio::test]
async fn idle_connections_of_either_http_version_are_closed() {
    let server = TestServer::start_with(|config| {
        config.limits.http_header_read_timeout = Duration::from_secs(60);
        config.limits.http_idle_timeout = Duration::from_secs(1);
    })
    .await;
    // HTTP/1.1: one request answered, the connection kept alive, then quiet.
    let mut http1 = TcpStream::connect(server.http_addr).await.expect("connect");
    http1
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tradeplane\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut http1)
        .await
        .expect("an idle HTTP/1 connection is closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // HTTP/2 with prior knowledge: the preface and settings, then quiet.
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
    const GOAWAY: u8 = 7;
    let mut http2 = TcpStream::connect(server.http_addr).await.expect("connect");
    http2.write_all(PREFACE).await.expect("write");
    http2.write_all(&EMPTY_SETTINGS).await.expect("write");
    let frames = read_until_closed(&mut http2)
        .await
        .expect("an idle HTTP/2 connection is closed");
    assert!(
        http2_frame_types(&frames).contains(&GOAWAY),
        "closed with GOAWAY: {frames:?}"
    );

    let reply = post_webhook(&server.webhook_url(), alert("after-idle"), &[]).await;
    assert_eq!(reply.status(), 202);
}

#[tokio::test]
async fn a_full_http_port_turns_connections_away_with_503() {
    let server = TestServer::start_with(|config| {
        config.limits.http_max_connections = 8;
        config.limits.http_header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(slow_sender(&server).await);
    }
    // Connections are accepted in order: the ninth finds the eight in.
    let mut extra = slow_sender(&server).await;
    let answer = closed_by_server(&mut extra).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    drop(held);
    let metrics = eventually(WITHIN, Duration::from_millis(100), || async {
        let reply = reqwest::get(server.http_url("/metrics")).await;
        reply
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(
        metrics.contains(r#"tradeplane_overload_refused_connections_total{surface="http"} 1"#),
        "metered"
    );
}

#[tokio::test]
async fn an_overloaded_grpc_port_answers_at_once_and_health_stays_serving() {
    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.binance.request_timeout = Duration::from_secs(10);
        config.limits.grpc_max_in_flight = 1;
    })
    .await;
    let client = server.client().await;
    // One call holds the only slot: Binance answers it after 3 s.
    mock.fail_next(Route::PlaceOrder, Fault::SlowAnswer(Duration::from_secs(3)));
    let slow_client = client.clone();
    let slow = tokio::spawn(async move {
        slow_client
            .orders()
            .place_order(PlaceOrderRequest {
                exchange: "binance".into(),
                symbol: "BTC/USDT".into(),
                side: Side::Buy as i32,
                r#type: OrderType::Market as i32,
                quantity: "0.001".into(),
                ..Default::default()
            })
            .await
    });
    // Binance has the order and holds its answer: the call is in flight.
    mock.wait_for_orders(1, WITHIN).await;
    let refused = client
        .orders()
        .list_orders(ListOrdersRequest::default())
        .await
        .expect_err("shed while the slot is taken");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(error_reason(&refused), "OVERLOADED");
    assert!(refused.get_details_retry_info().is_some(), "RetryInfo");
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let status = health
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers");
    assert_eq!(status.into_inner().status, ServingStatus::Serving as i32);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_overload_shed_total{surface="grpc"}"#),
        "metered"
    );

    slow.await
        .expect("joins")
        .expect("the slow order is placed");
    client
        .orders()
        .list_orders(ListOrdersRequest::default())
        .await
        .expect("answered once the slot is free");
}

#[tokio::test]
async fn the_grpc_port_bounds_its_connections_and_cuts_silent_ones() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const MAX: usize = 4;
    let server = TestServer::start_with(|config| {
        config.limits.grpc_max_connections = MAX;
        config.limits.grpc_handshake_timeout = Duration::from_secs(1);
    })
    .await;
    // Connections that start HTTP/2 are kept (the server answers with its
    // settings) until the port is full; the next is closed at once.
    let mut held = Vec::new();
    let refused = loop {
        assert!(held.len() <= MAX, "more than {MAX} connections kept");
        let mut stream = TcpStream::connect(server.grpc_addr).await.expect("connect");
        stream.write_all(PREFACE).await.expect("write");
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(WITHIN, stream.read(&mut buffer)).await;
        match read.expect("the server answers or closes") {
            Ok(0) | Err(_) => break held.len(),
            Ok(_) => held.push(stream),
        }
    };
    assert!(refused >= 1, "at least one connection was kept");
    drop(held);
    // Once the held connections are gone, the port answers again.
    eventually(WITHIN, Duration::from_millis(100), || async {
        let channel = tonic::transport::Channel::from_shared(server.grpc_url())
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        tonic_health::pb::health_client::HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    // A connection that never sends a byte is cut.
    let mut silent = TcpStream::connect(server.grpc_addr).await.expect("connect");
    assert!(
        read_until_closed(&mut silent).await.is_some(),
        "a silent connection stays open"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_overload_refused_connections_total{surface="grpc"}"#),
        "metered"
    );
}

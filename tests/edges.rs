//! The ports under slow, greedy and too many clients: slow header senders
//! are cut while the webhook keeps answering, a full HTTP port turns
//! connections away with 503, and an overloaded gRPC port answers
//! RESOURCE_EXHAUSTED at once while health stays SERVING.

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
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(server.grpc_url())
            .expect("url")
            .connect()
            .await
            .expect("connect"),
    );
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

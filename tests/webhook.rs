//! The TradingView webhook over real HTTP: every status code it promises,
//! its authentication, and that it shares the gRPC code path.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use tradeplane_api::SignalFilter;
use tradeplane_e2e::{PASSPHRASE, TestServer, list_signals, post_webhook};

/// The README's message template, as TradingView fills it in.
fn template() -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "strategy": "ema-cross",
        "ticker": "BTCUSDT",
        "exchange": "BINANCE",
        "action": "buy",
        "contracts": "0.0015",
        "price": "65000.5",
        "position_size": "0.0015",
        "market_position": "long",
        "order_id": "Long Entry",
        "comment": "",
        "interval": "15",
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

async fn post(
    server: &TestServer,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = post_webhook(
        &server.webhook_url(),
        body,
        &[("content-type", content_type)],
    )
    .await;
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn post_json(server: &TestServer, body: &Value) -> (StatusCode, Value) {
    post(server, "application/json", body.to_string()).await
}

#[tokio::test]
async fn the_template_is_accepted_then_recognized_as_a_duplicate() {
    let server = TestServer::start().await;
    let body = template();
    let (status, accepted) = post_json(&server, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["outcome"], "accepted");
    assert_eq!(accepted["symbol"], "BTC/USDT");

    // TradingView redelivers the same body after a timeout.
    let (status, duplicate) = post(&server, "text/plain; charset=utf-8", body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(duplicate["outcome"], "duplicate");
    assert_eq!(duplicate["signal_id"], accepted["signal_id"]);

    // Same code path: the gRPC API sees it, with source tradingview.
    let client = server.client().await;
    let tradingview = SignalFilter {
        source: "tradingview".into(),
        ..Default::default()
    };
    let signals = list_signals(&client, tradingview).await;
    assert_eq!(signals.len(), 1);
    let signal = &signals[0];
    assert_eq!(signal.id, accepted["signal_id"].as_str().unwrap());
    assert_eq!(
        (signal.quantity.as_str(), signal.price.as_str()),
        ("0.0015", "65000.5")
    );
    assert_eq!(signal.target_position, "0.0015");
    assert_eq!(signal.instrument.as_ref().unwrap().venue, "BINANCE");
    server.stop().await;
}

#[tokio::test]
async fn bare_numbers_work_like_quoted_ones() {
    let server = TestServer::start().await;
    let mut body = template();
    body["contracts"] = json!(2);
    body["price"] = serde_json::from_str("65000.25").unwrap();
    let (status, reply) = post_json(&server, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn bad_payloads_get_a_400_that_names_the_field() {
    let server = TestServer::start().await;

    let (status, reply) = post(&server, "text/plain", "BTCUSDT buy now").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["reason"], "INVALID_JSON");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let mut body = template();
    body["ticker"] = json!("{{ticker}}");
    body["contracts"] = json!("{{strategy.order.contracts}}");
    body["action"] = json!("hold");
    let (status, reply) = post_json(&server, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["outcome"], "rejected");
    let fields: Vec<&str> = reply["error"]["field_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ticker", "action", "contracts"], "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("placeholder")
    );

    let mut stale = template();
    stale["time"] = json!("2020-01-01T00:00:00Z");
    let (status, reply) = post_json(&server, &stale).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["reason"], "STALE");

    let metrics = server.metrics().await;
    for reason in [
        "invalid_json",
        "bad_symbol",
        "unknown_action",
        "not_a_number",
        "stale",
    ] {
        let line = format!(
            r#"tradeplane_signal_rejections_total{{reason="{reason}",source="tradingview"}} 1"#
        );
        assert!(metrics.contains(&line), "missing {line}");
    }
    server.stop().await;
}

#[tokio::test]
async fn authentication_failures_are_401_and_counted() {
    let server = TestServer::start().await;
    let mut body = template();
    body["passphrase"] = json!("guess");
    assert_eq!(post_json(&server, &body).await.0, StatusCode::UNAUTHORIZED);
    body.as_object_mut().unwrap().remove("passphrase");
    let (status, reply) = post_json(&server, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply["error"]["reason"], "MISSING_PASSPHRASE");
    let metrics = server.metrics().await;
    assert!(metrics.contains(
        r#"tradeplane_auth_failures_total{reason="bad_passphrase",surface="webhook"} 1"#
    ));
    assert!(metrics.contains(
        r#"tradeplane_auth_failures_total{reason="missing_passphrase",surface="webhook"} 1"#
    ));
    server.stop().await;
}

#[tokio::test]
async fn hmac_signed_bodies_need_no_passphrase() {
    let server = TestServer::start_with(|c| c.webhook.hmac_secret = "signing-key".into()).await;
    let mut body = template();
    body.as_object_mut().unwrap().remove("passphrase");
    body["source"] = json!("my-bot");
    let text = body.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"signing-key").unwrap();
    mac.update(text.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let url = server.webhook_url();
    let signed = [("x-signature", signature.as_str())];
    assert_eq!(
        post_webhook(&url, text.clone(), &signed).await.status(),
        StatusCode::ACCEPTED
    );
    let tampered = text.replace("0.0015", "15");
    assert_eq!(
        post_webhook(&url, tampered, &signed).await.status(),
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}

#[tokio::test]
async fn the_allowlist_refuses_other_addresses_and_ignores_forged_forwarding() {
    let server = TestServer::start_with(|c| c.webhook.tradingview_preset = true).await;
    let response = post_webhook(
        &server.webhook_url(),
        template().to_string(),
        &[("x-forwarded-for", "52.89.214.238")],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a forged X-Forwarded-For must not pass"
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"tradeplane_allowlist_rejections_total{surface="webhook"} 1"#));
    server.stop().await;

    let server =
        TestServer::start_with(|c| c.webhook.allowlist = vec!["127.0.0.0/8".parse().unwrap()])
            .await;
    assert_eq!(
        post_json(&server, &template()).await.0,
        StatusCode::ACCEPTED
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_mistyped_bodies() {
    let server = TestServer::start_with(|c| c.webhook.body_limit_bytes = 1024).await;
    let mut body = template();
    body["comment"] = json!("x".repeat(4096));
    assert_eq!(
        post_json(&server, &body).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let (status, reply) = post(
        &server,
        "application/x-www-form-urlencoded",
        template().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    server.stop().await;
}

#[tokio::test]
async fn only_a_store_outage_gives_a_503() {
    let server = TestServer::start().await;
    assert_eq!(
        post_json(&server, &template()).await.0,
        StatusCode::ACCEPTED
    );

    server.store().close().await;

    let mut body = template();
    body["order_id"] = json!("after the outage");
    let (status, reply) = post_json(&server, &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert_eq!(reply["error"]["reason"], "STORE_UNAVAILABLE");
    // A payload that is wrong stays a 400: its answer never needs the store.
    body["action"] = json!("hold");
    assert_eq!(post_json(&server, &body).await.0, StatusCode::BAD_REQUEST);
    // gRPC says UNAVAILABLE, and readiness drops.
    let client = server.client().await;
    let mut request = tradeplane_api::SubmitSignalRequest {
        symbol: "BTCUSDT".into(),
        action: "buy".into(),
        ..Default::default()
    };
    request.request_id = "outage".into();
    let status = client.signals().submit_signal(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let ready = reqwest::get(server.http_url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_chunk_is_a_bad_request_not_a_large_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .expect("connect");
    let request = "POST /webhooks/tradingview HTTP/1.1\r\nHost: tradeplane\r\n\
                   Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                   zz\r\n{}\r\n0\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("MALFORMED_BODY"), "{answer}");
    assert!(
        list_signals(&server.client().await, SignalFilter::default())
            .await
            .is_empty()
    );
}

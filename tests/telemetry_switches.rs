//! The telemetry switches, on the real binary: metrics off leaves only the
//! process metrics on `/metrics`, spans off stores no trace id, and a bad
//! `OTEL_TRACES_SAMPLER` fails the start naming the variable.

use std::process::Command;

use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{PASSPHRASE, Served, binary, serve_async};

/// A TradingView alert with a client `traceparent`; returns the signal id.
async fn alert(served: &Served) -> String {
    let body = json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": "buy",
        "price": "100",
        "order_id": "switches-1",
    });
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/tradingview", served.http))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&body)
        .send()
        .await
        .expect("webhook answers");
    assert_eq!(response.status(), 202);
    let answer: serde_json::Value = response.json().await.expect("json body");
    answer["signal_id"]
        .as_str()
        .expect("signal_id in the answer")
        .to_string()
}

async fn stored_signal(served: &Served, id: &str) -> Signal {
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("connect");
    client
        .signals()
        .get_signal(GetSignalRequest { id: id.to_string() })
        .await
        .expect("GetSignal")
        .into_inner()
        .signal
        .expect("signal")
}

async fn metrics_text(served: &Served) -> String {
    reqwest::get(format!("{}/metrics", served.http))
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn metrics_and_spans_switch_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
        ("TRADEPLANE_TELEMETRY__METRICS", "false"),
        ("TRADEPLANE_TELEMETRY__SPANS", "false"),
    ];
    let served = serve_async(&dir.path().join("off"), &env).await;
    let id = alert(&served).await;
    let signal = stored_signal(&served, &id).await;
    assert_eq!(signal.trace_id, "", "no span, so no trace id is stored");
    let text = metrics_text(&served).await;
    assert!(text.contains("process_cpu_seconds_total"), "{text}");
    assert!(!text.contains("tradeplane_"), "{text}");
    served.kill();

    // The same alert with the defaults: metered, and in the client's trace.
    let env = [("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE)];
    let served = serve_async(&dir.path().join("on"), &env).await;
    let id = alert(&served).await;
    let signal = stored_signal(&served, &id).await;
    assert_eq!(signal.trace_id, "0af7651916cd43dd8448eb211c80319c");
    let text = metrics_text(&served).await;
    assert!(text.contains("tradeplane_signals_total"), "{text}");
    served.kill();
}

#[test]
fn an_unknown_trace_sampler_fails_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(binary("tradeplane"))
        .args(["serve", "--grpc-listen", "127.0.0.1:0", "--http-listen"])
        .args(["127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("OTEL_TRACES_SAMPLER", "sometimes")
        .output()
        .expect("tradeplane runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OTEL_TRACES_SAMPLER `sometimes`"), "{err}");
}

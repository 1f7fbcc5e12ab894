//! The telemetry switches, on the real binary: metrics off leaves only the
//! process metrics on `/metrics`, spans off stores no trace id (on, with
//! nothing to export spans to, a call still continues its client's trace
//! or starts its own), and a bad
//! `OTEL_TRACES_SAMPLER` fails the start naming the variable.

use std::process::Command;

use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{PASSPHRASE, Served, binary, serve_async};

/// The trace id of [`CLIENT_TRACEPARENT`].
const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A TradingView alert `order_id`, in the client's trace when `traceparent`
/// is given; returns the signal id.
async fn alert(served: &Served, order_id: &str, traceparent: Option<&str>) -> String {
    let body = json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": "buy",
        "price": "100",
        "order_id": order_id,
    });
    let mut request = reqwest::Client::new()
        .post(format!("{}/webhooks/tradingview", served.http))
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("webhook answers");
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
    let id = alert(&served, "switches-1", Some(CLIENT_TRACEPARENT)).await;
    let signal = stored_signal(&served, &id).await;
    assert_eq!(signal.trace_id, "", "no span, so no trace id is stored");
    let text = metrics_text(&served).await;
    assert!(text.contains("process_cpu_seconds_total"), "{text}");
    assert!(!text.contains("tradeplane_"), "{text}");
    served.kill();

    // The same alert with the defaults (spans on, no exporter): metered,
    // and in the client's trace; without one, in a trace of its own.
    let env = [("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE)];
    let served = serve_async(&dir.path().join("on"), &env).await;
    let id = alert(&served, "switches-1", Some(CLIENT_TRACEPARENT)).await;
    let signal = stored_signal(&served, &id).await;
    assert_eq!(signal.trace_id, CLIENT_TRACE);
    let id = alert(&served, "switches-2", None).await;
    let own = stored_signal(&served, &id).await.trace_id;
    assert!(
        own.len() == 32
            && own.chars().all(|c| c.is_ascii_hexdigit())
            && own.chars().any(|c| c != '0')
            && own != CLIENT_TRACE,
        "a trace of its own: `{own}`"
    );
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

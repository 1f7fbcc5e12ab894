//! Posting to the TradingView webhook over real HTTP.

use std::time::Duration;

use reqwest::{Body, Response};
use serde_json::{Value, json};
use tradeplane_api::{Execution, ExecutionFilter, ExecutionStatus, ListExecutionsRequest};
use tradeplane_client::Client;

use crate::{PASSPHRASE, TestServer, eventually, finished};

/// The webhook's path on the HTTP port.
pub(crate) const WEBHOOK_PATH: &str = "/webhooks/tradingview";

/// POSTs `body` to the webhook at `url` with `headers`; the content type is
/// JSON unless `headers` name another. Fails the test if nothing answers.
pub async fn post_webhook(url: &str, body: impl Into<Body>, headers: &[(&str, &str)]) -> Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("webhook call")
}

/// The body of a strategy alert whose message is the README's template,
/// as TradingView fills it in for `ticker` at `price`:
/// `{{strategy.order.action}}`, `{{strategy.order.contracts}}`,
/// `{{strategy.market_position}}` and `{{strategy.position_size}}`
/// substituted.
pub fn template_alert(
    (ticker, price): (&str, &str),
    action: &str,
    contracts: &str,
    market_position: &str,
    size: &str,
) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "strategy": "ema-cross",
        "ticker": ticker,
        "exchange": "BINANCE",
        "action": action,
        "contracts": contracts,
        "price": price,
        "position_size": size,
        "market_position": market_position,
        "order_id": format!("{action} to {market_position}"),
        "comment": "",
        "interval": "15",
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

/// POSTs a JSON alert and fails the test unless it is acknowledged (202).
pub async fn webhook_accepts(url: &str, alert: &Value, headers: &[(&str, &str)]) {
    let reply = post_webhook(url, alert.to_string(), headers).await;
    assert_eq!(reply.status(), 202, "the webhook acknowledges the alert");
}

/// Posts `body`, which must be accepted; returns the execution it started
/// once it has ended.
pub async fn deliver(server: &TestServer, client: &Client, body: &Value) -> Execution {
    let [one] = deliver_to(server, client, body, 1)
        .await
        .try_into()
        .expect("one execution");
    one
}

/// Posts `body`, which must be accepted and start one execution that
/// succeeds; returns it.
pub async fn deliver_ok(server: &TestServer, client: &Client, body: &Value) -> Execution {
    let execution = deliver(server, client, body).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{body}: {execution:?}"
    );
    execution
}

/// Posts `body`, which must be accepted and start `count` executions (one
/// per matching pipeline); returns them once each has ended, by pipeline
/// name.
pub async fn deliver_to(
    server: &TestServer,
    client: &Client,
    body: &Value,
    count: usize,
) -> Vec<Execution> {
    let reply = post_webhook(&server.webhook_url(), body.to_string(), &[]).await;
    assert_eq!(reply.status(), 202, "the webhook accepts {body}");
    let reply: Value = reply.json().await.expect("a JSON answer");
    let signal_id = reply["signal_id"]
        .as_str()
        .expect("a signal id")
        .to_string();
    let started = eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            let executions = client
                .pipelines()
                .list_executions(ListExecutionsRequest {
                    filter: Some(ExecutionFilter {
                        signal_id: signal_id.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .expect("ListExecutions answers")
                .into_inner()
                .executions;
            if executions.len() == count {
                Ok(executions)
            } else {
                Err(format!("signal {signal_id} started {executions:?}"))
            }
        },
    )
    .await;
    let mut ended = Vec::with_capacity(count);
    for execution in started {
        ended.push(finished(client, &execution.id).await);
    }
    ended.sort_by(|a, b| a.pipeline_name.cmp(&b.pipeline_name));
    ended
}

/// Posts `body` and returns the webhook's refusal (a 400).
pub async fn refused(server: &TestServer, body: &Value) -> Value {
    let reply = post_webhook(&server.webhook_url(), body.to_string(), &[]).await;
    assert_eq!(reply.status(), 400, "the webhook refuses {body}");
    reply.json().await.expect("a JSON answer")
}

/// A TradingView alert for the perpetual `BTCUSDT.P`.
pub fn perpetual_alert(action: &str, price: &str) -> Value {
    serde_json::json!({
        "passphrase": crate::PASSPHRASE,
        "ticker": "BTCUSDT.P",
        "exchange": "BINANCE",
        "action": action,
        "price": price,
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

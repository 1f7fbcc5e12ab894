//! Posting to the TradingView webhook over real HTTP.

use reqwest::{Body, Response};
use serde_json::Value;

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

/// POSTs a JSON alert and fails the test unless it is acknowledged (202).
pub async fn webhook_accepts(url: &str, alert: &Value, headers: &[(&str, &str)]) {
    let reply = post_webhook(url, alert.to_string(), headers).await;
    assert_eq!(reply.status(), 202, "the webhook acknowledges the alert");
}

//! Calls to the Telegram Bot API for the commands' bot: `getUpdates`,
//! `setWebhook` and `answerCallbackQuery`, as JSON, with errors that name
//! the method and never the token.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;

use crate::orders::exchanges::transport::{HttpsClient, USER_AGENT, exchange, https_client};

/// How long a `getUpdates` long poll waits for an update.
pub(super) const POLL_SECONDS: u64 = 25;
/// The kinds of update the bot reads.
pub(super) const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];

/// A Bot API call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BotApiError {
    /// The HTTP status, when Telegram answered.
    pub status: Option<StatusCode>,
    pub message: String,
}

impl std::fmt::Display for BotApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The bot's side of the Bot API.
pub(super) struct BotApi {
    base_url: String,
    bot_token: String,
    http: HttpsClient<Full<Bytes>>,
}

impl BotApi {
    /// The API at `base_url` for the bot with `bot_token`.
    pub fn new(base_url: &str, bot_token: &str) -> Result<Self, String> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            bot_token: bot_token.to_string(),
            http: https_client(Duration::from_secs(POLL_SECONDS + 10))?,
        })
    }

    /// Calls the Bot API method `method`; returns its `result`.
    pub async fn call(&self, method: &str, body: Value) -> Result<Value, BotApiError> {
        let failed = |status, message| BotApiError { status, message };
        let url = format!("{}/bot{}/{method}", self.base_url, self.bot_token);
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| failed(None, format!("cannot build the {method} request")))?;
        let timeout = Duration::from_secs(POLL_SECONDS + 10);
        let (head, body) = exchange(&self.http, request, timeout, "telegram")
            .await
            .map_err(|_| failed(None, format!("telegram did not answer {method}")))?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| failed(Some(head.status), format!("{method}: not JSON")))?;
        match answer["ok"].as_bool() {
            Some(true) => Ok(answer["result"].clone()),
            _ => Err(failed(
                Some(head.status),
                format!(
                    "{method}: {} {}",
                    head.status,
                    answer["description"].as_str().unwrap_or_default()
                ),
            )),
        }
    }
}

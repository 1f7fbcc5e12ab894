//! OKX's v5 REST API as a transport: `OK-ACCESS-SIGN` (base64 HMAC-SHA256
//! of timestamp, method, path with query, and body), the timestamp on
//! OKX's clock (learned from `/api/v5/public/time`), `expTime` so that a
//! request can only be accepted within the receive window, demo trading
//! unless live, and every answer classified as a [`Failure`] the
//! connector can act on: never "not sent" for "sent, outcome unknown".

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, de::DeserializeOwned};
use sha2::Sha256;

/// The failures this transport classifies its answers into.
pub use crate::orders::exchanges::failure::Failure;
use crate::{
    orders::exchanges::transport::{
        Backoff, HttpsClient, USER_AGENT, Unanswered, VenueClock, exchange, https_client,
        secret_header,
    },
    proto_time::now_ms,
};

/// OKX's rate-limit window: limits are counted per 2 seconds.
const WINDOW: Duration = Duration::from_secs(2);
/// Requests per window of the tightest limit an order takes (placing,
/// 60 per 2 s per instrument); OKX sends no usage headers, so use is
/// counted here.
pub const REQUESTS_PER_WINDOW: u64 = 60;

/// OKX's answer envelope.
#[derive(Deserialize)]
struct Envelope {
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// The per-order status inside `data` of trading endpoints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemStatus {
    #[serde(default)]
    s_code: String,
    #[serde(default)]
    s_msg: String,
}

#[derive(Deserialize)]
struct ServerTime {
    ts: String,
}

struct Usage {
    window_start: Instant,
    used: u64,
}

/// One account's credentials and environment.
pub struct Credentials<'a> {
    pub api_key: &'a str,
    pub api_secret: &'a str,
    pub passphrase: &'a str,
    /// Sends `x-simulated-trading: 1` (demo trading) when false.
    pub live: bool,
}

/// A signed-REST client for one OKX account.
pub struct Rest {
    http: HttpsClient<Full<Bytes>>,
    timeout: Duration,
    base_url: String,
    api_key: HeaderValue,
    passphrase: HeaderValue,
    mac: Hmac<Sha256>,
    demo: bool,
    recv_window_ms: i64,
    clock: VenueClock,
    usage: Mutex<Usage>,
    backoff: Backoff,
}

impl Rest {
    /// A client of `base_url` for the account.
    pub fn new(
        base_url: &str,
        credentials: &Credentials<'_>,
        recv_window: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            http: https_client(timeout)?,
            timeout,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: secret_header(credentials.api_key, "API key")?,
            passphrase: secret_header(credentials.passphrase, "passphrase")?,
            mac: Hmac::<Sha256>::new_from_slice(credentials.api_secret.as_bytes())
                .map_err(|e| format!("unusable API secret: {e}"))?,
            demo: !credentials.live,
            recv_window_ms: i64::try_from(recv_window.as_millis()).unwrap_or(5_000),
            clock: VenueClock::default(),
            usage: Mutex::new(Usage {
                window_start: Instant::now(),
                used: 0,
            }),
            backoff: Backoff::default(),
        })
    }

    /// Requests sent in the current 2-second window, and the cap.
    pub fn usage(&self) -> (u64, u64) {
        let used = self
            .usage
            .lock()
            .map(|u| {
                if u.window_start.elapsed() < WINDOW {
                    u.used
                } else {
                    0
                }
            })
            .unwrap_or(0);
        (used, REQUESTS_PER_WINDOW)
    }

    /// Now, on OKX's clock as far as we know it.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// How long after signing OKX may accept a request (`expTime`).
    pub fn recv_window_ms(&self) -> i64 {
        self.recv_window_ms
    }

    /// An unsigned GET; returns `data`.
    pub async fn public<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<T>, Failure> {
        let path = with_query(path, params);
        self.send(Method::GET, &path, String::new(), None).await
    }

    /// A signed request: `params` go in the query of a GET, `body` is the
    /// JSON of a POST. Returns the timestamp it was signed at with the
    /// result: OKX can only accept it until that plus the receive window.
    pub async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> (i64, Result<Vec<T>, Failure>) {
        if let Err(failure) = self.ensure_clock().await {
            return (self.server_now_ms(), Err(failure));
        }
        let path = with_query(path, params);
        let body = body.map(ToString::to_string).unwrap_or_default();
        let mut resynced = false;
        loop {
            let timestamp = self.server_now_ms();
            let result = self
                .send(method.clone(), &path, body.clone(), Some(timestamp))
                .await;
            // 50102: the timestamp or `expTime` was refused unseen, so
            // re-learning the clock and sending again duplicates nothing.
            if matches!(result, Err(Failure::Refused { code: 50102, .. })) && !resynced {
                resynced = true;
                if self.sync_clock().await.is_ok() {
                    continue;
                }
            }
            return (timestamp, result);
        }
    }

    async fn ensure_clock(&self) -> Result<(), Failure> {
        if self.clock.is_fresh() {
            return Ok(());
        }
        self.sync_clock().await
    }

    /// Learns the offset of OKX's clock from ours, assuming the answer was
    /// stamped halfway through the round trip.
    pub async fn sync_clock(&self) -> Result<(), Failure> {
        let sent = now_ms();
        let time: Vec<ServerTime> = self.public("/api/v5/public/time", &[]).await?;
        let received = now_ms();
        let server: i64 = time
            .first()
            .and_then(|t| t.ts.parse().ok())
            .ok_or_else(|| Failure::NoAnswer("OKX's server time is unreadable".into()))?;
        self.clock.learn("OKX", server, sent, received);
        Ok(())
    }

    /// Sends one request, signed when `timestamp` is given.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: String,
        timestamp: Option<i64>,
    ) -> Result<Vec<T>, Failure> {
        if let Some(why) = self.backoff.refusal("OKX") {
            return Err(Failure::NotSent(why));
        }
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base_url))
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::CONTENT_TYPE, "application/json");
        if self.demo {
            request = request.header("x-simulated-trading", "1");
        }
        if let Some(timestamp) = timestamp {
            let stamp = iso_timestamp(timestamp);
            let mut mac = self.mac.clone();
            mac.update(format!("{stamp}{method}{path}{body}").as_bytes());
            let sign =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            request = request
                .header("OK-ACCESS-KEY", self.api_key.clone())
                .header("OK-ACCESS-SIGN", sign)
                .header("OK-ACCESS-TIMESTAMP", stamp)
                .header("OK-ACCESS-PASSPHRASE", self.passphrase.clone())
                .header("expTime", (timestamp + self.recv_window_ms).to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::NotSent(format!("cannot build the request: {e}")))?;
        self.count_request();
        let (head, body) = exchange(&self.http, request, self.timeout, "OKX")
            .await
            .map_err(|lost| match lost {
                Unanswered::NotSent(why) => Failure::NotSent(why),
                Unanswered::NoAnswer(why) => Failure::NoAnswer(why),
            })?;
        let status = head.status;
        self.classify(status, &body)
    }

    /// An answer as `data`, or the failure it reports.
    fn classify<T: DeserializeOwned>(
        &self,
        status: StatusCode,
        body: &[u8],
    ) -> Result<Vec<T>, Failure> {
        if status == StatusCode::FORBIDDEN {
            self.backoff.hold(Duration::from_secs(60));
            return Err(Failure::Banned(
                "OKX refused this address (HTTP 403)".into(),
            ));
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
            return Err(if status.is_success() || status.is_server_error() {
                Failure::NoAnswer(format!("unreadable answer from OKX (HTTP {status})"))
            } else {
                Failure::Refused {
                    code: 0,
                    message: format!("HTTP {status}"),
                }
            });
        };
        if envelope.code == "0" {
            return serde_json::from_value(envelope.data)
                .map_err(|e| Failure::NoAnswer(format!("unreadable answer from OKX: {e}")));
        }
        // A trading endpoint's refusal carries the reason per order.
        let item = serde_json::from_value::<Vec<ItemStatus>>(envelope.data)
            .ok()
            .and_then(|items| items.into_iter().next())
            .filter(|item| !item.s_code.is_empty() && item.s_code != "0");
        let (code, message) = match item {
            Some(item) => (item.s_code, item.s_msg),
            None => (envelope.code, envelope.msg),
        };
        let Ok(code) = code.parse::<i64>() else {
            return Err(Failure::NoAnswer(format!(
                "OKX answered an unreadable code `{code}`: {message}"
            )));
        };
        match code {
            50011 | 50061 => {
                self.backoff.hold(WINDOW);
                Err(Failure::RateLimited {
                    retry_after: WINDOW,
                })
            }
            50100 => Err(Failure::Banned(format!(
                "OKX froze the API key (50100: {message})"
            ))),
            50001 | 50004 | 50013 | 50026 => {
                Err(Failure::NoAnswer(format!("OKX {code}: {message}")))
            }
            _ if status.is_server_error() => Err(Failure::NoAnswer(format!(
                "OKX {code} (HTTP {status}): {message}"
            ))),
            _ => Err(Failure::Refused { code, message }),
        }
    }

    fn count_request(&self) {
        if let Ok(mut usage) = self.usage.lock() {
            if usage.window_start.elapsed() >= WINDOW {
                usage.window_start = Instant::now();
                usage.used = 0;
            }
            usage.used += 1;
        }
    }
}

/// `2020-12-08T09:08:57.715Z`: ISO 8601, UTC, milliseconds.
pub fn iso_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `path?query`, the exact text signed and sent.
fn with_query(path: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_with_milliseconds() {
        assert_eq!(iso_timestamp(1_607_418_537_715), "2020-12-08T09:08:57.715Z");
        assert_eq!(
            with_query("/api/v5/trade/order", &[("instId", "BTC-USDT".into())]),
            "/api/v5/trade/order?instId=BTC-USDT"
        );
    }
}

//! Binance's REST API as a transport: HMAC-SHA256 signatures over the query
//! string, `timestamp` on the server's clock (the offset is learned from
//! the market's time endpoint), the request weight Binance reports, and the back-off a
//! 429 or 418 asks for. Every answer is classified as a [`Failure`] the
//! connector can act on: the one thing it must never confuse is "not sent"
//! with "sent, outcome unknown".

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Empty;
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

/// The wait a 429 or 418 implies when it carries no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Binance's default request-weight cap per minute, until `exchangeInfo`
/// says otherwise.
pub const DEFAULT_WEIGHT_LIMIT: u64 = 6000;

/// Binance's error body.
#[derive(Deserialize)]
struct ErrorBody {
    code: i64,
    msg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: i64,
}

/// A signed-REST client for one Binance account.
pub struct Rest {
    http: HttpsClient<Empty<Bytes>>,
    timeout: Duration,
    base_url: String,
    /// The market's server-time endpoint.
    time_path: &'static str,
    api_key: HeaderValue,
    mac: Hmac<Sha256>,
    recv_window_ms: i64,
    clock: VenueClock,
    used_weight: AtomicU64,
    weight_limit: AtomicU64,
    /// No request leaves while it holds (after a 429 or 418).
    backoff: Backoff,
}

impl Rest {
    /// A client of `base_url` with the account's key and secret, learning
    /// Binance's clock from `time_path`.
    pub fn new(
        (base_url, time_path): (&str, &'static str),
        api_key: &str,
        api_secret: &str,
        recv_window: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        let api_key = secret_header(api_key, "API key")?;
        let mac = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes())
            .map_err(|e| format!("unusable API secret: {e}"))?;
        Ok(Self {
            http: https_client(timeout)?,
            timeout,
            base_url: base_url.trim_end_matches('/').to_string(),
            time_path,
            api_key,
            mac,
            recv_window_ms: i64::try_from(recv_window.as_millis()).unwrap_or(60_000),
            clock: VenueClock::default(),
            used_weight: AtomicU64::new(0),
            weight_limit: AtomicU64::new(DEFAULT_WEIGHT_LIMIT),
            backoff: Backoff::default(),
        })
    }

    /// The request weight used in the current minute, and its cap.
    pub fn weight(&self) -> (u64, u64) {
        (
            self.used_weight.load(Ordering::Relaxed),
            self.weight_limit.load(Ordering::Relaxed),
        )
    }

    /// Sets the weight cap `exchangeInfo` reported.
    pub fn set_weight_limit(&self, limit: u64) {
        self.weight_limit.store(limit, Ordering::Relaxed);
    }

    /// Now, on Binance's clock as far as we know it.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The `recvWindow` every signed request carries.
    pub fn recv_window_ms(&self) -> i64 {
        self.recv_window_ms
    }

    /// An unsigned GET.
    pub async fn public<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, Failure> {
        let query = encode(params);
        let url = if query.is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{query}", self.base_url)
        };
        self.send(Method::GET, url, false).await
    }

    /// A signed request. Returns the `timestamp` it carried with the
    /// result: a request Binance may have received can only be accepted
    /// until that timestamp plus `recvWindow` on its clock.
    pub async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> (i64, Result<T, Failure>) {
        if let Err(failure) = self.ensure_clock().await {
            return (self.server_now_ms(), Err(failure));
        }
        let mut resynced = false;
        loop {
            let timestamp = self.server_now_ms();
            let mut query = encode(params);
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!(
                "timestamp={timestamp}&recvWindow={}",
                self.recv_window_ms
            ));
            let mut mac = self.mac.clone();
            mac.update(query.as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            let url = format!("{}{path}?{query}&signature={signature}", self.base_url);
            let result = self.send(method.clone(), url, true).await;
            // -1021: the timestamp fell outside the window. Binance refused
            // the request unseen, so re-learning the clock and sending it
            // again cannot duplicate anything.
            if matches!(result, Err(Failure::Refused { code: -1021, .. })) && !resynced {
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

    /// Learns the offset of Binance's clock from ours, assuming the answer
    /// was stamped halfway through the round trip.
    pub async fn sync_clock(&self) -> Result<(), Failure> {
        let sent = now_ms();
        let time: ServerTime = self.public(self.time_path, &[]).await?;
        let received = now_ms();
        self.clock
            .learn("Binance", time.server_time, sent, received);
        Ok(())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        signed: bool,
    ) -> Result<T, Failure> {
        if let Some(why) = self.backoff.refusal("Binance") {
            return Err(Failure::NotSent(why));
        }
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::USER_AGENT, USER_AGENT);
        if signed {
            request = request.header("X-MBX-APIKEY", self.api_key.clone());
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| Failure::NotSent(format!("cannot build the request: {e}")))?;
        let (head, body) = exchange(&self.http, request, self.timeout, "Binance")
            .await
            .map_err(|lost| match lost {
                Unanswered::NotSent(why) => Failure::NotSent(why),
                Unanswered::NoAnswer(why) => Failure::NoAnswer(why),
            })?;
        let status = head.status;
        if let Some(used) = head
            .headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            self.used_weight.store(used, Ordering::Relaxed);
        }
        let retry_after = head
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Failure::NoAnswer(format!("unreadable answer from Binance: {e}")));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                self.backoff.hold(retry_after);
                Err(Failure::RateLimited { retry_after })
            }
            StatusCode::IM_A_TEAPOT => {
                self.backoff.hold(retry_after);
                Err(Failure::Banned(format!(
                    "Binance banned this address (418) for {}",
                    humantime::format_duration(retry_after)
                )))
            }
            _ => match error {
                // -1007: the backend timed out; the request may still run.
                Some(ErrorBody { code: -1007, msg }) => Err(Failure::NoAnswer(msg)),
                Some(ErrorBody { code, msg }) if status.is_client_error() => {
                    Err(Failure::Refused { code, message: msg })
                }
                Some(ErrorBody { msg, .. }) => {
                    Err(Failure::NoAnswer(format!("HTTP {status}: {msg}")))
                }
                None if status.is_server_error() => {
                    Err(Failure::NoAnswer(format!("HTTP {status}")))
                }
                None => Err(Failure::Refused {
                    code: 0,
                    message: format!("HTTP {status}"),
                }),
            },
        }
    }
}

/// `application/x-www-form-urlencoded` query text, in the given order (the
/// signature covers the exact text sent).
fn encode(params: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

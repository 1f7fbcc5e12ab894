//! Bybit's v5 REST API as a transport: requests signed with HMAC-SHA256
//! over `timestamp + api key + recv window + (query string | JSON body)`
//! in the `X-BAPI-*` headers, timestamps on Bybit's clock (the offset is
//! learned from `/v5/market/time`), the rate-limit use Bybit reports in
//! `X-Bapi-Limit` / `X-Bapi-Limit-Status`, and back-off after throttling
//! or a ban. Every answer is classified as a [`Failure`]; "not sent" is
//! never confused with "sent, outcome unknown". Nothing is ever sent again
//! here except a request Bybit refused unseen for its timestamp (10002).

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use sha2::Sha256;

/// The failures this transport classifies its answers into.
pub use crate::orders::exchanges::failure::Failure;
use crate::{
    orders::exchanges::transport::{
        Backoff, HttpsClient, RequestBudget, USER_AGENT, Unanswered, VenueClock, exchange,
        header_number, https_client, secret_header,
    },
    proto_time::now_ms,
};

/// The wait after a 10006 that carries no reset time.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(1);
/// Bybit's IP ban after an HTTP 403 lasts 10 minutes unless told otherwise.
const DEFAULT_BAN: Duration = Duration::from_secs(600);
/// Bybit's documented default per-endpoint cap, until a header says.
const DEFAULT_LIMIT: u64 = 10;

/// Bybit's answer envelope.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    ret_code: i64,
    ret_msg: String,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    time: i64,
}

/// What a request carries: a query string (GET) or a JSON body (POST).
#[derive(Clone)]
enum Payload {
    Query(String),
    Body(String),
}

/// A signed-REST client for one Bybit account.
pub struct Rest {
    http: HttpsClient<Full<Bytes>>,
    timeout: Duration,
    base_url: String,
    api_key: String,
    /// The key as its header, marked sensitive so that it is never shown.
    key_header: HeaderValue,
    mac: Hmac<Sha256>,
    recv_window_ms: i64,
    clock: VenueClock,
    budget: RequestBudget,
    backoff: Backoff,
}

impl Rest {
    /// A client of `base_url` with the account's key and secret.
    pub fn new(
        base_url: &str,
        api_key: &str,
        api_secret: &str,
        recv_window: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        let key_header = secret_header(api_key, "API key")?;
        let mac = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes())
            .map_err(|e| format!("unusable API secret: {e}"))?;
        Ok(Self {
            http: https_client(timeout)?,
            timeout,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            key_header,
            mac,
            recv_window_ms: i64::try_from(recv_window.as_millis()).unwrap_or(5_000),
            clock: VenueClock::default(),
            budget: RequestBudget::new(DEFAULT_LIMIT),
            backoff: Backoff::default(),
        })
    }

    /// Requests used in the current rate-limit window, and its cap.
    pub fn usage(&self) -> (u64, u64) {
        self.budget.usage()
    }

    /// Now, on Bybit's clock as far as we know it.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The `X-BAPI-RECV-WINDOW` every signed request carries.
    pub fn recv_window_ms(&self) -> i64 {
        self.recv_window_ms
    }

    /// An unsigned GET of a market endpoint.
    pub async fn public<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, Failure> {
        let (_, result) = self
            .send(Method::GET, path, Payload::Query(encode(params)), None)
            .await;
        decode(result?)
    }

    /// A signed GET; see [`Rest::post`] for what is returned.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> (i64, Result<T, Failure>) {
        self.signed(Method::GET, path, Payload::Query(encode(params)))
            .await
    }

    /// A signed POST of a JSON body. Returns the timestamp it carried with
    /// the result: Bybit accepts a request only until that timestamp plus
    /// the receive window, on its clock.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> (i64, Result<T, Failure>) {
        self.signed(Method::POST, path, Payload::Body(body.to_string()))
            .await
    }

    async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
    ) -> (i64, Result<T, Failure>) {
        if let Err(failure) = self.ensure_clock().await {
            return (self.server_now_ms(), Err(failure));
        }
        let mut resynced = false;
        loop {
            let timestamp = self.server_now_ms();
            let text = match &payload {
                Payload::Query(text) | Payload::Body(text) => text,
            };
            let mut mac = self.mac.clone();
            mac.update(
                format!("{timestamp}{}{}{text}", self.api_key, self.recv_window_ms).as_bytes(),
            );
            let signature = hex::encode(mac.finalize().into_bytes());
            let (_, result) = self
                .send(
                    method.clone(),
                    path,
                    payload.clone(),
                    Some((timestamp, signature)),
                )
                .await;
            let result = result.and_then(decode);
            // 10002: the timestamp fell outside the window; Bybit refused
            // the request unseen, so sending it again cannot duplicate it.
            if matches!(result, Err(Failure::Refused { code: 10002, .. })) && !resynced {
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
            Ok(())
        } else {
            self.sync_clock().await
        }
    }

    /// Learns Bybit's clock offset from `/v5/market/time`, assuming the
    /// answer was stamped halfway through the round trip.
    pub async fn sync_clock(&self) -> Result<(), Failure> {
        let sent = now_ms();
        let (time, result) = self
            .send(
                Method::GET,
                "/v5/market/time",
                Payload::Query(String::new()),
                None,
            )
            .await;
        result?;
        let received = now_ms();
        self.clock.learn("Bybit", time, sent, received);
        Ok(())
    }

    /// Sends one request; returns Bybit's `time` and the `result` of a
    /// `retCode` 0 answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
        signature: Option<(i64, String)>,
    ) -> (i64, Result<Value, Failure>) {
        if let Some(why) = self.backoff.refusal("Bybit") {
            return (0, Err(Failure::NotSent(why)));
        }
        let (uri, body) = match payload {
            Payload::Query(q) if q.is_empty() => {
                (format!("{}{path}", self.base_url), String::new())
            }
            Payload::Query(q) => (format!("{}{path}?{q}", self.base_url), String::new()),
            Payload::Body(b) => (format!("{}{path}", self.base_url), b),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::USER_AGENT, USER_AGENT);
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some((timestamp, sign)) = signature {
            request = request
                .header("X-BAPI-API-KEY", self.key_header.clone())
                .header("X-BAPI-TIMESTAMP", timestamp.to_string())
                .header("X-BAPI-RECV-WINDOW", self.recv_window_ms.to_string())
                .header("X-BAPI-SIGN", sign);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(e) => {
                return (
                    0,
                    Err(Failure::NotSent(format!("cannot build the request: {e}"))),
                );
            }
        };
        let (head, body) = match exchange(&self.http, request, self.timeout, "Bybit").await {
            Ok(answer) => answer,
            Err(Unanswered::NotSent(why)) => return (0, Err(Failure::NotSent(why))),
            Err(Unanswered::NoAnswer(why)) => return (0, Err(Failure::NoAnswer(why))),
        };
        self.budget
            .note(&head.headers, ("x-bapi-limit", "x-bapi-limit-status"));
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let time = envelope.as_ref().map_or(0, |e| e.time);
        (time, self.classify(head.status, &head.headers, envelope))
    }

    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        envelope: Option<Envelope>,
    ) -> Result<Value, Failure> {
        let throttled = || {
            let wait = header_number(headers, "x-bapi-limit-reset-timestamp")
                .and_then(|reset| {
                    u64::try_from(i64::try_from(reset).ok()? - self.server_now_ms()).ok()
                })
                .map_or(DEFAULT_THROTTLE, Duration::from_millis);
            self.backoff.hold(wait);
            Failure::RateLimited { retry_after: wait }
        };
        let banned = || {
            let wait =
                header_number(headers, "retry-after").map_or(DEFAULT_BAN, Duration::from_secs);
            self.backoff.hold(wait);
            Failure::Banned(format!(
                "Bybit banned this address for {}",
                humantime::format_duration(wait)
            ))
        };
        match (status, envelope) {
            (StatusCode::FORBIDDEN, _) => Err(banned()),
            (StatusCode::TOO_MANY_REQUESTS, _) => Err(throttled()),
            (s, _) if s.is_server_error() => Err(Failure::NoAnswer(format!("HTTP {s} from Bybit"))),
            (s, None) if s.is_success() => {
                Err(Failure::NoAnswer("unreadable answer from Bybit".into()))
            }
            (s, None) => Err(Failure::Refused {
                code: 0,
                message: format!("HTTP {s} from Bybit"),
            }),
            (_, Some(e)) => match e.ret_code {
                0 => Ok(e.result),
                10006 | 10018 => Err(throttled()),
                10009 => Err(banned()),
                10000 | 10016 => Err(Failure::NoAnswer(format!(
                    "{} (Bybit {})",
                    e.ret_msg, e.ret_code
                ))),
                code => Err(Failure::Refused {
                    code,
                    message: e.ret_msg,
                }),
            },
        }
    }
}

/// A `retCode` 0 answer's `result` as `T`; one that does not read is an
/// answer we cannot use.
fn decode<T: DeserializeOwned>(result: Value) -> Result<T, Failure> {
    serde_json::from_value(result)
        .map_err(|e| Failure::NoAnswer(format!("unreadable answer from Bybit: {e}")))
}

/// Query text in the given order (the signature covers the exact text).
fn encode(params: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

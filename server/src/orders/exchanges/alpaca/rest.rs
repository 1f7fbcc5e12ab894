//! Alpaca's REST APIs (trading v2 and market data v2) as a transport: the
//! key pair in the `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers
//! (marked sensitive, never shown), the rate-limit use Alpaca reports in
//! `X-RateLimit-Limit` / `-Remaining` / `-Reset`, and back-off after
//! throttling or a blocked account. Every answer is classified as a
//! [`Failure`]; "not sent" is never confused with "sent, outcome
//! unknown", and nothing is ever sent again here.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    orders::exchanges::transport::{
        Backoff, HttpsClient, RequestBudget, USER_AGENT, Unanswered, exchange, header_number,
        https_client, secret_header,
    },
    proto_time::now_ms,
};

/// The wait after a 429 that carries no reset time.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(1);
/// How long a blocked account is left alone unless told otherwise.
const DEFAULT_BLOCK: Duration = Duration::from_secs(600);
/// Alpaca's documented cap per minute, until a header says.
const DEFAULT_LIMIT: u64 = 200;

/// The failures this transport classifies its answers into: an HTTP
/// status Alpaca refused with is [`Failure::Refused`]'s `code`.
pub use crate::orders::exchanges::failure::Failure;

/// Alpaca's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// Which of Alpaca's hosts a request goes to.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// Orders, account, positions, assets and the clock.
    Trading,
    /// Market data (latest trades).
    Data,
}

/// A REST client for one Alpaca account.
pub struct Rest {
    http: HttpsClient<Full<Bytes>>,
    timeout: Duration,
    trading_url: String,
    data_url: String,
    key_id: HeaderValue,
    secret_key: HeaderValue,
    budget: RequestBudget,
    backoff: Backoff,
}

impl Rest {
    /// A client of the trading and data base URLs with the account's key
    /// pair.
    pub fn new(
        (trading_url, data_url): (&str, &str),
        (key_id, secret_key): (&str, &str),
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            http: https_client(timeout)?,
            timeout,
            trading_url: trading_url.trim_end_matches('/').to_string(),
            data_url: data_url.trim_end_matches('/').to_string(),
            key_id: secret_header(key_id, "API key id")?,
            secret_key: secret_header(secret_key, "API secret key")?,
            budget: RequestBudget::new(DEFAULT_LIMIT),
            backoff: Backoff::default(),
        })
    }

    /// Requests used in the current rate-limit window, and its cap.
    pub fn usage(&self) -> (u64, u64) {
        self.budget.usage()
    }

    /// A GET of `path` with `params`, read as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        api: Api,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, Failure> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let path = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        decode(self.send(Method::GET, api, &path, None).await?)
    }

    /// A POST of a JSON body to the trading API, read as `T`.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Failure> {
        decode(
            self.send(Method::POST, Api::Trading, path, Some(body.to_string()))
                .await?,
        )
    }

    /// A DELETE on the trading API; Alpaca answers 204 with no body.
    pub async fn delete(&self, path: &str) -> Result<(), Failure> {
        self.send(Method::DELETE, Api::Trading, path, None)
            .await
            .map(drop)
    }

    /// Sends one request; returns the body of a 2xx answer (`null` when
    /// empty).
    async fn send(
        &self,
        method: Method,
        api: Api,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, Failure> {
        if let Some(why) = self.backoff.refusal("Alpaca") {
            return Err(Failure::NotSent(why));
        }
        let base = match api {
            Api::Trading => &self.trading_url,
            Api::Data => &self.data_url,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header(http::header::USER_AGENT, USER_AGENT)
            .header("APCA-API-KEY-ID", self.key_id.clone())
            .header("APCA-API-SECRET-KEY", self.secret_key.clone());
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Failure::NotSent(format!("cannot build the request: {e}")))?;
        let (head, body) = exchange(&self.http, request, self.timeout, "Alpaca")
            .await
            .map_err(|lost| match lost {
                Unanswered::NotSent(why) => Failure::NotSent(why),
                Unanswered::NoAnswer(why) => Failure::NoAnswer(why),
            })?;
        self.budget.note(
            &head.headers,
            ("x-ratelimit-limit", "x-ratelimit-remaining"),
        );
        self.classify(head.status, &head.headers, &body)
    }

    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, Failure> {
        if status.is_success() {
            if body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(body)
                .map_err(|e| Failure::NoAnswer(format!("unreadable answer from Alpaca: {e}")));
        }
        if status.is_server_error() {
            return Err(Failure::NoAnswer(format!("HTTP {status} from Alpaca")));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let (code, message) = error.map_or((0, String::new()), |e| (e.code, e.message));
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = header_number(headers, "x-ratelimit-reset")
                    .and_then(|reset| {
                        let left_ms = i64::try_from(reset).ok()? * 1000 - now_ms();
                        u64::try_from(left_ms).ok()
                    })
                    .map_or(DEFAULT_THROTTLE, Duration::from_millis);
                self.backoff.hold(wait);
                Err(Failure::RateLimited { retry_after: wait })
            }
            StatusCode::FORBIDDEN if message.to_lowercase().contains("blocked") => {
                let wait = header_number(headers, "retry-after")
                    .map_or(DEFAULT_BLOCK, Duration::from_secs);
                self.backoff.hold(wait);
                Err(Failure::Banned(format!(
                    "Alpaca blocked trading on this account ({message}); not sending for {}",
                    humantime::format_duration(wait)
                )))
            }
            _ => Err(Failure::Refused {
                code: i64::from(status.as_u16()),
                message: match (message.is_empty(), code) {
                    (true, _) => format!("HTTP {status} from Alpaca"),
                    (false, 0) => message,
                    (false, code) => format!("{message} (Alpaca code {code})"),
                },
            }),
        }
    }
}

/// A 2xx answer's body as `T`; one that does not read is an answer we
/// cannot use.
fn decode<T: DeserializeOwned>(body: Value) -> Result<T, Failure> {
    serde_json::from_value(body)
        .map_err(|e| Failure::NoAnswer(format!("unreadable answer from Alpaca: {e}")))
}

//! What the channels that post JSON to a secret webhook URL (Discord,
//! Slack) share: the URL checked against its service and shown only by
//! its host, one request at a time, the receiver's rate-limit wait waited
//! out (within reason) before sending, and an answer's status read as
//! delivered, worth another try, or refused.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri, header};
use http_body_util::Full;
use serde_json::Value;
use tokio::sync::Mutex;

use super::channel::SendError;
use crate::orders::exchanges::transport::{
    Backoff, HttpsClient, USER_AGENT, Unanswered, exchange, https_client,
};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for a rate-limit slot before sending; a longer one is
/// handed back as [`SendError::Retry`] without sending.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// How much of a receiver's text answer a reason quotes.
const QUOTED_CHARS: usize = 200;

/// Where a service's webhook URLs live, below its base URL.
pub struct UrlShape {
    /// The path after the base URL, e.g. `/api/webhooks/`.
    pub prefix: &'static str,
    /// How many non-empty path segments follow it (id and token...).
    pub segments: usize,
    /// The query every request adds, e.g. `wait=true`.
    pub query: Option<&'static str>,
}

/// How a service words its answers.
pub trait Answers: Send + Sync + 'static {
    /// The wait a 429 answer asks for.
    fn throttled(&self, headers: &HeaderMap, body: &[u8]) -> Option<Duration>;
    /// The wait any answer asks for before the next request (a spent
    /// rate-limit bucket).
    fn pacing(&self, _headers: &HeaderMap) -> Option<Duration> {
        None
    }
    /// Whether a 2xx answer says the message was delivered; if not, why.
    fn delivered(&self, _body: &[u8]) -> Result<(), String> {
        Ok(())
    }
    /// Why a 4xx answer refused the message, in the service's words.
    fn refusal(&self, body: &[u8]) -> String;
}

/// Posts JSON to one webhook URL, one request at a time.
pub struct WebhookPoster<A> {
    target: Uri,
    host: String,
    http: HttpsClient<Full<Bytes>>,
    turn: Mutex<()>,
    backoff: Backoff,
    answers: A,
}

impl<A: Answers> WebhookPoster<A> {
    /// A poster to `url` (the section's `field`), which must lie under
    /// `base_url` in `shape`; the error names the field and why, never
    /// the URL's secret path.
    pub fn new(
        field: &str,
        url: &str,
        base_url: &str,
        shape: &UrlShape,
        answers: A,
    ) -> Result<Self, String> {
        let base = url::Url::parse(base_url).map_err(|e| format!("base_url is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("base_url must be an http or https URL".into());
        }
        let expected = format!(
            "{field} must look like {}{}<{} segments>",
            base_url.trim_end_matches('/'),
            shape.prefix,
            shape.segments
        );
        let parsed = url::Url::parse(url).map_err(|_| format!("{field} is not a URL"))?;
        let under_base = parsed.scheme() == base.scheme()
            && parsed.host_str() == base.host_str()
            && parsed.port_or_known_default() == base.port_or_known_default();
        let prefix = format!("{}{}", base.path().trim_end_matches('/'), shape.prefix);
        let segments = parsed.path().strip_prefix(&prefix).map(|rest| {
            rest.split('/')
                .filter(|segment| !segment.is_empty())
                .count()
                == shape.segments
                && !rest.ends_with('/')
                && !rest.contains("//")
        });
        if !under_base || segments != Some(true) || parsed.query().is_some() {
            return Err(expected);
        }
        let target = match shape.query {
            Some(query) => format!("{parsed}?{query}"),
            None => parsed.to_string(),
        };
        Ok(Self {
            target: target
                .parse()
                .map_err(|_| format!("{field} is not a URL a request can carry"))?,
            host: parsed.host_str().unwrap_or_default().to_string(),
            http: https_client(TIMEOUT)?,
            turn: Mutex::new(()),
            backoff: Backoff::default(),
            answers,
        })
    }

    /// Posts `payload` once, after waiting out a rate-limit wait of at
    /// most [`MAX_WAIT`] (a longer one is a `Retry` with what is left).
    pub async fn post(&self, payload: &Value) -> Result<(), SendError> {
        let _turn = self.turn.lock().await;
        if let Err(wait) = self.backoff.wait_within(MAX_WAIT).await {
            return Err(SendError::Retry {
                after: Some(wait),
                reason: format!(
                    "holding off for another {} as {} asked",
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
                    )),
                    self.host
                ),
            });
        }
        let request = Request::post(self.target.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|_| {
                SendError::Permanent(format!("cannot build a request to {}", self.host))
            })?;
        let (head, body) = exchange(&self.http, request, TIMEOUT, &self.host)
            .await
            .map_err(|lost| match lost {
                Unanswered::NotSent(reason) | Unanswered::NoAnswer(reason) => SendError::Retry {
                    after: None,
                    reason,
                },
            })?;
        if let Some(wait) = self.answers.pacing(&head.headers) {
            self.backoff.hold(wait);
        }
        self.read(head.status, &head.headers, &body)
    }

    /// What an answer says about the message.
    fn read(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<(), SendError> {
        let host = &self.host;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let after = self.answers.throttled(headers, body);
            if let Some(wait) = after {
                self.backoff.hold(wait);
            }
            return Err(SendError::Retry {
                after,
                reason: format!("{host} is rate-limiting this webhook"),
            });
        }
        if status.is_server_error() {
            return Err(SendError::Retry {
                after: None,
                reason: format!("HTTP {status} from {host}"),
            });
        }
        if status.is_success() {
            return self.answers.delivered(body).map_err(|why| {
                SendError::Permanent(format!("unexpected answer from {host}: {why}"))
            });
        }
        Err(SendError::Permanent(format!(
            "{host} refused the message (HTTP {status}): {}",
            self.answers.refusal(body)
        )))
    }
}

/// A secret URL as it may be shown: its scheme and host only.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/***", url.scheme()),
            (Some(host), None) => format!("{}://{host}/***", url.scheme()),
            (None, _) => "***".into(),
        },
        Err(_) => "***".into(),
    }
}

/// A header's value as (possibly fractional) seconds.
pub fn header_seconds(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let seconds: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// A receiver's text answer, trimmed and cut short, to quote in a reason.
pub fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no reason given".into();
    }
    text.chars().take(QUOTED_CHARS).collect()
}

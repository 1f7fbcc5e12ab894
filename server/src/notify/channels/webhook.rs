//! Outbound webhooks, signed the Standard Webhooks way
//! (<https://www.standardwebhooks.com>): each delivery carries
//! `webhook-id` (the event id, which a receiver de-duplicates by),
//! `webhook-timestamp` (unix seconds) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the
//! base64-decoded part of the `whsec_` secret).

use std::time::Duration;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat};
use hmac::{Hmac, Mac};
use http::{Method, Request, header};
use http_body_util::Full;
use serde::Deserialize;
use sha2::Sha256;
use url::Url;

use crate::{
    notify::channel::{Channel, Message, SendError},
    orders::exchanges::transport::{
        Backoff, HttpsClient, USER_AGENT, Unanswered, exchange, header_number, https_client,
    },
    proto_time::now_ms,
};

/// How long one delivery may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of a Standard Webhooks signing secret.
const SECRET_PREFIX: &str = "whsec_";
/// The key sizes the specification allows, in bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The webhook channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where deliveries are POSTed (https, or http on loopback).
    pub url: String,
    /// The signing secret, `whsec_<base64 of 24 to 64 bytes>`.
    pub secret: String,
}

impl WebhookConfig {
    /// The section as it may be shown: the secret hidden, and of the URL
    /// (whose path may itself be a secret) only its scheme and host.
    pub fn redacted(&self) -> serde_json::Value {
        let url = Url::parse(&self.url).map_or_else(
            |_| "***".to_string(),
            |url| format!("{}://{}/***", url.scheme(), host_of(&url)),
        );
        serde_json::json!({ "type": "webhook", "url": url, "secret": "***" })
    }
}

/// Shown as its redacted form, so that no secret reaches a log.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Sends signed messages to one URL.
pub struct Webhook {
    url: Url,
    /// The URL's host (and port): all an error message may name.
    host: String,
    key: Vec<u8>,
    http: HttpsClient<Full<Bytes>>,
    /// The wait a 429 or 503 asked for.
    backoff: Backoff,
}

impl Webhook {
    /// The channel for `config`.
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let url = Url::parse(&config.url).map_err(|_| "webhook url: not a URL".to_string())?;
        let host = host_of(&url);
        let loopback = url.host().is_some_and(|host| match host {
            url::Host::Domain(name) => name == "localhost",
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        });
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(format!("webhook url: {host} must be reached over https")),
        }
        let key = config
            .secret
            .strip_prefix(SECRET_PREFIX)
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .filter(|key| KEY_BYTES.contains(&key.len()))
            .ok_or_else(|| {
                "webhook secret: must be whsec_ followed by the base64 of 24 to 64 bytes"
                    .to_string()
            })?;
        Ok(Self {
            url,
            host,
            key,
            http: https_client(TIMEOUT)?,
            backoff: Backoff::default(),
        })
    }

    /// The `webhook-signature` header's value for one delivery.
    fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SendError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .map_err(|_| SendError::Permanent("the webhook key is unusable".to_string()))?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
    }
}

/// The JSON body of a delivery: `{type, timestamp, data}`.
fn payload(message: &Message) -> Result<Vec<u8>, SendError> {
    let timestamp = DateTime::from_timestamp_millis(message.time_ms)
        .ok_or_else(|| SendError::Permanent("the message's time is out of range".to_string()))?
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let body = serde_json::json!({
        "type": message.kind,
        "timestamp": timestamp,
        "data": {
            "id": message.id,
            "title": message.title,
            "text": message.text,
            "severity": message.severity.word(),
        },
    });
    serde_json::to_vec(&body).map_err(|e| SendError::Permanent(format!("cannot encode: {e}")))
}

/// `host[:port]` of `url`, never its path or credentials.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => "the webhook receiver".to_string(),
    }
}

#[async_trait]
impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        if let Some(reason) = self.backoff.refusal(&self.host) {
            return Err(SendError::Retry {
                after: self.backoff.remaining(),
                reason,
            });
        }
        let body = payload(message)?;
        let timestamp = now_ms().div_euclid(1000);
        let signature = self.signature(&message.id, timestamp, &body)?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.as_str())
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp)
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| {
                SendError::Permanent(format!(
                    "the message id cannot be sent to {} as a header",
                    self.host
                ))
            })?;
        let (head, _) = exchange(&self.http, request, TIMEOUT, &self.host)
            .await
            .map_err(|unanswered| match unanswered {
                Unanswered::NotSent(reason) | Unanswered::NoAnswer(reason) => SendError::Retry {
                    after: None,
                    reason,
                },
            })?;
        let status = head.status;
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("{} answered {status}", self.host);
        if status.as_u16() == 429 || status.is_server_error() {
            let after = header_number(&head.headers, "retry-after").map(Duration::from_secs);
            if let Some(wait) = after {
                self.backoff.hold(wait);
            }
            return Err(SendError::Retry { after, reason });
        }
        Err(SendError::Permanent(reason))
    }
}

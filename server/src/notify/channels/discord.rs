//! Discord webhooks: a message as content plus an embed coloured by its
//! severity, posted to the webhook URL (which is the secret). Discord's
//! per-webhook bucket (`X-RateLimit-Remaining: 0`) is waited out before
//! the next send, and a 429's `retry_after` is handed back as the wait.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::notify::{
    channel::{Channel, Message, SendError, Severity},
    webhook_post::{Answers, UrlShape, WebhookPoster, header_seconds, quoted, redacted_url},
};

/// The most characters Discord takes in a message's content.
const CONTENT_MAX: usize = 2000;
/// The most characters Discord takes in an embed's title.
const TITLE_MAX: usize = 256;
/// The most characters Discord takes in an embed's description.
const DESCRIPTION_MAX: usize = 4096;

const SHAPE: UrlShape = UrlShape {
    prefix: "/api/webhooks/",
    segments: 2,
    query: Some("wait=true"),
};

/// The discord channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// `https://discord.com/api/webhooks/<id>/<token>`: a secret.
    pub webhook_url: String,
    /// The service the webhook URL must belong to; tests point it at a
    /// loopback mock.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

fn default_base_url() -> String {
    "https://discord.com".into()
}

impl DiscordConfig {
    /// The section as it may be shown: the webhook URL by its host only.
    pub fn redacted(&self) -> serde_json::Value {
        json!({
            "type": "discord",
            "webhook_url": redacted_url(&self.webhook_url),
            "base_url": self.base_url,
        })
    }
}

/// Shown as its redacted form, so that no secret reaches a log.
impl std::fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Sends messages to one Discord webhook.
pub struct Discord {
    poster: WebhookPoster<DiscordAnswers>,
}

impl Discord {
    /// The channel for `config`.
    pub fn new(config: &DiscordConfig) -> Result<Self, String> {
        let poster = WebhookPoster::new(
            "webhook_url",
            &config.webhook_url,
            &config.base_url,
            &SHAPE,
            DiscordAnswers,
        )?;
        Ok(Self { poster })
    }
}

#[async_trait]
impl Channel for Discord {
    fn kind(&self) -> &'static str {
        "discord"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        self.poster.post(&payload(message)).await
    }
}

/// The body Discord is sent for `message`: mentions are never parsed, so
/// that a message cannot ping `@everyone`.
fn payload(message: &Message) -> Value {
    let mut embed = json!({
        "title": truncated(&message.title, TITLE_MAX),
        "description": truncated(&message.text, DESCRIPTION_MAX),
        "color": color(message.severity),
    });
    if let Some(time) = DateTime::from_timestamp_millis(message.time_ms) {
        embed["timestamp"] = time.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    }
    json!({
        "content": truncated(&message.title, CONTENT_MAX),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// The embed's colour: blue, amber or red.
fn color(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 0x3498DB,
        Severity::Warning => 0xF1C40F,
        Severity::Critical => 0xE74C3C,
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
fn truncated(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// How Discord words its answers.
struct DiscordAnswers;

/// Discord's 429 body.
#[derive(Deserialize)]
struct RateLimited {
    /// Seconds, with a fraction.
    retry_after: f64,
}

/// Discord's error body.
#[derive(Deserialize)]
struct Refusal {
    code: i64,
    message: String,
}

impl Answers for DiscordAnswers {
    fn throttled(&self, headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
        serde_json::from_slice::<RateLimited>(body)
            .ok()
            .and_then(|limited| Duration::try_from_secs_f64(limited.retry_after).ok())
            .or_else(|| header_seconds(headers, "retry-after"))
    }

    fn pacing(&self, headers: &HeaderMap) -> Option<Duration> {
        let remaining = headers.get("x-ratelimit-remaining")?.to_str().ok()?;
        if remaining.trim() != "0" {
            return None;
        }
        header_seconds(headers, "x-ratelimit-reset-after")
    }

    fn refusal(&self, body: &[u8]) -> String {
        match serde_json::from_slice::<Refusal>(body) {
            Ok(refusal) => format!("{} (code {})", refusal.message, refusal.code),
            Err(_) => quoted(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncated("abcdef", 4), "abc…");
        assert_eq!(truncated("abcd", 4), "abcd");
        assert_eq!(truncated(&"é".repeat(5000), 4096).chars().count(), 4096);
    }
}

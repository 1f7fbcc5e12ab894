//! Slack incoming webhooks: a message as a header block and a mrkdwn
//! section (with Slack's control characters escaped), posted to the
//! webhook URL (which is the secret). Slack answers `ok`, or a text error
//! that will never change (`invalid_payload`, `no_service`...), or 429
//! with `Retry-After`, which is handed back as the wait.

use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::notify::{
    channel::{Channel, Message, SendError},
    webhook_post::{Answers, UrlShape, WebhookPoster, header_seconds, quoted, redacted_url},
};

/// The most characters Slack takes in a header block.
const HEADER_MAX: usize = 150;
/// The most characters Slack takes in a section's text.
const SECTION_MAX: usize = 3000;
/// The most characters of the fallback text (notifications, old clients).
const TEXT_MAX: usize = 4000;

const SHAPE: UrlShape = UrlShape {
    prefix: "/services/",
    segments: 3,
    query: None,
};

/// The slack channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/<team>/<bot>/<secret>`: a secret.
    pub webhook_url: String,
    /// The service the webhook URL must belong to; tests point it at a
    /// loopback mock.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

fn default_base_url() -> String {
    "https://hooks.slack.com".into()
}

impl SlackConfig {
    /// The section as it may be shown: the webhook URL by its host only.
    pub fn redacted(&self) -> serde_json::Value {
        json!({
            "type": "slack",
            "webhook_url": redacted_url(&self.webhook_url),
            "base_url": self.base_url,
        })
    }
}

/// Shown as its redacted form, so that no secret reaches a log.
impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Sends messages to one Slack incoming webhook.
pub struct Slack {
    poster: WebhookPoster<SlackAnswers>,
}

impl Slack {
    /// The channel for `config`.
    pub fn new(config: &SlackConfig) -> Result<Self, String> {
        let poster = WebhookPoster::new(
            "webhook_url",
            &config.webhook_url,
            &config.base_url,
            &SHAPE,
            SlackAnswers,
        )?;
        Ok(Self { poster })
    }
}

#[async_trait]
impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        self.poster.post(&payload(message)).await
    }
}

/// The body Slack is sent for `message`; a block with nothing to show is
/// left out, as Slack refuses empty ones.
fn payload(message: &Message) -> Value {
    let mut blocks = Vec::new();
    if !message.title.is_empty() {
        blocks.push(json!({
            "type": "header",
            "text": { "type": "plain_text", "text": escaped(&message.title, HEADER_MAX) },
        }));
    }
    if !message.text.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": escaped(&message.text, SECTION_MAX) },
        }));
    }
    let fallback = format!("{}\n{}", message.title, message.text);
    json!({ "text": escaped(fallback.trim(), TEXT_MAX), "blocks": blocks })
}

/// The entity Slack wants for one of its control characters.
fn entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// `text` with `&`, `<` and `>` escaped, cut (between whole characters
/// and entities) to at most `max` characters, an ellipsis marking a cut.
fn escaped(text: &str, max: usize) -> String {
    let width = |c: char| entity(c).map_or(1, str::len);
    let whole: usize = text.chars().map(width).sum();
    let room = if whole <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + width(c) > room {
            break;
        }
        used += width(c);
        match entity(c) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    if whole > max {
        out.push('…');
    }
    out
}

/// How Slack words its answers: plain text.
struct SlackAnswers;

impl Answers for SlackAnswers {
    fn throttled(&self, headers: &HeaderMap, _body: &[u8]) -> Option<Duration> {
        header_seconds(headers, "retry-after")
    }

    fn delivered(&self, body: &[u8]) -> Result<(), String> {
        if body.trim_ascii() == b"ok" {
            Ok(())
        } else {
            Err(quoted(body))
        }
    }

    fn refusal(&self, body: &[u8]) -> String {
        quoted(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_never_cut_in_half() {
        assert_eq!(escaped("a<b>&c", 100), "a&lt;b&gt;&amp;c");
        assert_eq!(escaped("ab&cd", 5), "ab…");
        assert_eq!(escaped("abcdef", 4).chars().count(), 4);
    }
}

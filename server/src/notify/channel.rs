//! What every notification channel does: send one rendered message, and
//! say whether a failure is worth another try.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How much an event matters to a trader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The lowercase word, as configured and shown.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One event rendered for one subscription; queued as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The event's id: the idempotency key a receiver de-duplicates by
    /// (an outbound webhook's `webhook-id`).
    pub id: String,
    /// The event kind's word, e.g. `order_filled`.
    pub kind: String,
    pub severity: Severity,
    /// One line, e.g. `Filled on binance/main`.
    pub title: String,
    /// The rendered template: plain text, a few lines.
    pub text: String,
    /// When the event happened (ms since the epoch).
    pub time_ms: i64,
    /// Buttons a channel that has them shows under the message
    /// (Telegram's inline keyboard); others leave them out.
    pub buttons: Vec<Button>,
}

/// A button under a message: its label and what tapping it sends back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    /// Telegram's `callback_data`, at most 64 bytes, e.g. `approve:<id>`.
    pub callback: String,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth another try: a timeout, a 5xx, a 429. `after` is how long the
    /// receiver asked us to wait (Discord's `retry_after`, Telegram's
    /// `parameters.retry_after`, an HTTP `Retry-After`).
    #[error("will retry: {reason}")]
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Never worth another try: a bad token, a chat that does not exist,
    /// a 4xx other than 429. The delivery goes to the dead letters.
    #[error("refused: {0}")]
    Permanent(String),
}

/// A place messages go to.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel kind: `telegram`, `discord`, `slack`, `email` or
    /// `webhook`.
    fn kind(&self) -> &'static str;
    /// Sends `message` once. A channel respects its receiver's rate
    /// limits itself: it waits its turn, within reason, before sending,
    /// and answers [`SendError::Retry`] with the wait a receiver asked
    /// for.
    async fn send(&self, message: &Message) -> Result<(), SendError>;
}

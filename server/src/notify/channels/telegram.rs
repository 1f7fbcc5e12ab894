//! PLACEHOLDER for the telegram channel (a helper session builds it).

use async_trait::async_trait;
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// The telegram channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Where requests go; tests point it at a loopback mock.
    pub base_url: String,
}

impl TelegramConfig {
    /// The section as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({ "type": "telegram", "base_url": self.base_url })
    }
}

/// Sends messages to telegram.
pub struct Telegram {
    config: TelegramConfig,
}

impl Telegram {
    /// The channel for `config`.
    pub fn new(config: &TelegramConfig) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[async_trait]
impl Channel for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Err(SendError::Permanent(format!(
            "{} is not built yet",
            self.config.base_url
        )))
    }
}

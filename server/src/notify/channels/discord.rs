//! PLACEHOLDER for the discord channel (a helper session builds it).

use async_trait::async_trait;
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// The discord channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Where requests go; tests point it at a loopback mock.
    pub base_url: String,
}

impl DiscordConfig {
    /// The section as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({ "type": "discord", "base_url": self.base_url })
    }
}

/// Sends messages to discord.
pub struct Discord {
    config: DiscordConfig,
}

impl Discord {
    /// The channel for `config`.
    pub fn new(config: &DiscordConfig) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[async_trait]
impl Channel for Discord {
    fn kind(&self) -> &'static str {
        "discord"
    }

    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Err(SendError::Permanent(format!(
            "{} is not built yet",
            self.config.base_url
        )))
    }
}

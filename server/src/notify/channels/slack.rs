//! PLACEHOLDER for the slack channel (a helper session builds it).

use async_trait::async_trait;
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// The slack channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Where requests go; tests point it at a loopback mock.
    pub base_url: String,
}

impl SlackConfig {
    /// The section as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({ "type": "slack", "base_url": self.base_url })
    }
}

/// Sends messages to slack.
pub struct Slack {
    config: SlackConfig,
}

impl Slack {
    /// The channel for `config`.
    pub fn new(config: &SlackConfig) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[async_trait]
impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Err(SendError::Permanent(format!(
            "{} is not built yet",
            self.config.base_url
        )))
    }
}

//! PLACEHOLDER for the webhook channel (a helper session builds it).

use async_trait::async_trait;
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// The webhook channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where requests go; tests point it at a loopback mock.
    pub base_url: String,
}

impl WebhookConfig {
    /// The section as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({ "type": "webhook", "base_url": self.base_url })
    }
}

/// Sends messages to webhook.
pub struct Webhook {
    config: WebhookConfig,
}

impl Webhook {
    /// The channel for `config`.
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[async_trait]
impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Err(SendError::Permanent(format!(
            "{} is not built yet",
            self.config.base_url
        )))
    }
}

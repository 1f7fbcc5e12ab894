//! PLACEHOLDER for the email channel (a helper session builds it).

use async_trait::async_trait;
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// The email channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Where requests go; tests point it at a loopback mock.
    pub base_url: String,
}

impl EmailConfig {
    /// The section as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({ "type": "email", "base_url": self.base_url })
    }
}

/// Sends messages to email.
pub struct Email {
    config: EmailConfig,
}

impl Email {
    /// The channel for `config`.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
        })
    }
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    async fn send(&self, _message: &Message) -> Result<(), SendError> {
        Err(SendError::Permanent(format!(
            "{} is not built yet",
            self.config.base_url
        )))
    }
}

//! The channels, each configured by its own section: where it sends
//! (a base URL that tests point at a loopback mock), and its secrets,
//! which are never logged and are redacted wherever they are shown.

pub mod discord;
pub mod email;
pub mod slack;
pub mod telegram;
pub mod webhook;

use std::sync::Arc;

use serde::Deserialize;

use super::channel::Channel;

/// One channel's configuration, by `type`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    Telegram(telegram::TelegramConfig),
    Discord(discord::DiscordConfig),
    Slack(slack::SlackConfig),
    Email(email::EmailConfig),
    Webhook(webhook::WebhookConfig),
}

impl ChannelConfig {
    /// Opens the channel; a configuration it cannot use is named.
    pub fn open(&self) -> Result<Arc<dyn Channel>, String> {
        Ok(match self {
            ChannelConfig::Telegram(config) => Arc::new(telegram::Telegram::new(config)?),
            ChannelConfig::Discord(config) => Arc::new(discord::Discord::new(config)?),
            ChannelConfig::Slack(config) => Arc::new(slack::Slack::new(config)?),
            ChannelConfig::Email(config) => Arc::new(email::Email::new(config)?),
            ChannelConfig::Webhook(config) => Arc::new(webhook::Webhook::new(config)?),
        })
    }

    /// The channel's `type`: `telegram`, `discord`, `slack`, `email` or
    /// `webhook`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Telegram(_) => "telegram",
            ChannelConfig::Discord(_) => "discord",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Webhook(_) => "webhook",
        }
    }

    /// The configuration as it may be shown: secrets redacted.
    pub fn redacted(&self) -> serde_json::Value {
        match self {
            ChannelConfig::Telegram(config) => config.redacted(),
            ChannelConfig::Discord(config) => config.redacted(),
            ChannelConfig::Slack(config) => config.redacted(),
            ChannelConfig::Email(config) => config.redacted(),
            ChannelConfig::Webhook(config) => config.redacted(),
        }
    }
}

/// Shown as its redacted form, so that no secret reaches a log.
impl std::fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

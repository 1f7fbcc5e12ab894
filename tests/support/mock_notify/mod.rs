//! Loopback mocks of the notification receivers: each verifies what the
//! real one verifies and records what it received.

pub mod discord;
pub mod slack;
pub mod smtp;
pub mod telegram;
pub mod telegram_commands;
mod telegram_markup;
pub mod webhook;

use tradeplane_server::notify::{
    channels::{ChannelConfig, webhook::WebhookConfig},
    config::SubscriptionConfig,
};

/// The signing secret the webhook receivers share with the server.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A subscription of `events` (empty: all) sent to `channel`, its
/// messages reading `{title}: {text}`.
pub fn subscription(name: &str, channel: ChannelConfig, events: &[&str]) -> SubscriptionConfig {
    SubscriptionConfig {
        name: name.into(),
        channel,
        events: events.iter().map(|e| e.to_string()).collect(),
        pipelines: Vec::new(),
        accounts: Vec::new(),
        min_severity: String::new(),
        template: "{title}: {text}".into(),
    }
}

/// The signed outbound webhook to `receiver`.
pub fn webhook_to(receiver: &webhook::MockWebhook) -> ChannelConfig {
    ChannelConfig::Webhook(WebhookConfig {
        url: receiver.url.clone(),
        secret: WEBHOOK_SECRET.into(),
    })
}

//! Subscriptions on the wire: a `tradeplane.v1.Subscription` read as the
//! `[[notify.subscriptions]]` entry it stands for (then checked by
//! [`Subscription::open`](super::subscription::Subscription::open), as
//! the file's entries are), and an entry shown with its channel redacted
//! exactly as [`ChannelConfig::redacted`] does.

use serde_json::{Value, json};
use tradeplane_api::{
    DiscordChannel, EmailChannel, NotificationSeverity, ProtoEnum, SlackChannel,
    Subscription as Wire, SubscriptionSource, TelegramChannel, WebhookChannel,
    subscription::Channel,
};

use super::{channels::ChannelConfig, config::SubscriptionConfig, subscription::Invalid};

/// Channel fields the configuration gives a default: left out when the
/// wire leaves them empty, so that the default applies.
const DEFAULTED: [&str; 5] = ["base_url", "parse_mode", "port", "starttls", "ca_file"];

/// The entry `wire` stands for; a field it cannot be is named.
pub fn config_of(wire: &Wire) -> Result<SubscriptionConfig, Invalid> {
    let invalid = |field: &str, description: String| Invalid {
        name: wire.name.clone(),
        field: field.to_string(),
        description,
    };
    let Some(channel) = &wire.channel else {
        return Err(invalid(
            "channel",
            "choose telegram, discord, slack, email or webhook".into(),
        ));
    };
    let (kind, mut fields) = channel_fields(channel);
    if let Value::Object(fields) = &mut fields {
        fields.retain(|key, value| {
            !(DEFAULTED.contains(&key.as_str()) && (*value == "" || *value == 0))
        });
        fields.insert("type".into(), kind.into());
    }
    let channel: ChannelConfig = serde_json::from_value(fields)
        .map_err(|e| invalid(&format!("channel.{kind}"), e.to_string()))?;
    let min_severity = NotificationSeverity::known(wire.min_severity, "min_severity")
        .map_err(|e| invalid("min_severity", e.to_string()))?;
    Ok(SubscriptionConfig {
        name: wire.name.clone(),
        channel,
        events: wire.events.clone(),
        pipelines: wire.pipelines.clone(),
        accounts: wire.accounts.clone(),
        min_severity: match min_severity {
            NotificationSeverity::Unspecified => String::new(),
            severity => severity.word().to_string(),
        },
        template: wire.template.clone(),
    })
}

/// A wire channel's `type` and its fields, named as in the configuration.
fn channel_fields(channel: &Channel) -> (&'static str, Value) {
    match channel {
        Channel::Telegram(c) => (
            "telegram",
            json!({ "base_url": c.base_url, "bot_token": c.bot_token, "chat_id": c.chat_id, "parse_mode": c.parse_mode }),
        ),
        Channel::Discord(c) => (
            "discord",
            json!({ "webhook_url": c.webhook_url, "base_url": c.base_url }),
        ),
        Channel::Slack(c) => (
            "slack",
            json!({ "webhook_url": c.webhook_url, "base_url": c.base_url }),
        ),
        Channel::Email(c) => (
            "email",
            json!({
                "host": c.host, "port": c.port, "username": c.username, "password": c.password,
                "from": c.from, "to": c.to, "starttls": c.starttls, "ca_file": c.ca_file,
            }),
        ),
        Channel::Webhook(c) => ("webhook", json!({ "url": c.url, "secret": c.secret })),
    }
}

/// `config` as any response shows it: the channel as
/// [`ChannelConfig::redacted`] writes it, never a secret.
pub fn shown(
    config: &SubscriptionConfig,
    source: SubscriptionSource,
    create_time: Option<prost_types::Timestamp>,
) -> Wire {
    let redacted = config.channel.redacted();
    let text = |key: &str| redacted[key].as_str().unwrap_or_default().to_string();
    let channel = match &config.channel {
        ChannelConfig::Telegram(_) => Channel::Telegram(TelegramChannel {
            base_url: text("base_url"),
            bot_token: text("bot_token"),
            chat_id: text("chat_id"),
            parse_mode: text("parse_mode"),
        }),
        ChannelConfig::Discord(_) => Channel::Discord(DiscordChannel {
            webhook_url: text("webhook_url"),
            base_url: text("base_url"),
        }),
        ChannelConfig::Slack(_) => Channel::Slack(SlackChannel {
            webhook_url: text("webhook_url"),
            base_url: text("base_url"),
        }),
        ChannelConfig::Email(email) => Channel::Email(EmailChannel {
            host: text("host"),
            port: u32::from(email.port),
            username: text("username"),
            password: text("password"),
            from: text("from"),
            to: email.to.clone(),
            starttls: text("starttls"),
            ca_file: text("ca_file"),
        }),
        ChannelConfig::Webhook(_) => Channel::Webhook(WebhookChannel {
            url: text("url"),
            secret: text("secret"),
        }),
    };
    let min_severity = match config.min_severity.as_str() {
        "warning" => NotificationSeverity::Warning,
        "critical" => NotificationSeverity::Critical,
        _ => NotificationSeverity::Info,
    };
    Wire {
        name: config.name.clone(),
        channel: Some(channel),
        events: config.events.clone(),
        pipelines: config.pipelines.clone(),
        accounts: config.accounts.clone(),
        min_severity: min_severity as i32,
        template: config.template.clone(),
        source: source as i32,
        create_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

    fn telegram(chat_id: &str) -> Wire {
        Wire {
            name: "desk".into(),
            channel: Some(Channel::Telegram(TelegramChannel {
                bot_token: "123:secret-token".into(),
                chat_id: chat_id.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn the_wire_reads_as_the_entry_with_its_defaults() {
        let config = config_of(&telegram("42")).expect("reads");
        let ChannelConfig::Telegram(channel) = &config.channel else {
            panic!("a telegram channel");
        };
        assert_eq!(channel.base_url, "https://api.telegram.org");
        assert_eq!(channel.bot_token, "123:secret-token");
        assert_eq!(config.min_severity, "");
    }

    #[test]
    fn responses_show_no_secret() {
        let wire = Wire {
            name: "hook".into(),
            channel: Some(Channel::Webhook(WebhookChannel {
                url: "https://example.com/path-secret".into(),
                secret: SECRET.into(),
            })),
            min_severity: NotificationSeverity::Warning as i32,
            ..Default::default()
        };
        let shown = shown(
            &config_of(&wire).expect("reads"),
            SubscriptionSource::Api,
            None,
        );
        assert_eq!(
            shown.channel,
            Some(Channel::Webhook(WebhookChannel {
                url: "https://example.com/***".into(),
                secret: "***".into(),
            }))
        );
        assert_eq!(shown.min_severity, NotificationSeverity::Warning as i32);
        let telegram = shown_of(&telegram("@desk"));
        assert!(!format!("{telegram:?}").contains("secret-token"));
    }

    fn shown_of(wire: &Wire) -> Wire {
        shown(
            &config_of(wire).expect("reads"),
            SubscriptionSource::Api,
            None,
        )
    }

    #[test]
    fn a_field_the_wire_cannot_be_is_named() {
        let missing = config_of(&Wire {
            channel: None,
            ..telegram("1")
        });
        assert_eq!(missing.map_err(|e| e.field), Err("channel".to_string()));
        let severity = config_of(&Wire {
            min_severity: 9,
            ..telegram("1")
        });
        assert_eq!(
            severity.map_err(|e| e.field),
            Err("min_severity".to_string())
        );
    }
}

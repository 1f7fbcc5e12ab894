//! Notification settings: the subscriptions, and how deliveries are
//! retried.

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer, ser::SerializeStruct};

use super::{
    channels::ChannelConfig, daily_summary::DailySummaryConfig,
    telegram_commands::TelegramCommandsConfig,
};

/// Notifications: `[[notify.subscriptions]]` and the delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub subscriptions: Vec<SubscriptionConfig>,
    /// A bot that takes commands from the chats it allows.
    pub telegram_commands: Option<TelegramCommandsConfig>,
    /// The daily P&L summary's time; none: no summary.
    pub daily_summary: Option<DailySummaryConfig>,
    /// How often the outbox is read for new events and due deliveries.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The wait before the first retry; it doubles with each attempt.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// The longest wait between attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Attempts before a delivery goes to the dead letters.
    pub max_attempts: u32,
    /// How long a claimed delivery is this process's; after that (a
    /// crash) another process tries it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            subscriptions: Vec::new(),
            telegram_commands: None,
            daily_summary: None,
            poll_interval: Duration::from_millis(500),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 12,
            lease: Duration::from_secs(30),
        }
    }
}

/// One subscription: a channel, the events it hears about, and how they
/// read.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Unique; deliveries are kept per subscription name.
    pub name: String,
    pub channel: ChannelConfig,
    /// Event kinds (e.g. `order_filled`); empty: every kind.
    #[serde(default)]
    pub events: Vec<String>,
    /// Pipeline names or ids; empty: every pipeline, and events of none.
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// Accounts as `exchange/account` (e.g. `binance/main`); empty: all.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The least severity heard: `info` (default), `warning`, `critical`.
    #[serde(default)]
    pub min_severity: String,
    /// The message text, with `{title}`, `{text}`, `{kind}`,
    /// `{severity}`, `{pipeline}` and `{account}` filled in; empty:
    /// `{text}`.
    #[serde(default)]
    pub template: String,
}

/// Written with the channel redacted, so that printing the
/// configuration shows no secret.
impl Serialize for SubscriptionConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("SubscriptionConfig", 7)?;
        fields.serialize_field("name", &self.name)?;
        fields.serialize_field("channel", &self.channel.redacted())?;
        fields.serialize_field("events", &self.events)?;
        fields.serialize_field("pipelines", &self.pipelines)?;
        fields.serialize_field("accounts", &self.accounts)?;
        fields.serialize_field("min_severity", &self.min_severity)?;
        fields.serialize_field("template", &self.template)?;
        fields.end()
    }
}

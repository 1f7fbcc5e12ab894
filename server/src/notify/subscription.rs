//! A subscription, checked: which events it hears about, and how it
//! renders them for its channel.

use std::sync::Arc;

use super::{
    channel::{Channel, Message, Severity},
    config::SubscriptionConfig,
    event::{Event, EventKind},
};

/// What is wrong with a subscription entry: the field (within the
/// entry, e.g. `channel.telegram.chat_id` or `events[0]`; empty for the
/// entry as a whole) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("notify.subscriptions[{name}]{}: {description}", dotted(field))]
pub struct Invalid {
    /// The entry's name.
    pub name: String,
    pub field: String,
    pub description: String,
}

fn dotted(field: &str) -> String {
    match field {
        "" => String::new(),
        field => format!(".{field}"),
    }
}

/// A subscription ready to match and render events.
pub struct Subscription {
    pub name: String,
    pub channel: Arc<dyn Channel>,
    kinds: Vec<EventKind>,
    pipelines: Vec<String>,
    accounts: Vec<String>,
    min_severity: Severity,
    template: String,
}

impl Subscription {
    /// Checks `config` and opens its channel; what is wrong is named.
    pub fn open(config: &SubscriptionConfig) -> Result<Self, Invalid> {
        let invalid = |field: &str, description: String| Invalid {
            name: config.name.clone(),
            field: field.to_string(),
            description,
        };
        if config.name.trim().is_empty() {
            return Err(invalid("name", "every subscription needs a name".into()));
        }
        let kinds = config
            .events
            .iter()
            .enumerate()
            .map(|(i, word)| {
                EventKind::from_word(word).ok_or_else(|| {
                    invalid(
                        &format!("events[{i}]"),
                        format!("unknown event kind `{word}`"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let min_severity = match config.min_severity.as_str() {
            "" | "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            other => {
                return Err(invalid(
                    "min_severity",
                    format!("`{other}` is not info, warning or critical"),
                ));
            }
        };
        let kind = config.channel.kind();
        let channel = config.channel.open().map_err(|error| {
            // Channels name the field they refuse as `<kind> <field>: why`.
            let named = error
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|rest| rest.split_once(": "))
                .filter(|(field, _)| field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            match named {
                Some((field, why)) => invalid(&format!("channel.{kind}.{field}"), why.to_string()),
                None => invalid(&format!("channel.{kind}"), error),
            }
        })?;
        Ok(Self {
            name: config.name.clone(),
            channel,
            kinds,
            pipelines: config.pipelines.clone(),
            accounts: config.accounts.clone(),
            min_severity,
            template: config.template.clone(),
        })
    }

    /// Whether the subscription hears about `event`.
    pub fn matches(&self, event: &Event) -> bool {
        let listed = |list: &[String], values: &[&str]| {
            list.is_empty()
                || values
                    .iter()
                    .any(|v| !v.is_empty() && list.iter().any(|l| l == v))
        };
        (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && event.kind.severity() >= self.min_severity
            && listed(&self.pipelines, &[&event.pipeline, &event.pipeline_id])
            && listed(&self.accounts, &[&event.account])
    }

    /// `event` as this subscription's channel gets it.
    pub fn render(&self, event: &Event) -> Message {
        let template = if self.template.is_empty() {
            "{text}"
        } else {
            &self.template
        };
        let text = template
            .replace("{title}", &event.title)
            .replace("{text}", &event.text)
            .replace("{kind}", event.kind.word())
            .replace("{severity}", event.kind.severity().word())
            .replace("{pipeline}", &event.pipeline)
            .replace("{account}", &event.account);
        Message {
            id: event.id.clone(),
            kind: event.kind.word().to_string(),
            severity: event.kind.severity(),
            title: event.title.clone(),
            text,
            time_ms: event.time_ms,
            buttons: event.buttons.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::ChannelConfig;

    fn subscription(section: &str) -> Subscription {
        let config: SubscriptionConfig = toml::from_str(&format!(
            "name = \"desk\"\nchannel = {{ type = \"slack\", webhook_url = \"https://hooks.slack.com/services/T/B/x\" }}\n{section}"
        ))
        .expect("a subscription section");
        assert!(matches!(config.channel, ChannelConfig::Slack(_)));
        Subscription::open(&config).expect("it opens")
    }

    fn filled() -> Event {
        Event {
            sequence: 7,
            id: "evt_7_ab".into(),
            kind: EventKind::OrderFilled,
            title: "Filled on binance/main".into(),
            text: "buy 0.015 BTC/USDT at 64120".into(),
            pipeline_id: "p-1".into(),
            pipeline: "ema-cross".into(),
            account: "binance/main".into(),
            time_ms: 1,
            buttons: Vec::new(),
        }
    }

    #[test]
    fn filters_by_kind_severity_pipeline_and_account() {
        assert!(subscription("").matches(&filled()));
        assert!(subscription("events = [\"order_filled\"]").matches(&filled()));
        assert!(!subscription("events = [\"halt_set\"]").matches(&filled()));
        assert!(!subscription("min_severity = \"warning\"").matches(&filled()));
        assert!(subscription("pipelines = [\"ema-cross\"]").matches(&filled()));
        assert!(subscription("pipelines = [\"p-1\"]").matches(&filled()));
        assert!(!subscription("pipelines = [\"other\"]").matches(&filled()));
        assert!(subscription("accounts = [\"binance/main\"]").matches(&filled()));
        assert!(!subscription("accounts = [\"bybit/main\"]").matches(&filled()));
        let halt = Event {
            kind: EventKind::HaltSet,
            pipeline: String::new(),
            pipeline_id: String::new(),
            account: String::new(),
            ..filled()
        };
        assert!(subscription("min_severity = \"critical\"").matches(&halt));
        assert!(!subscription("pipelines = [\"ema-cross\"]").matches(&halt));
    }

    #[test]
    fn renders_its_template() {
        let message =
            subscription("template = \"[{severity}] {pipeline} {kind}: {text} ({account})\"")
                .render(&filled());
        assert_eq!(
            message.text,
            "[info] ema-cross order_filled: buy 0.015 BTC/USDT at 64120 (binance/main)"
        );
        assert_eq!(message.id, "evt_7_ab");
        assert_eq!(
            subscription("").render(&filled()).text,
            "buy 0.015 BTC/USDT at 64120"
        );
    }

    #[test]
    fn bad_sections_are_named() {
        let open = |section: &str| {
            let config: SubscriptionConfig = toml::from_str(&format!(
                "name = \"desk\"\nchannel = {{ type = \"slack\", webhook_url = \"https://hooks.slack.com/services/T/B/x\" }}\n{section}"
            ))
            .expect("a subscription section");
            Subscription::open(&config)
                .err()
                .map(|e| (e.field.clone(), e.to_string()))
        };
        assert_eq!(
            open("events = [\"order_filled\", \"order_fild\"]"),
            Some((
                "events[1]".into(),
                "notify.subscriptions[desk].events[1]: unknown event kind `order_fild`".into()
            ))
        );
        assert_eq!(
            open("min_severity = \"loud\"").map(|(field, _)| field),
            Some("min_severity".into())
        );
    }
}

//! A subscription file for `tpctl notify create -f`: TOML when the name
//! ends in `.toml`, else YAML, in the shape of one `[[notify.subscriptions]]`
//! entry of the server's configuration (`name`, `channel = { type = … }`,
//! `events`, `pipelines`, `accounts`, `min_severity`, `template`).

use std::path::Path;

use prost_reflect::DynamicMessage;
use serde_json::Value;
use tradeplane_api::Subscription;

use crate::proto_json::pool;

/// How a subscription file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionFormat {
    Toml,
    Yaml,
}

/// Reads a subscription file.
pub fn read(path: &Path) -> Result<Subscription, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = if path.extension().is_some_and(|e| e == "toml") {
        SubscriptionFormat::Toml
    } else {
        SubscriptionFormat::Yaml
    };
    parse(&text, format).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a subscription file into the API's message; a
/// field it does not know is named.
pub fn parse(text: &str, format: SubscriptionFormat) -> Result<Subscription, String> {
    let entry: Value = match format {
        SubscriptionFormat::Toml => toml::from_str(text).map_err(|e| e.to_string())?,
        SubscriptionFormat::Yaml => serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?,
    };
    let Value::Object(mut entry) = entry else {
        return Err("a subscription is a table of fields".into());
    };
    // `channel = { type = "x", … }` is the message's `x` field.
    let Some(Value::Object(mut channel)) = entry.remove("channel") else {
        return Err("`channel` is missing: a table with a `type`".into());
    };
    let Some(Value::String(kind)) = channel.remove("type") else {
        return Err("channel.type: telegram, discord, slack, email or webhook".into());
    };
    // The configuration takes a chat id as a number, too.
    if let Some(id @ Value::Number(_)) = channel.get("chat_id") {
        let id = id.to_string();
        channel.insert("chat_id".into(), Value::String(id));
    }
    entry.insert(kind, Value::Object(channel));
    if let Some(Value::String(severity)) = entry.get("min_severity") {
        let name = format!("NOTIFICATION_SEVERITY_{}", severity.to_uppercase());
        entry.insert("min_severity".into(), Value::String(name));
    }
    let descriptor = pool()?
        .get_message_by_name("tradeplane.v1.Subscription")
        .ok_or("no descriptor for tradeplane.v1.Subscription")?;
    DynamicMessage::deserialize(descriptor, Value::Object(entry))
        .map_err(|e| e.to_string())?
        .transcode_to::<Subscription>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeplane_api::{NotificationSeverity, subscription::Channel};

    #[test]
    fn a_toml_entry_reads_as_the_message() {
        let subscription = parse(
            "name = \"desk\"\nevents = [\"order_filled\"]\nmin_severity = \"warning\"\n\
             channel = { type = \"telegram\", bot_token = \"1:x\", chat_id = -100 }\n",
            SubscriptionFormat::Toml,
        )
        .expect("parses");
        assert_eq!(subscription.name, "desk");
        assert_eq!(subscription.events, ["order_filled"]);
        assert_eq!(
            subscription.min_severity,
            NotificationSeverity::Warning as i32
        );
        let Some(Channel::Telegram(telegram)) = subscription.channel else {
            panic!("a telegram channel");
        };
        assert_eq!(telegram.chat_id, "-100");
    }

    #[test]
    fn a_yaml_entry_with_an_unknown_field_is_refused_by_name() {
        let refused = parse(
            "name: hook\nchannel:\n  type: webhook\n  url: https://example.com\n  sekret: x\n",
            SubscriptionFormat::Yaml,
        );
        assert!(refused.is_err_and(|e| e.contains("sekret")));
    }
}

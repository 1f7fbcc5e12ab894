//! Telegram commands: the bot and the chats it obeys, each with a role
//! (`[notify.telegram_commands]`). Updates come by long polling
//! (`getUpdates`, [`super::telegram_poll`]) or, with `updates =
//! "webhook"`, by Telegram's POSTs to a route of the HTTP port
//! ([`super::telegram_webhook`]); either way each is answered by
//! [`super::telegram_updates`].

use std::{net::IpAddr, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::{
    telegram_api::BotApi,
    telegram_poll,
    telegram_updates::{Update, UpdateHandler},
    telegram_webhook::{self, TelegramInbox},
};
use crate::{orders::desk::OrderDesk, pipelines::Pipelines, security::Security};

/// The most characters Telegram takes in a webhook's secret token.
const MOST_SECRET_CHARS: usize = 256;

/// What a chat may do, in rising order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// `/status`.
    Viewer,
    /// And `/halt`, and the approval buttons.
    Trader,
    /// And `/resume`.
    Admin,
}

/// One allowed chat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AllowedChat {
    pub chat_id: i64,
    pub role: ChatRole,
}

/// `[notify.telegram_commands]`: the bot and the chats it obeys.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelegramCommandsConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The bot's token: a secret.
    pub bot_token: String,
    pub chats: Vec<AllowedChat>,
    /// How updates come: by polling (the default) or by webhook.
    #[serde(default)]
    pub updates: UpdatesMode,
    /// With `updates = "webhook"`: the public HTTPS URL Telegram POSTs
    /// updates to (this server's `/telegram/updates`).
    #[serde(default)]
    pub webhook_url: String,
    /// With `updates = "webhook"`: the token Telegram sends back in
    /// `X-Telegram-Bot-Api-Secret-Token`; a secret.
    #[serde(default)]
    pub webhook_secret: String,
}

/// How the bot's updates come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatesMode {
    /// Long polling `getUpdates`.
    #[default]
    Polling,
    /// Telegram POSTs them to `webhook_url`.
    Webhook,
}

fn default_base_url() -> String {
    "https://api.telegram.org".into()
}

/// Written with the token and the webhook's secret redacted.
impl Serialize for TelegramCommandsConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({
            "base_url": self.base_url,
            "bot_token": "<redacted>",
            "chats": self.chats,
            "updates": self.updates,
            "webhook_url": self.webhook_url,
            "webhook_secret": if self.webhook_secret.is_empty() { "" } else { "<redacted>" },
        })
        .serialize(serializer)
    }
}

impl std::fmt::Debug for TelegramCommandsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramCommandsConfig")
            .field("base_url", &self.base_url)
            .field("chats", &self.chats)
            .field("updates", &self.updates)
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

impl TelegramCommandsConfig {
    /// Checks the webhook's settings; a bad one is named.
    fn check_updates(&self) -> Result<(), String> {
        let key = |name: &str| format!("notify.telegram_commands.{name}");
        if self.updates == UpdatesMode::Polling {
            let stray = [
                ("webhook_url", &self.webhook_url),
                ("webhook_secret", &self.webhook_secret),
            ]
            .into_iter()
            .find(|(_, value)| !value.is_empty());
            return match stray {
                None => Ok(()),
                Some((name, _)) => Err(format!(
                    "{}: set only with updates = \"webhook\"",
                    key(name)
                )),
            };
        }
        let url = url::Url::parse(&self.webhook_url)
            .map_err(|e| format!("{}: not a URL ({e})", key("webhook_url")))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(format!("{}: must be an https:// URL", key("webhook_url"))),
        }
        let chars = self.webhook_secret.chars().count();
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if !(1..=MOST_SECRET_CHARS).contains(&chars) || !self.webhook_secret.chars().all(allowed) {
            return Err(format!(
                "{}: 1 to {MOST_SECRET_CHARS} characters of A-Z, a-z, 0-9, _ and -",
                key("webhook_secret")
            ));
        }
        Ok(())
    }
}

/// The bot that takes commands.
pub struct TelegramCommands {
    api: Arc<BotApi>,
    handler: UpdateHandler,
    source: Source,
}

/// Where the updates come from.
enum Source {
    Polling,
    /// The route's queue, once `setWebhook` told Telegram where to POST.
    Webhook {
        url: String,
        secret: String,
        queue: mpsc::Receiver<Update>,
    },
}

impl TelegramCommands {
    /// The bot for `config`, and in webhook mode the inbox the HTTP route
    /// hands Telegram's updates to; a bad setting is named.
    pub fn new(
        config: &TelegramCommandsConfig,
        security: Arc<Security>,
        pipelines: Arc<Pipelines>,
        desk: Arc<OrderDesk>,
    ) -> Result<(Self, Option<TelegramInbox>), String> {
        config.check_updates()?;
        let api = Arc::new(BotApi::new(&config.base_url, &config.bot_token)?);
        let handler = UpdateHandler::new(config, api.clone(), security, pipelines, desk)?;
        let (source, inbox) = match config.updates {
            UpdatesMode::Polling => (Source::Polling, None),
            UpdatesMode::Webhook => {
                let (inbox, queue) = TelegramInbox::new(&config.webhook_secret);
                let source = Source::Webhook {
                    url: config.webhook_url.clone(),
                    secret: config.webhook_secret.clone(),
                    queue,
                };
                (source, Some(inbox))
            }
        };
        Ok((
            Self {
                api,
                handler,
                source,
            },
            inbox,
        ))
    }

    /// Reads updates and answers them until `stopped`.
    pub async fn run(self, stopped: watch::Receiver<bool>) {
        match self.source {
            Source::Polling => telegram_poll::run(&self.api, &self.handler, stopped).await,
            Source::Webhook { url, secret, queue } => {
                let hook = telegram_webhook::Hook {
                    url: &url,
                    secret: &secret,
                };
                telegram_webhook::run(&self.api, &hook, &self.handler, queue, stopped).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str, secret: &str) -> TelegramCommandsConfig {
        TelegramCommandsConfig {
            base_url: default_base_url(),
            bot_token: "123:abc".into(),
            chats: Vec::new(),
            updates: UpdatesMode::Webhook,
            webhook_url: url.into(),
            webhook_secret: secret.into(),
        }
    }

    #[test]
    fn webhook_settings_are_checked_by_name() {
        let fine = webhook("https://bot.example.com/telegram/updates", "s3cret_-X");
        assert_eq!(fine.check_updates(), Ok(()));
        for url in [
            "http://127.0.0.1:8080/telegram/updates",
            "http://[::1]/t",
            "http://localhost/t",
        ] {
            assert_eq!(webhook(url, "s").check_updates(), Ok(()), "{url}");
        }
        let named = |config: TelegramCommandsConfig, key: &str| {
            let err = config.check_updates().expect_err("refused");
            assert!(
                err.starts_with(&format!("notify.telegram_commands.{key}:")),
                "{err}"
            );
        };
        named(webhook("http://bot.example.com/t", "s"), "webhook_url");
        named(webhook("not a url", "s"), "webhook_url");
        named(webhook("", "s"), "webhook_url");
        named(webhook("https://bot.example.com/t", ""), "webhook_secret");
        named(
            webhook("https://bot.example.com/t", "has space"),
            "webhook_secret",
        );
        named(
            webhook("https://bot.example.com/t", &"x".repeat(257)),
            "webhook_secret",
        );
        assert_eq!(
            webhook("https://bot.example.com/t", &"x".repeat(256)).check_updates(),
            Ok(())
        );
        let polling = TelegramCommandsConfig {
            updates: UpdatesMode::Polling,
            ..fine
        };
        named(polling, "webhook_url");
    }

    #[test]
    fn an_unknown_way_of_updates_is_named() {
        let written = "bot_token = \"1:a\"\nchats = []\nupdates = \"push\"\n";
        let err = toml::from_str::<TelegramCommandsConfig>(written)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("updates") && err.contains("`push`"), "{err}");
    }

    #[test]
    fn the_secrets_are_redacted() {
        let config = webhook("https://bot.example.com/t", "very-secret");
        let written = serde_json::to_string(&config).expect("serializes");
        let debugged = format!("{config:?}");
        for shown in [written, debugged] {
            assert!(
                !shown.contains("very-secret") && !shown.contains("123:abc"),
                "{shown}"
            );
        }
    }
}

//! Telegram commands: the bot reads its updates by long polling
//! (`getUpdates`) and answers the chats it allows, each with a role:
//! `/status`, `/positions`, `/orders` and `/pnl` (any role), `/halt
//! [reason]` (trader), `/resume` (admin), and
//! the Approve / Reject buttons under an approval's message (trader),
//! which go through the approval path, audited as `telegram:<chat id>`,
//! and decide an approval once however often they are tapped. A chat not
//! allowed is refused, and the refusal is audited.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tradeplane_api::AuditOutcome;

use super::{
    channel::{Channel, Message, Severity},
    channels::telegram::{Telegram, TelegramConfig},
    telegram_reports,
};
use crate::{
    audit::{AuditEntry, actions},
    orders::{
        desk::OrderDesk,
        exchanges::transport::{HttpsClient, USER_AGENT, exchange, https_client},
    },
    pipelines::Pipelines,
    security::Security,
};

/// How long a `getUpdates` long poll waits for an update.
const POLL_SECONDS: u64 = 25;
/// The pause after a failed poll.
const POLL_PAUSE: Duration = Duration::from_secs(2);

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
}

fn default_base_url() -> String {
    "https://api.telegram.org".into()
}

/// Written with the token redacted.
impl Serialize for TelegramCommandsConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({ "base_url": self.base_url, "bot_token": "<redacted>", "chats": self.chats })
            .serialize(serializer)
    }
}

impl std::fmt::Debug for TelegramCommandsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramCommandsConfig")
            .field("base_url", &self.base_url)
            .field("chats", &self.chats)
            .finish_non_exhaustive()
    }
}

/// The bot that takes commands.
pub struct TelegramCommands {
    config: TelegramCommandsConfig,
    http: HttpsClient<Full<Bytes>>,
    roles: HashMap<i64, ChatRole>,
    security: Arc<Security>,
    pipelines: Arc<Pipelines>,
    desk: Arc<OrderDesk>,
}

/// One update, as far as it is read.
#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    message: Option<TextMessage>,
    callback_query: Option<Tap>,
}

#[derive(Debug, Deserialize)]
struct TextMessage {
    chat: Chat,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

/// A tap on a button.
#[derive(Debug, Deserialize)]
struct Tap {
    id: String,
    message: Option<TextMessage>,
    data: Option<String>,
}

impl TelegramCommands {
    /// The bot for `config`; a bad token or URL is named.
    pub fn new(
        config: &TelegramCommandsConfig,
        security: Arc<Security>,
        pipelines: Arc<Pipelines>,
        desk: Arc<OrderDesk>,
    ) -> Result<Self, String> {
        // The reply channel checks the token and URL.
        Telegram::new(&reply_config(config, 0))
            .map_err(|e| format!("notify.telegram_commands: {e}"))?;
        Ok(Self {
            roles: config.chats.iter().map(|c| (c.chat_id, c.role)).collect(),
            http: https_client(Duration::from_secs(POLL_SECONDS + 10))?,
            config: config.clone(),
            security,
            pipelines,
            desk,
        })
    }

    /// Polls for updates and answers them until `stopped`. An update is
    /// confirmed (by the next poll's offset) once it was handled.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut offset = 0;
        while !*stopped.borrow() {
            tokio::select! {
                polled = self.poll(offset) => match polled {
                    Ok(updates) => {
                        for update in updates {
                            offset = offset.max(update.update_id + 1);
                            self.handle(update).await;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "telegram commands: cannot read updates");
                        tokio::time::sleep(POLL_PAUSE).await;
                    }
                },
                _ = stopped.changed() => {}
            }
        }
    }

    async fn poll(&self, offset: i64) -> Result<Vec<Update>, String> {
        let answer = self
            .call(
                "getUpdates",
                json!({ "offset": offset, "timeout": POLL_SECONDS, "allowed_updates": ["message", "callback_query"] }),
            )
            .await?;
        serde_json::from_value(answer).map_err(|e| format!("unreadable updates: {e}"))
    }

    /// Calls the Bot API method `method`; returns its `result`.
    async fn call(&self, method: &str, body: Value) -> Result<Value, String> {
        let url = format!(
            "{}/bot{}/{method}",
            self.config.base_url.trim_end_matches('/'),
            self.config.bot_token
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| format!("cannot build the {method} request"))?;
        let timeout = Duration::from_secs(POLL_SECONDS + 10);
        let (head, body) = exchange(&self.http, request, timeout, "telegram")
            .await
            .map_err(|_| format!("telegram did not answer {method}"))?;
        let answer: Value =
            serde_json::from_slice(&body).map_err(|_| format!("{method}: not JSON"))?;
        match answer["ok"].as_bool() {
            Some(true) => Ok(answer["result"].clone()),
            _ => Err(format!(
                "{method}: {} {}",
                head.status,
                answer["description"].as_str().unwrap_or_default()
            )),
        }
    }

    async fn handle(&self, update: Update) {
        if let Some(message) = update.message {
            let text = message.text.unwrap_or_default();
            let reply = self.command(message.chat.id, text.trim()).await;
            self.reply(message.chat.id, &reply).await;
        } else if let Some(tap) = update.callback_query {
            let chat = tap.message.as_ref().map_or(0, |m| m.chat.id);
            let answer = self
                .tap(chat, tap.data.as_deref().unwrap_or_default())
                .await;
            if let Err(err) = self
                .call(
                    "answerCallbackQuery",
                    json!({ "callback_query_id": tap.id, "text": answer }),
                )
                .await
            {
                tracing::warn!(error = %err, "telegram commands: cannot answer a tap");
            }
        }
    }

    /// The answer to `text` from `chat`.
    async fn command(&self, chat: i64, text: &str) -> String {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        // `/halt@my_bot` in a group names the bot.
        let word = word.split('@').next().unwrap_or_default();
        let needs = match word {
            "/status" | "/positions" | "/orders" | "/pnl" => ChatRole::Viewer,
            "/halt" => ChatRole::Trader,
            "/resume" => ChatRole::Admin,
            _ => {
                return "Commands: /status, /positions, /orders, /pnl, /halt [reason], /resume"
                    .into();
            }
        };
        if let Err(refusal) = self.allowed(chat, needs, word).await {
            return refusal;
        }
        let halt = self.security.halt.state();
        match word {
            "/status" if halt.halted => format!(
                "Trading is halted (by {}: {}).",
                halt.actor,
                if halt.reason.is_empty() {
                    "no reason given"
                } else {
                    &halt.reason
                }
            ),
            "/status" => "Trading is running.".into(),
            "/positions" => telegram_reports::positions(&self.desk, &self.pipelines).await,
            "/orders" => telegram_reports::orders(&self.desk).await,
            "/pnl" => telegram_reports::pnl(&self.desk, &self.pipelines).await,
            _ => {
                let halted = word == "/halt";
                let reason = match rest.trim() {
                    "" if halted => "halted from Telegram".to_string(),
                    reason => reason.to_string(),
                };
                let action = if halted {
                    actions::TRADING_HALT
                } else {
                    actions::TRADING_RESUME
                };
                match self
                    .security
                    .set_halt(halted, reason, entry(chat, action, "trading"))
                    .await
                {
                    Ok(_) if halted => "Trading halted.".into(),
                    Ok(_) => "Trading resumed.".into(),
                    Err(err) => format!("Not done: {err}"),
                }
            }
        }
    }

    /// The answer to a tap carrying `data` in `chat`.
    async fn tap(&self, chat: i64, data: &str) -> String {
        let Some((verb, id)) = data.split_once(':') else {
            return "Unknown button.".into();
        };
        if let Err(refusal) = self.allowed(chat, ChatRole::Trader, verb).await {
            return refusal;
        }
        let decided = match verb {
            "approve" => {
                self.pipelines
                    .approve(id, entry(chat, actions::APPROVAL_APPROVE, id))
                    .await
            }
            "reject" => {
                self.pipelines
                    .reject(
                        id,
                        "rejected from Telegram",
                        entry(chat, actions::APPROVAL_REJECT, id),
                    )
                    .await
            }
            _ => return "Unknown button.".into(),
        };
        match decided {
            Ok(_) if verb == "approve" => "Approved: the order is placed.".into(),
            Ok(_) => "Rejected.".into(),
            Err(err) => format!("Not done: {err}"),
        }
    }

    /// Whether `chat` may do what needs `role`; a refusal is audited and
    /// returned as the answer.
    async fn allowed(&self, chat: i64, role: ChatRole, what: &str) -> Result<(), String> {
        match self.roles.get(&chat) {
            Some(has) if *has >= role => Ok(()),
            has => {
                let why = match has {
                    Some(_) => format!("{what} needs the {role:?} role"),
                    None => "this chat may not command tradeplane".to_string(),
                };
                let mut refused = entry(chat, actions::TELEGRAM_REFUSED, "telegram");
                refused.outcome = AuditOutcome::Failure;
                refused.detail = format!("{what}: {why}");
                self.security.audit.record_or_log(refused).await;
                Err(format!("Refused: {why}."))
            }
        }
    }

    async fn reply(&self, chat: i64, text: &str) {
        let sent = match Telegram::new(&reply_config(&self.config, chat)) {
            Ok(channel) => channel
                .send(&Message {
                    id: String::new(),
                    kind: "command".into(),
                    severity: Severity::Info,
                    title: "tradeplane".into(),
                    text: text.to_string(),
                    time_ms: crate::proto_time::now_ms(),
                    buttons: Vec::new(),
                })
                .await
                .map_err(|e| e.to_string()),
            Err(err) => Err(err),
        };
        if let Err(err) = sent {
            tracing::warn!(error = %err, chat, "telegram commands: cannot reply");
        }
    }
}

/// The audit entry of what `chat` did.
fn entry(chat: i64, action: &'static str, target: &str) -> AuditEntry {
    AuditEntry {
        actor: format!("telegram:{chat}"),
        action,
        target: target.to_string(),
        ..Default::default()
    }
}

/// A channel that replies to `chat` through the commands' bot.
fn reply_config(config: &TelegramCommandsConfig, chat: i64) -> TelegramConfig {
    TelegramConfig {
        base_url: config.base_url.clone(),
        bot_token: config.bot_token.clone(),
        chat_id: chat.to_string(),
        parse_mode: Default::default(),
    }
}

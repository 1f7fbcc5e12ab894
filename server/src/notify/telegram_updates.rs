//! What the commands' bot does with one update, however it came (a
//! `getUpdates` poll or a webhook POST): `/status`, `/positions`,
//! `/orders` and `/pnl` (any role), `/halt [reason]` (trader), `/resume`
//! (admin), and the Approve / Reject buttons under an approval's message
//! (trader), which go through the approval path, audited as
//! `telegram:<chat id>`. A chat not allowed is refused, and the refusal
//! is audited. An update seen lately (Telegram resends one it got no 2xx
//! for) is ignored.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use serde::Deserialize;
use serde_json::json;
use tradeplane_api::AuditOutcome;

use super::{
    channel::{Channel, Message, Severity},
    channels::telegram::{Telegram, TelegramConfig},
    telegram_api::BotApi,
    telegram_commands::{ChatRole, TelegramCommandsConfig},
    telegram_reports,
};
use crate::{
    audit::{AuditEntry, actions},
    orders::desk::OrderDesk,
    pipelines::Pipelines,
    security::Security,
};

/// How many update ids are remembered to ignore a repeat.
const REMEMBERED_UPDATES: usize = 1024;

/// One update, as far as it is read.
#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
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

/// The update ids handled lately, oldest first.
#[derive(Default)]
struct Recent {
    order: VecDeque<i64>,
    seen: HashSet<i64>,
}

impl Recent {
    /// Whether `id` is new; remembers it.
    fn first_time(&mut self, id: i64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED_UPDATES
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

/// Answers the updates of the chats it allows.
pub(super) struct UpdateHandler {
    config: TelegramCommandsConfig,
    api: Arc<BotApi>,
    roles: HashMap<i64, ChatRole>,
    recent: Mutex<Recent>,
    security: Arc<Security>,
    pipelines: Arc<Pipelines>,
    desk: Arc<OrderDesk>,
}

impl UpdateHandler {
    /// The handler of `config`'s bot; a bad token or URL is named.
    pub fn new(
        config: &TelegramCommandsConfig,
        api: Arc<BotApi>,
        security: Arc<Security>,
        pipelines: Arc<Pipelines>,
        desk: Arc<OrderDesk>,
    ) -> Result<Self, String> {
        // The reply channel checks the token and URL.
        Telegram::new(&reply_config(config, 0))
            .map_err(|e| format!("notify.telegram_commands: {e}"))?;
        Ok(Self {
            roles: config.chats.iter().map(|c| (c.chat_id, c.role)).collect(),
            config: config.clone(),
            api,
            recent: Mutex::new(Recent::default()),
            security,
            pipelines,
            desk,
        })
    }

    /// Answers `update`, unless it was handled lately.
    pub async fn handle(&self, update: Update) {
        let first_time = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_time(update.update_id);
        if !first_time {
            tracing::debug!(
                update_id = update.update_id,
                "telegram commands: a repeated update is ignored"
            );
            return;
        }
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
                .api
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_update_is_not_new_until_forgotten() {
        let mut recent = Recent::default();
        assert!(recent.first_time(7));
        assert!(!recent.first_time(7));
        for id in 100..100 + REMEMBERED_UPDATES as i64 {
            assert!(recent.first_time(id));
        }
        assert!(recent.first_time(7), "the oldest is forgotten");
        assert_eq!(recent.order.len(), REMEMBERED_UPDATES);
    }
}

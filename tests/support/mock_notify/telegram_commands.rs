//! Helpers for the tests of the commands' bot: its configuration against
//! a mock, and waiting for what the bot said.

use std::time::Duration;

use tradeplane_server::notify::telegram_commands::{
    AllowedChat, ChatRole, TelegramCommandsConfig, UpdatesMode,
};

use super::telegram::{BOT_TOKEN, CHAT_ID, MockTelegram};
use crate::eventually;

/// The bot on `telegram`, obeying [`CHAT_ID`] as `role`, polling.
pub fn commands_config(telegram: &MockTelegram, role: ChatRole) -> TelegramCommandsConfig {
    TelegramCommandsConfig {
        base_url: telegram.url.clone(),
        bot_token: BOT_TOKEN.into(),
        chats: vec![AllowedChat {
            chat_id: CHAT_ID,
            role,
        }],
        updates: UpdatesMode::Polling,
        webhook_url: String::new(),
        webhook_secret: String::new(),
    }
}

/// Waits until the mock bot has sent a message whose shown text
/// contains `part`.
pub async fn bot_said(telegram: &MockTelegram, part: &str) {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match telegram.messages().iter().any(|m| m.shown.contains(part)) {
                true => Ok(()),
                false => Err(format!(
                    "the bot never said {part:?}: {:?}",
                    telegram.messages()
                )),
            }
        },
    )
    .await
}

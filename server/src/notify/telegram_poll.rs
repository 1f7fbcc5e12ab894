//! Updates by long polling: `getUpdates` in a loop, each update answered
//! before the next poll's offset confirms it. While a webhook is set for
//! the bot Telegram answers 409 Conflict; that is logged as an error
//! naming the cause, and polled again only after a long pause.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tokio::sync::watch;

use super::{
    telegram_api::{ALLOWED_UPDATES, BotApi, BotApiError, POLL_SECONDS},
    telegram_updates::{Update, UpdateHandler},
};

/// The pause after a failed poll.
const POLL_PAUSE: Duration = Duration::from_secs(2);
/// The pause after a 409: someone must change the settings or the bot.
const CONFLICT_PAUSE: Duration = Duration::from_secs(60);

/// Polls for updates and answers them with `handler` until `stopped`.
pub(super) async fn run(api: &BotApi, handler: &UpdateHandler, mut stopped: watch::Receiver<bool>) {
    let mut offset = 0;
    while !*stopped.borrow() {
        let pause = tokio::select! {
            polled = poll(api, offset) => match polled {
                Ok(updates) => {
                    for update in updates {
                        offset = offset.max(update.update_id + 1);
                        handler.handle(update).await;
                    }
                    continue;
                }
                Err(err) if err.status == Some(StatusCode::CONFLICT) => {
                    tracing::error!(
                        error = %err,
                        "telegram commands: cannot poll for updates: a webhook is set for this bot; \
                         set updates = \"webhook\" or call deleteWebhook"
                    );
                    CONFLICT_PAUSE
                }
                Err(err) => {
                    tracing::warn!(error = %err, "telegram commands: cannot read updates");
                    POLL_PAUSE
                }
            },
            _ = stopped.changed() => continue,
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => {}
        }
    }
}

async fn poll(api: &BotApi, offset: i64) -> Result<Vec<Update>, BotApiError> {
    let answer = api
        .call(
            "getUpdates",
            json!({ "offset": offset, "timeout": POLL_SECONDS, "allowed_updates": ALLOWED_UPDATES }),
        )
        .await?;
    serde_json::from_value(answer).map_err(|e| BotApiError {
        status: None,
        message: format!("unreadable updates: {e}"),
    })
}

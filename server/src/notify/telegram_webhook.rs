//! Updates by webhook: at start the bot tells Telegram where to POST them
//! (`setWebhook`, retried until it succeeds), and the HTTP port's route
//! hands each POST to a [`TelegramInbox`], which checks Telegram's
//! secret-token header in constant time, reads the update and queues it.
//! The queue is answered in order, by the same handler as polled updates.

use std::time::Duration;

use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, watch};

use super::{
    telegram_api::{ALLOWED_UPDATES, BotApi},
    telegram_updates::{Update, UpdateHandler},
};

/// Updates received and not answered yet; more are refused (and resent by
/// Telegram later).
const QUEUED_UPDATES: usize = 256;
/// The pause after a failed `setWebhook`.
const SET_WEBHOOK_PAUSE: Duration = Duration::from_secs(5);

/// Why a POST to the route was not taken as Telegram's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRefusal {
    /// No `X-Telegram-Bot-Api-Secret-Token`.
    Missing,
    /// Another token.
    Wrong,
}

impl SecretRefusal {
    /// Every refusal, for pre-registering metric series.
    pub const ALL: [SecretRefusal; 2] = [SecretRefusal::Missing, SecretRefusal::Wrong];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretRefusal::Missing => "missing_secret_token",
            SecretRefusal::Wrong => "bad_secret_token",
        }
    }
}

/// Why an authenticated POST's update was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxRefusal {
    /// The body is not an update.
    Unreadable(String),
    /// Too many updates wait; Telegram resends it later.
    Full,
}

/// Where the HTTP route hands Telegram's POSTs.
pub struct TelegramInbox {
    secret: Vec<u8>,
    queue: mpsc::Sender<Update>,
}

impl TelegramInbox {
    /// The inbox checking `secret`, and the queue it fills.
    pub(super) fn new(secret: &str) -> (Self, mpsc::Receiver<Update>) {
        let (queue, queued) = mpsc::channel(QUEUED_UPDATES);
        let inbox = Self {
            secret: secret.as_bytes().to_vec(),
            queue,
        };
        (inbox, queued)
    }

    /// Checks the `X-Telegram-Bot-Api-Secret-Token` header's value, in
    /// constant time.
    pub fn check_secret(&self, header: Option<&[u8]>) -> Result<(), SecretRefusal> {
        let token = header
            .filter(|t| !t.is_empty())
            .ok_or(SecretRefusal::Missing)?;
        match bool::from(token.ct_eq(&self.secret)) {
            true => Ok(()),
            false => Err(SecretRefusal::Wrong),
        }
    }

    /// Reads `body` as an update and queues it to be answered.
    pub fn take(&self, body: &[u8]) -> Result<(), InboxRefusal> {
        let update: Update = serde_json::from_slice(body)
            .map_err(|e| InboxRefusal::Unreadable(format!("not a Telegram update: {e}")))?;
        self.queue.try_send(update).map_err(|_| InboxRefusal::Full)
    }
}

/// Where Telegram is told to POST, with which secret.
pub(super) struct Hook<'a> {
    pub url: &'a str,
    pub secret: &'a str,
}

/// Sets the webhook, then answers the queued updates with `handler` until
/// `stopped`.
pub(super) async fn run(
    api: &BotApi,
    hook: &Hook<'_>,
    handler: &UpdateHandler,
    mut queue: mpsc::Receiver<Update>,
    mut stopped: watch::Receiver<bool>,
) {
    let set = async {
        while let Err(err) = set_webhook(api, hook).await {
            tracing::warn!(error = %err, "telegram commands: cannot set the webhook; retrying");
            tokio::time::sleep(SET_WEBHOOK_PAUSE).await;
        }
        tracing::info!(url = hook.url, "telegram commands: webhook set");
    };
    let answer = async {
        while let Some(update) = queue.recv().await {
            handler.handle(update).await;
        }
    };
    tokio::select! {
        _ = futures::future::join(set, answer) => {}
        _ = stopped.wait_for(|stop| *stop) => {}
    }
}

async fn set_webhook(api: &BotApi, hook: &Hook<'_>) -> Result<(), String> {
    api.call(
        "setWebhook",
        json!({ "url": hook.url, "secret_token": hook.secret, "allowed_updates": ALLOWED_UPDATES }),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

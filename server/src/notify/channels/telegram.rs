//! The Telegram channel: a bot's `sendMessage` to one chat, the text
//! escaped for its parse mode (the title in bold), buttons as an inline
//! keyboard, within Telegram's documented bot limits (one message a
//! second per chat, thirty a second in all), which every channel of the
//! same bot shares.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    notify::channel::{Channel, Message, SendError},
    orders::exchanges::transport::{
        Backoff, HttpsClient, USER_AGENT, Unanswered, exchange, https_client,
    },
};

/// The Bot API's address.
const DEFAULT_BASE_URL: &str = "https://api.telegram.org";
/// How long one `sendMessage` may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a send waits for its rate-limit slot; beyond it the send
/// answers [`SendError::Retry`] with the wait instead.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(10);
/// Telegram's limit per chat: one message a second.
const PER_CHAT: (usize, Duration) = (1, Duration::from_secs(1));
/// Telegram's limit per bot: thirty messages a second in all.
const PER_BOT: (usize, Duration) = (30, Duration::from_secs(1));
/// The most characters a message may show.
const MAX_TEXT_CHARS: usize = 4096;
/// The most bytes a button's `callback_data` may have.
const MAX_CALLBACK_BYTES: usize = 64;

/// The telegram channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Where requests go; tests point it at a loopback mock.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The bot's token from @BotFather (a secret: never shown).
    pub bot_token: String,
    /// The chat messages go to: a number, or `@channelname`.
    #[serde(deserialize_with = "chat_id")]
    pub chat_id: String,
    /// How the text is marked up: `HTML` (the default) or `plain`.
    #[serde(default)]
    pub parse_mode: ParseMode,
}

/// How a message's text is marked up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ParseMode {
    /// Telegram's HTML: the text escaped, the title in `<b>`.
    #[default]
    #[serde(rename = "HTML")]
    Html,
    /// No markup: the text as it is.
    #[serde(rename = "plain")]
    Plain,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

/// A chat id written as a number or as a string.
fn chat_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Number(id) => id.to_string(),
        Id::Text(id) => id,
    })
}

impl TelegramConfig {
    /// The section as it may be shown: the token redacted.
    pub fn redacted(&self) -> serde_json::Value {
        json!({
            "type": "telegram",
            "base_url": self.base_url,
            "bot_token": "***",
            "chat_id": self.chat_id,
            "parse_mode": match self.parse_mode {
                ParseMode::Html => "HTML",
                ParseMode::Plain => "plain",
            },
        })
    }
}

/// Shown as its redacted form, so that the token never reaches a log.
impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Sends messages to one Telegram chat.
pub struct Telegram {
    http: HttpsClient<Full<Bytes>>,
    /// `{base_url}/bot{token}/sendMessage`: holds the token, never shown.
    send_url: String,
    /// The receiver's host, as errors name it.
    host: String,
    chat_id: Value,
    /// The chat's id as configured: its rate limit's key.
    chat: String,
    parse_mode: ParseMode,
    limits: Arc<BotLimits>,
}

impl Telegram {
    /// The channel for `config`; a field it cannot use is named.
    pub fn new(config: &TelegramConfig) -> Result<Self, String> {
        let base_url = config.base_url.trim_end_matches('/');
        let uri: http::Uri = base_url
            .parse()
            .map_err(|_| "telegram base_url: not a URL".to_string())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err("telegram base_url: the scheme must be http or https".into());
        }
        let host = uri
            .host()
            .ok_or("telegram base_url: it has no host")?
            .to_string();
        check_token(&config.bot_token)?;
        let chat_id = chat_value(&config.chat_id)?;
        let send_url = format!("{base_url}/bot{}/sendMessage", config.bot_token);
        Ok(Self {
            http: https_client(TIMEOUT)?,
            limits: BotLimits::of(&format!("{base_url}/bot{}", config.bot_token)),
            send_url,
            host,
            chat_id,
            chat: config.chat_id.clone(),
            parse_mode: config.parse_mode,
        })
    }

    /// The `sendMessage` parameters for `message`.
    fn body(&self, message: &Message) -> Result<Value, SendError> {
        let (title, text) = fit(&message.title, &message.text);
        let mut body = json!({
            "chat_id": self.chat_id,
            "disable_web_page_preview": true,
        });
        match self.parse_mode {
            ParseMode::Html => {
                body["text"] = json!(format!("<b>{}</b>\n{}", escape(&title), escape(&text)));
                body["parse_mode"] = json!("HTML");
            }
            ParseMode::Plain => body["text"] = json!(format!("{title}\n{text}")),
        }
        if !message.buttons.is_empty() {
            let mut row = Vec::new();
            for button in &message.buttons {
                if button.callback.is_empty() || button.callback.len() > MAX_CALLBACK_BYTES {
                    return Err(SendError::Permanent(format!(
                        "the button {:?} needs a callback of 1 to {MAX_CALLBACK_BYTES} bytes",
                        button.label
                    )));
                }
                row.push(json!({ "text": button.label, "callback_data": button.callback }));
            }
            body["reply_markup"] = json!({ "inline_keyboard": [row] });
        }
        Ok(body)
    }

    /// Reads Telegram's answer to one `sendMessage`.
    fn outcome(
        &self,
        status: StatusCode,
        retry_header: Option<u64>,
        body: &[u8],
    ) -> Result<(), SendError> {
        let answer: Option<Answer> = serde_json::from_slice(body).ok();
        let who = format!("telegram ({})", self.host);
        if status.is_success() {
            return match answer {
                Some(Answer {
                    ok: true,
                    result: Some(result),
                    ..
                }) if result.get("message_id").is_some_and(Value::is_i64) => Ok(()),
                _ => Err(SendError::Retry {
                    after: None,
                    reason: format!("{who} answered {status} without a message id"),
                }),
            };
        }
        let description = answer
            .as_ref()
            .and_then(|a| a.description.clone())
            .unwrap_or_else(|| "no description".into());
        let mut reason = format!("{who} answered {}: {description}", status.as_u16());
        let parameters = answer.and_then(|a| a.parameters);
        if let Some(moved) = parameters.as_ref().and_then(|p| p.migrate_to_chat_id) {
            reason.push_str(&format!(
                " (the group is now the supergroup {moved}: set chat_id to it)"
            ));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let after = parameters
                .and_then(|p| p.retry_after)
                .or(retry_header)
                .map(Duration::from_secs);
            if let Some(after) = after {
                self.limits.backoff.hold(after);
            }
            return Err(SendError::Retry { after, reason });
        }
        if status.is_server_error() {
            return Err(SendError::Retry {
                after: None,
                reason,
            });
        }
        Err(SendError::Permanent(reason))
    }
}

#[async_trait]
impl Channel for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let body = self.body(message)?.to_string();
        self.limits.wait_turn(&self.chat).await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.send_url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::Permanent("cannot build the request".into()))?;
        let who = format!("telegram ({})", self.host);
        let (head, body) =
            exchange(&self.http, request, TIMEOUT, &who)
                .await
                .map_err(|unanswered| {
                    let reason = match unanswered {
                        Unanswered::NotSent(reason) | Unanswered::NoAnswer(reason) => reason,
                    };
                    SendError::Retry {
                        after: None,
                        reason,
                    }
                })?;
        let retry_header =
            crate::orders::exchanges::transport::header_number(&head.headers, "retry-after");
        self.outcome(head.status, retry_header, &body)
    }
}

/// Telegram's answer, as far as it is read.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<Value>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

/// What a refusal asks of the caller.
#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    /// Where a group that became a supergroup went.
    migrate_to_chat_id: Option<i64>,
}

/// Fails unless `token` looks like a bot token (`<bot id>:<secret>`);
/// the error never shows it.
fn check_token(token: &str) -> Result<(), String> {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err("telegram bot_token: not a bot token (<bot id>:<secret> from @BotFather)".into())
    }
}

/// The chat id as sent: a number, or an `@channelname`.
fn chat_value(id: &str) -> Result<Value, String> {
    if let Ok(number) = id.parse::<i64>() {
        return Ok(json!(number));
    }
    let name = id.strip_prefix('@').unwrap_or_default();
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(json!(id));
    }
    Err("telegram chat_id: neither a number nor an @channelname".into())
}

/// The title and text cut so that together (with the line between them)
/// they show at most [`MAX_TEXT_CHARS`] characters; a cut ends with `…`.
fn fit(title: &str, text: &str) -> (String, String) {
    let cut = |s: &str, max: usize| -> String {
        if s.chars().count() <= max {
            s.to_string()
        } else {
            let mut kept: String = s.chars().take(max.saturating_sub(1)).collect();
            kept.push('…');
            kept
        }
    };
    let title = cut(title, 256);
    let room = MAX_TEXT_CHARS - title.chars().count() - 1;
    (title, cut(text, room))
}

/// `text` escaped for Telegram's HTML parse mode.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// The rate limits of one bot: its own in all, and one per chat, shared by
/// every channel sending with the same token.
struct BotLimits {
    all: Window,
    chats: Mutex<HashMap<String, Arc<Window>>>,
    /// The wait Telegram asked for after a 429.
    backoff: Backoff,
}

/// Every bot's limits, by base URL and token.
static BOTS: LazyLock<Mutex<HashMap<String, Arc<BotLimits>>>> = LazyLock::new(Default::default);

impl BotLimits {
    /// The limits of the bot at `bot_url` (base URL and token).
    fn of(bot_url: &str) -> Arc<Self> {
        let mut bots = BOTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        bots.entry(bot_url.to_string())
            .or_insert_with(|| {
                Arc::new(Self {
                    all: Window::new(PER_BOT),
                    chats: Mutex::default(),
                    backoff: Backoff::default(),
                })
            })
            .clone()
    }

    /// Waits until a message to `chat` may go: past any wait Telegram
    /// asked for, the chat's slot, then the bot's. A wait longer than
    /// [`MAX_SLOT_WAIT`] is not taken: the send is retried later.
    async fn wait_turn(&self, chat: &str) -> Result<(), SendError> {
        if let Some(wait) = self.backoff.remaining() {
            let reason = "telegram asked to wait".to_string();
            if wait > MAX_SLOT_WAIT {
                return Err(SendError::Retry {
                    after: Some(wait),
                    reason,
                });
            }
            tokio::time::sleep(wait).await;
        }
        let window = {
            let mut chats = self
                .chats
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            chats
                .entry(chat.to_string())
                .or_insert_with(|| Arc::new(Window::new(PER_CHAT)))
                .clone()
        };
        window.take_slot("the chat's").await?;
        self.all.take_slot("the bot's").await
    }
}

/// At most `limit` slots in any `period`: the times of the latest slots
/// handed out, oldest first.
struct Window {
    limit: usize,
    period: Duration,
    slots: Mutex<VecDeque<Instant>>,
}

impl Window {
    fn new((limit, period): (usize, Duration)) -> Self {
        Self {
            limit,
            period,
            slots: Mutex::default(),
        }
    }

    /// Takes the next free slot and waits for it, unless it is more than
    /// [`MAX_SLOT_WAIT`] away; `whose` names the limit in the refusal.
    async fn take_slot(&self, whose: &str) -> Result<(), SendError> {
        let now = Instant::now();
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let slot = match slots.front() {
                Some(&oldest) if slots.len() >= self.limit => (oldest + self.period).max(now),
                _ => now,
            };
            if slot - now > MAX_SLOT_WAIT {
                return Err(SendError::Retry {
                    after: Some(slot - now),
                    reason: format!("{whose} telegram rate limit is taken for now"),
                });
            }
            slots.push_back(slot);
            while slots.len() > self.limit {
                slots.pop_front();
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }
}

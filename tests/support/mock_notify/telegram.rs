//! A mock of the Telegram Bot API on a loopback port. It checks the bot
//! token in the path, reads `sendMessage` as JSON the way Telegram does
//! (known chats only, HTML that parses, at most 4096 characters shown,
//! an inline keyboard's buttons with 1 to 64 bytes of callback data),
//! refuses a send that breaks Telegram's bot limits (one message a second
//! per chat, thirty a second in all) with a 429 and `retry_after`, and
//! records what it accepted. It also serves `getUpdates` (a long poll on
//! the updates a test queues: messages and button taps),
//! `answerCallbackQuery`, and `setWebhook` (checked and
//! recorded; while a webhook is set `getUpdates` is answered 409
//! Conflict, as Telegram does), for the tests of Telegram commands. The
//! HTTP and the faults (on `sendMessage` only) are the shared core's,
//! `mock_venue`.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::telegram_markup::{keyboard, shown_html};
pub use crate::mock_venue::Fault;
use crate::mock_venue::{Answer, Faults, Request, Route, Server, Trouble, Venue, answer, params};

/// The bot token the mock accepts.
pub const BOT_TOKEN: &str = "123456789:mock_telegram-token_0123456789abcdefghij";
/// The chat the mock knows from the start.
pub const CHAT_ID: i64 = 424_242;
/// How much sooner than Telegram's limits the mock lets a message
/// through, for the scheduling jitter of a loaded machine.
const SLACK: Duration = Duration::from_millis(200);

/// A message the mock accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub message_id: i64,
    /// The chat id as sent (a number or an `@channelname`).
    pub chat_id: String,
    /// The text as sent, markup and all.
    pub text: String,
    /// The text as the chat shows it: tags dropped, entities decoded.
    pub shown: String,
    pub parse_mode: Option<String>,
    pub disable_web_page_preview: bool,
    /// The inline keyboard, by row: each button's text and callback data.
    pub keyboard: Vec<Vec<(String, String)>>,
}

/// An answer to a button tap.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub text: Option<String>,
    pub show_alert: bool,
}

/// The webhook a `setWebhook` set.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSet {
    pub url: String,
    pub secret_token: Option<String>,
    pub allowed_updates: Vec<String>,
}

/// What the mock holds.
struct State {
    chats: HashSet<String>,
    /// Groups that became supergroups, and their new ids.
    migrated: HashMap<String, i64>,
    messages: Vec<SentMessage>,
    /// Updates not yet confirmed by a `getUpdates` offset.
    updates: VecDeque<Value>,
    next_update_id: i64,
    /// Button taps not answered yet.
    open_callbacks: HashSet<String>,
    answers: Vec<CallbackAnswer>,
    webhook: Option<WebhookSet>,
    /// `getUpdates` calls answered 409 for the webhook.
    conflicts: u64,
    /// Wakes a waiting `getUpdates` when an update is queued.
    wake: Arc<Notify>,
    /// When each chat last got a message.
    last_sent: HashMap<String, Instant>,
    /// When the messages of the last second were accepted.
    recent: VecDeque<Instant>,
    throttled: u64,
    refused_tokens: u64,
    polls: u64,
    faults: Faults,
}

/// The mock Telegram Bot API; it stops when dropped.
pub struct MockTelegram {
    /// `http://127.0.0.1:<port>`, the base URL of a channel's config.
    pub url: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl MockTelegram {
    /// A mock bot with [`BOT_TOKEN`] that knows the chat [`CHAT_ID`].
    pub async fn serve() -> Self {
        let state = Arc::new(Mutex::new(State {
            chats: HashSet::from([CHAT_ID.to_string()]),
            migrated: HashMap::new(),
            messages: Vec::new(),
            updates: VecDeque::new(),
            next_update_id: 1,
            open_callbacks: HashSet::new(),
            answers: Vec::new(),
            webhook: None,
            conflicts: 0,
            wake: Arc::new(Notify::new()),
            last_sent: HashMap::new(),
            recent: VecDeque::new(),
            throttled: 0,
            refused_tokens: 0,
            polls: 0,
            faults: Faults::default(),
        }));
        let server = Server::start(state.clone()).await;
        Self {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("mock state"))
    }

    /// Makes `chat_id` (a number or an `@channelname`) a chat the bot
    /// may write to.
    pub fn add_chat(&self, chat_id: &str) {
        self.with(|s| s.chats.insert(chat_id.to_string()));
    }

    /// Turns the group `old` into the supergroup `new`: sends to `old`
    /// are refused with `migrate_to_chat_id`.
    pub fn migrate_chat(&self, old: i64, new: i64) {
        self.with(|s| {
            s.chats.remove(&old.to_string());
            s.chats.insert(new.to_string());
            s.migrated.insert(old.to_string(), new);
        });
    }

    /// Queues `fault` for each of the next `count` sends.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        self.with(|s| (0..count).for_each(|_| s.faults.push(Route::Deliver, fault)));
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.with(|s| s.messages.clone())
    }

    /// Sends refused for breaking Telegram's rate limits.
    pub fn throttled(&self) -> u64 {
        self.with(|s| s.throttled)
    }

    /// Requests refused for a wrong bot token.
    pub fn refused_tokens(&self) -> u64 {
        self.with(|s| s.refused_tokens)
    }

    /// How many `getUpdates` calls were answered.
    pub fn polls(&self) -> u64 {
        self.with(|s| s.polls)
    }

    /// The answers to button taps, oldest first.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.with(|s| s.answers.clone())
    }

    /// The webhook set, if any.
    pub fn webhook(&self) -> Option<WebhookSet> {
        self.with(|s| s.webhook.clone())
    }

    /// Sets a webhook as another program would have.
    pub fn install_webhook(&self, url: &str, secret_token: &str) {
        self.with(|s| {
            s.webhook = Some(WebhookSet {
                url: url.into(),
                secret_token: Some(secret_token.into()),
                allowed_updates: Vec::new(),
            })
        });
    }

    /// How many `getUpdates` calls were answered 409 for the webhook.
    pub fn conflicts(&self) -> u64 {
        self.with(|s| s.conflicts)
    }

    /// Queues a text message from user `from` in `chat` (a command such
    /// as `/halt`); returns its update id.
    pub fn push_message(&self, chat: i64, from: i64, text: &str) -> i64 {
        self.with(|s| {
            let update = s.message_update(chat, from, text);
            let id = update["update_id"].as_i64().unwrap_or_default();
            s.push_update(update);
            id
        })
    }

    /// The update of a text message from user `from` in `chat`, as
    /// Telegram POSTs it to a webhook (with the next update id).
    pub fn message_update(&self, chat: i64, from: i64, text: &str) -> Value {
        self.with(|s| s.message_update(chat, from, text))
    }

    /// Queues a tap by user `from` in `chat` on a button carrying `data`
    /// under message `message_id`; returns the callback query's id.
    pub fn push_callback(&self, chat: i64, from: i64, message_id: i64, data: &str) -> String {
        self.with(|s| {
            let id = s.next_update_id;
            s.next_update_id += 1;
            let query_id = format!("cbq-{id}");
            s.open_callbacks.insert(query_id.clone());
            s.push_update(json!({
                "update_id": id,
                "callback_query": {
                    "id": query_id,
                    "from": { "id": from, "is_bot": false, "first_name": "Trader" },
                    "message": {
                        "message_id": message_id,
                        "date": unix_now(),
                        "chat": { "id": chat, "type": chat_type(chat) },
                    },
                    "chat_instance": format!("ci-{chat}"),
                    "data": data,
                },
            }));
            query_id
        })
    }
}

impl State {
    fn push_update(&mut self, update: Value) {
        self.updates.push_back(update);
        self.wake.notify_one();
    }

    fn message_update(&mut self, chat: i64, from: i64, text: &str) -> Value {
        let id = self.next_update_id;
        self.next_update_id += 1;
        json!({
            "update_id": id,
            "message": {
                "message_id": id,
                "date": unix_now(),
                "chat": { "id": chat, "type": chat_type(chat) },
                "from": { "id": from, "is_bot": false, "first_name": "Trader" },
                "text": text,
                "entities": command_entity(text),
            },
        })
    }

    /// `setWebhook`, checked as Telegram checks it: an HTTPS URL on a
    /// port it posts to, a secret token of 1 to 256 characters of
    /// `A-Z a-z 0-9 _ -`.
    fn set_webhook(&mut self, request: &Request) -> Answer {
        let args = arguments(request);
        let url = args["url"].as_str().unwrap_or_default();
        let Ok(parsed) = url::Url::parse(url) else {
            return bad_request("bad webhook: Failed to resolve host: Name or service not known");
        };
        if parsed.scheme() != "https" {
            return bad_request("bad webhook: An HTTPS URL must be provided for webhook");
        }
        if !matches!(parsed.port_or_known_default(), Some(80 | 88 | 443 | 8443)) {
            return bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            );
        }
        let secret_token = args["secret_token"].as_str().map(str::to_string);
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret_token
            .as_deref()
            .is_some_and(|t| !(1..=256).contains(&t.len()) || !t.chars().all(allowed))
        {
            return bad_request("secret token contains unallowed characters");
        }
        let allowed_updates = match &args["allowed_updates"] {
            Value::Null => Vec::new(),
            Value::Array(kinds) if kinds.iter().all(Value::is_string) => kinds
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            _ => return bad_request("can't parse allowed updates JSON object"),
        };
        self.webhook = Some(WebhookSet {
            url: url.to_string(),
            secret_token,
            allowed_updates,
        });
        answer(
            200,
            json!({ "ok": true, "result": true, "description": "Webhook was set" }),
        )
    }

    /// Drops the updates an offset confirms; the rest, up to `limit`.
    fn updates_from(&mut self, offset: Option<i64>, limit: usize) -> Vec<Value> {
        if let Some(offset) = offset {
            self.updates
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
        }
        self.updates.iter().take(limit).cloned().collect()
    }

    fn send_message(&mut self, request: &Request) -> Answer {
        if !request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return bad_request("the mock reads sendMessage as JSON only");
        }
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return bad_request("can't parse JSON object");
        };
        let chat_id = match &body["chat_id"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return bad_request("chat_id is empty"),
        };
        if let Some(new) = self.migrated.get(&chat_id) {
            return answer(
                400,
                json!({
                    "ok": false,
                    "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": { "migrate_to_chat_id": new },
                }),
            );
        }
        if !self.chats.contains(&chat_id) {
            return bad_request("chat not found");
        }
        let Some(text) = body["text"].as_str().filter(|t| !t.is_empty()) else {
            return bad_request("message text is empty");
        };
        let parse_mode = body["parse_mode"].as_str().map(str::to_string);
        let shown = match parse_mode.as_deref() {
            None => text.to_string(),
            Some("HTML") => match shown_html(text) {
                Ok(shown) => shown,
                Err(why) => return bad_request(&format!("can't parse entities: {why}")),
            },
            Some(_) => return bad_request("unsupported parse_mode"),
        };
        if shown.chars().count() > 4096 {
            return bad_request("message is too long");
        }
        let keyboard = match keyboard(&body["reply_markup"]) {
            Ok(keyboard) => keyboard,
            Err(why) => return bad_request(why),
        };
        if let Some(wait) = self.over_limits(&chat_id) {
            self.throttled += 1;
            return throttled(wait);
        }
        let message_id = self.messages.len() as i64 + 1;
        self.messages.push(SentMessage {
            message_id,
            chat_id: chat_id.clone(),
            text: text.to_string(),
            shown: shown.clone(),
            parse_mode,
            disable_web_page_preview: body["disable_web_page_preview"] == json!(true),
            keyboard,
        });
        answer(
            200,
            json!({ "ok": true, "result": {
                "message_id": message_id,
                "date": unix_now(),
                "chat": { "id": body["chat_id"], "type": "private" },
                "text": shown,
            }}),
        )
    }

    /// The wait, if a message to `chat` now would break a limit; else
    /// counts the message against them.
    fn over_limits(&mut self, chat: &str) -> Option<u64> {
        let now = Instant::now();
        let second = Duration::from_secs(1) - SLACK;
        if self
            .last_sent
            .get(chat)
            .is_some_and(|last| now - *last < second)
        {
            return Some(1);
        }
        self.recent.retain(|at| now - *at < second);
        if self.recent.len() >= 30 {
            return Some(1);
        }
        self.recent.push_back(now);
        self.last_sent.insert(chat.to_string(), now);
        None
    }

    fn answer_callback(&mut self, request: &Request) -> Answer {
        let args = arguments(request);
        let Some(id) = args["callback_query_id"].as_str() else {
            return bad_request("callback_query_id is empty");
        };
        if !self.open_callbacks.remove(id) {
            return bad_request(
                "query is too old and response timeout expired or query ID is invalid",
            );
        }
        self.answers.push(CallbackAnswer {
            callback_query_id: id.to_string(),
            text: args["text"].as_str().map(str::to_string),
            show_alert: args["show_alert"] == json!(true),
        });
        answer(200, json!({ "ok": true, "result": true }))
    }
}

impl Venue for State {
    fn route(&self, request: &Request) -> Option<Route> {
        request
            .path
            .ends_with("/sendMessage")
            .then_some(Route::Deliver)
    }

    fn handle(&mut self, request: &Request) -> Answer {
        let Some(method) = request.path.strip_prefix(&format!("/bot{BOT_TOKEN}/")) else {
            self.refused_tokens += 1;
            return refusal(401, "Unauthorized");
        };
        match (request.method.as_str(), method) {
            ("POST", "sendMessage") => self.send_message(request),
            ("GET" | "POST", "getUpdates") if self.webhook.is_some() => {
                self.conflicts += 1;
                refusal(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                )
            }
            ("GET" | "POST", "getUpdates") => {
                self.polls += 1;
                let args = arguments(request);
                let limit = args["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
                let updates = self.updates_from(args["offset"].as_i64(), limit);
                answer(200, json!({ "ok": true, "result": updates }))
            }
            ("GET" | "POST", "answerCallbackQuery") => self.answer_callback(request),
            ("GET" | "POST", "setWebhook") => self.set_webhook(request),
            _ => refusal(404, "Not Found"),
        }
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Internal => refusal(500, "Internal Server Error"),
            Trouble::BackendTimeout => refusal(502, "Bad Gateway"),
            Trouble::Throttled(secs) | Trouble::Banned(secs) => throttled(secs),
        }
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }

    /// A `getUpdates` with a `timeout` and nothing to return waits for an
    /// update, at most that long.
    fn hold(&mut self, request: &Request) -> Option<(Arc<Notify>, Duration)> {
        if !request.path.ends_with("/getUpdates") || self.webhook.is_some() {
            return None;
        }
        let args = arguments(request);
        let timeout = args["timeout"].as_u64().filter(|t| *t > 0)?;
        let offset = args["offset"].as_i64();
        let pending = self
            .updates
            .iter()
            .any(|u| offset.is_none_or(|o| u["update_id"].as_i64().is_some_and(|id| id >= o)));
        (!pending).then(|| (self.wake.clone(), Duration::from_secs(timeout.min(60))))
    }
}

/// A method's arguments, from a JSON body or the query string (numbers
/// and booleans read as such).
fn arguments(request: &Request) -> Value {
    if let Ok(body @ Value::Object(_)) = serde_json::from_str(&request.body) {
        return body;
    }
    let args = params(&request.query)
        .into_iter()
        .map(|(k, v)| {
            let v = serde_json::from_str(&v).unwrap_or(Value::String(v));
            (k, v)
        })
        .collect();
    Value::Object(args)
}

/// Telegram's refusal: `{ok: false, error_code, description}`.
fn refusal(status: u16, description: &str) -> Answer {
    answer(
        status,
        json!({ "ok": false, "error_code": status, "description": description }),
    )
}

fn bad_request(why: &str) -> Answer {
    refusal(400, &format!("Bad Request: {why}"))
}

/// Telegram's 429, with the wait in `parameters.retry_after`.
fn throttled(secs: u64) -> Answer {
    answer(
        429,
        json!({
            "ok": false,
            "error_code": 429,
            "description": format!("Too Many Requests: retry after {secs}"),
            "parameters": { "retry_after": secs },
        }),
    )
}

/// A `bot_command` entity when `text` starts with `/`.
fn command_entity(text: &str) -> Value {
    if !text.starts_with('/') {
        return json!([]);
    }
    let length = text
        .split(' ')
        .next()
        .unwrap_or_default()
        .encode_utf16()
        .count();
    json!([{ "type": "bot_command", "offset": 0, "length": length }])
}

/// Telegram's chat type: groups have negative ids.
fn chat_type(chat: i64) -> &'static str {
    if chat < 0 { "group" } else { "private" }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

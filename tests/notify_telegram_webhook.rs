//! Telegram commands by webhook, end to end: with `updates = "webhook"`
//! the real server tells the mock Bot API where to POST (`setWebhook`,
//! with the configured URL and secret), and updates POSTed to its HTTP
//! port as Telegram would are answered by the same code as polled ones:
//! `/halt` from an allowed chat halts once however often Telegram resends
//! it, a stranger is refused and audited, a wrong or missing secret is 401
//! (counted and audited) and does nothing, a bad body is 400. A bot still
//! polling while a webhook is set logs why it gets nothing.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use reqwest::StatusCode;
use tradeplane_e2e::{
    TestServer, audit_events, eventually,
    mock_notify::{
        telegram::{CHAT_ID, MockTelegram, WebhookSet},
        telegram_commands::{bot_said, commands_config},
    },
    post_webhook, trading_halted,
};
use tradeplane_server::notify::telegram_commands::{ChatRole, UpdatesMode};

/// The public URL Telegram is told to POST to.
const WEBHOOK_URL: &str = "https://bot.example.com/telegram/updates";
/// The secret Telegram sends back with each update.
const SECRET: &str = "tg_webhook-Secret_0123456789";
/// A chat the bot does not know.
const STRANGER: i64 = 777;
/// The user typing.
const USER: i64 = 99;

/// A server whose bot takes updates by webhook and obeys [`CHAT_ID`] as
/// an admin.
async fn server_by_webhook(telegram: &MockTelegram) -> TestServer {
    let mut commands = commands_config(telegram, ChatRole::Admin);
    commands.updates = UpdatesMode::Webhook;
    commands.webhook_url = WEBHOOK_URL.into();
    commands.webhook_secret = SECRET.into();
    TestServer::start_with(|config| {
        config.security.auth_failure_audit_window = Duration::from_millis(200);
        config.notify.telegram_commands = Some(commands);
    })
    .await
}

/// POSTs `body` to the server's Telegram route with `secret` in the
/// secret-token header (none: no header); the answer's status.
async fn post_update(server: &TestServer, body: &str, secret: Option<&str>) -> StatusCode {
    let headers: Vec<(&str, &str)> = secret
        .map(|s| ("x-telegram-bot-api-secret-token", s))
        .into_iter()
        .collect();
    post_webhook(
        &server.http_url("/telegram/updates"),
        body.to_string(),
        &headers,
    )
    .await
    .status()
}

/// POSTs `update` as Telegram would; it must be answered 200.
async fn post_as_telegram(server: &TestServer, update: &serde_json::Value) {
    let status = post_update(server, &update.to_string(), Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{update}");
}

/// How many of the bot's messages show `text`.
fn said(telegram: &MockTelegram, text: &str) -> usize {
    telegram
        .messages()
        .iter()
        .filter(|m| m.shown.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_set_and_a_posted_halt_halts_once() {
    let telegram = MockTelegram::serve().await;
    let server = server_by_webhook(&telegram).await;
    let client = server.client().await;
    let expected = WebhookSet {
        url: WEBHOOK_URL.into(),
        secret_token: Some(SECRET.into()),
        allowed_updates: vec!["message".into(), "callback_query".into()],
    };
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match telegram.webhook() {
                Some(set) if set == expected => Ok(()),
                other => Err(format!("webhook: {other:?}")),
            }
        },
    )
    .await;

    let halt = telegram.message_update(CHAT_ID, USER, "/halt by webhook");
    post_as_telegram(&server, &halt).await;
    bot_said(&telegram, "Trading halted.").await;
    assert!(trading_halted(&client).await);
    // Telegram resends an update it got no 2xx for: the repeat is
    // answered 200 and ignored. The next update is answered after it.
    post_as_telegram(&server, &halt).await;
    let status = telegram.message_update(CHAT_ID, USER, "/status");
    post_as_telegram(&server, &status).await;
    bot_said(&telegram, "Trading is halted (by telegram").await;
    assert_eq!(
        said(&telegram, "Trading halted."),
        1,
        "{:?}",
        telegram.messages()
    );
    let halts = audit_events(&client, "trading.halt").await;
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0].actor, format!("telegram:{CHAT_ID}"));
    assert_eq!(halts[0].detail, "by webhook");
    assert_eq!(
        (telegram.polls(), telegram.conflicts()),
        (0, 0),
        "no polling"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_secret_is_401_counted_audited_and_ignored() {
    let telegram = MockTelegram::serve().await;
    let server = server_by_webhook(&telegram).await;
    let client = server.client().await;
    let halt = telegram.message_update(CHAT_ID, USER, "/halt");
    let wrong = format!("{SECRET}x");
    assert_eq!(
        post_update(&server, &halt.to_string(), Some(&wrong)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_update(&server, &halt.to_string(), None).await,
        StatusCode::UNAUTHORIZED
    );
    // The same update with the secret is new: the refused ones were not
    // taken.
    post_as_telegram(&server, &halt).await;
    bot_said(&telegram, "Trading halted.").await;
    assert_eq!(said(&telegram, "Trading halted."), 1);

    let metrics = server.metrics().await;
    for reason in ["bad_secret_token", "missing_secret_token"] {
        let line =
            format!(r#"tradeplane_auth_failures_total{{reason="{reason}",surface="telegram"}} 1"#);
        assert!(metrics.contains(&line), "missing {line}");
    }
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let events = audit_events(&client, "auth.failure").await;
            let details: Vec<_> = events
                .iter()
                .filter(|e| e.target == "telegram")
                .map(|e| e.detail.clone())
                .collect();
            let counted = |reason: &str| {
                details
                    .iter()
                    .any(|d| d.ends_with(&format!("{reason} from 127.0.0.1")))
            };
            match counted("bad_secret_token") && counted("missing_secret_token") {
                true => Ok(()),
                false => Err(format!("audited: {details:?}")),
            }
        },
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_and_audited() {
    let telegram = MockTelegram::serve().await;
    telegram.add_chat(&STRANGER.to_string());
    let server = server_by_webhook(&telegram).await;
    let client = server.client().await;
    let halt = telegram.message_update(STRANGER, USER, "/halt");
    post_as_telegram(&server, &halt).await;
    bot_said(&telegram, "Refused: this chat may not command tradeplane").await;
    assert!(!trading_halted(&client).await, "a stranger cannot halt");
    let refused = audit_events(&client, "telegram.refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].actor, format!("telegram:{STRANGER}"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_body_is_400_and_a_huge_one_413() {
    let telegram = MockTelegram::serve().await;
    let server = server_by_webhook(&telegram).await;
    for body in ["not json", r#"{"update_id": "one"}"#, "[]"] {
        assert_eq!(
            post_update(&server, body, Some(SECRET)).await,
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }
    let huge = format!(r#"{{"update_id": 1, "pad": "{}"}}"#, "x".repeat(1 << 20));
    assert_eq!(
        post_update(&server, &huge, Some(SECRET)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    server.stop().await;
}

/// What the server logged, from the first call on (one subscriber for
/// the test process).
fn captured_log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .init();
        log
    })
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_while_a_webhook_is_set_logs_the_cause() {
    let log = captured_log();
    let telegram = MockTelegram::serve().await;
    telegram.install_webhook(WEBHOOK_URL, SECRET);
    let commands = commands_config(&telegram, ChatRole::Admin);
    let server = TestServer::start_with(|config| {
        config.notify.telegram_commands = Some(commands);
    })
    .await;
    let cause = "a webhook is set for this bot; set updates = \"webhook\" or call deleteWebhook";
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match telegram.conflicts() > 0 && log.text().contains(cause) {
                true => Ok(()),
                false => Err(format!(
                    "{} conflicts; the cause not logged",
                    telegram.conflicts()
                )),
            }
        },
    )
    .await;
    let line = log
        .text()
        .lines()
        .find(|l| l.contains(cause))
        .map(str::to_string);
    assert!(
        line.as_deref().is_some_and(|l| l.contains("ERROR")),
        "{line:?}"
    );
    server.stop().await;
}

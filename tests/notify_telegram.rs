//! The Telegram channel against the mock Bot API: what a message looks
//! like when it arrives (escaped HTML, the title in bold, the buttons as
//! an inline keyboard), which failures are worth another try, Telegram's
//! per-chat and per-bot rate limits, and a configuration that never shows
//! its token. Also the mock's own update feed (`getUpdates`,
//! `answerCallbackQuery`), which the tests of Telegram commands use.

use std::{sync::Arc, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};
use tradeplane_e2e::mock_notify::telegram::{BOT_TOKEN, CHAT_ID, Fault, MockTelegram};
use tradeplane_server::notify::{
    channel::{Button, Channel, Message, SendError, Severity},
    channels::{
        ChannelConfig,
        telegram::{ParseMode, Telegram, TelegramConfig},
    },
};

fn config(mock: &MockTelegram, chat: &str) -> TelegramConfig {
    serde_json::from_value(json!({
        "base_url": mock.url,
        "bot_token": BOT_TOKEN,
        "chat_id": chat,
    }))
    .expect("a telegram section")
}

fn channel(mock: &MockTelegram) -> Telegram {
    Telegram::new(&config(mock, &CHAT_ID.to_string())).expect("a telegram channel")
}

fn message(id: &str) -> Message {
    Message {
        id: id.into(),
        kind: "order_filled".into(),
        severity: Severity::Info,
        title: "Filled on binance/main".into(),
        text: "bought 0.015 BTC at 64,120".into(),
        time_ms: 1_764_925_200_000,
        buttons: Vec::new(),
    }
}

#[tokio::test]
async fn a_message_arrives_escaped_with_its_title_in_bold_and_its_buttons() {
    let mock = MockTelegram::serve().await;
    let section: ChannelConfig = serde_json::from_value(json!({
        "type": "telegram",
        "base_url": mock.url,
        "bot_token": BOT_TOKEN,
        "chat_id": CHAT_ID,
    }))
    .expect("a channel section with a numeric chat id");
    let channel = section.open().expect("the channel opens");
    assert_eq!(channel.kind(), "telegram");
    let approval = Message {
        kind: "approval_pending".into(),
        title: "Approve <BTCUSDT> buy?".into(),
        text: "size 0.5 & price > 64,000 < 65,000".into(),
        buttons: vec![
            Button {
                label: "Approve".into(),
                callback: "approve:apv-7".into(),
            },
            Button {
                label: "Reject".into(),
                callback: "reject:apv-7".into(),
            },
        ],
        ..message("evt-1")
    };
    channel.send(&approval).await.expect("sent");

    let sent = mock.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sent = &sent[0];
    assert_eq!(sent.chat_id, CHAT_ID.to_string());
    assert_eq!(sent.parse_mode.as_deref(), Some("HTML"));
    assert!(
        sent.text
            .starts_with("<b>Approve &lt;BTCUSDT&gt; buy?</b>\n"),
        "{}",
        sent.text
    );
    assert_eq!(
        sent.shown,
        "Approve <BTCUSDT> buy?\nsize 0.5 & price > 64,000 < 65,000"
    );
    assert!(sent.disable_web_page_preview);
    assert_eq!(
        sent.keyboard,
        vec![vec![
            ("Approve".to_string(), "approve:apv-7".to_string()),
            ("Reject".to_string(), "reject:apv-7".to_string()),
        ]]
    );
}

#[tokio::test]
async fn plain_mode_sends_the_text_as_it_is_and_a_long_text_is_cut_to_fit() {
    let mock = MockTelegram::serve().await;
    mock.add_chat("@tradeplane_alerts");
    let mut section = config(&mock, "@tradeplane_alerts");
    section.parse_mode = serde_json::from_value(json!("plain")).expect("plain");
    let channel = Telegram::new(&section).expect("a plain channel");
    let long = Message {
        text: "x<&".repeat(2000),
        ..message("evt-1")
    };
    channel.send(&long).await.expect("sent");

    let sent = &mock.messages()[0];
    assert_eq!(sent.chat_id, "@tradeplane_alerts");
    assert_eq!(sent.parse_mode, None);
    assert_eq!(sent.text, sent.shown);
    assert_eq!(sent.shown.chars().count(), 4096);
    assert!(sent.shown.starts_with("Filled on binance/main\nx<&x<&"));
    assert!(sent.shown.ends_with('…'));
}

#[tokio::test]
async fn a_5xx_a_429_and_a_lost_answer_are_retried_a_4xx_is_not() {
    let mock = MockTelegram::serve().await;
    let channel = channel(&mock);

    mock.fail_next(1, Fault::ServerError);
    let failed = channel.send(&message("evt-1")).await;
    assert!(
        matches!(&failed, Err(SendError::Retry { after: None, reason }) if reason.contains("500")),
        "{failed:?}"
    );
    mock.fail_next(1, Fault::DropConnection);
    let failed = channel.send(&message("evt-2")).await;
    assert!(
        matches!(failed, Err(SendError::Retry { after: None, .. })),
        "{failed:?}"
    );
    channel.send(&message("evt-3")).await.expect("recovered");
    assert_eq!(mock.messages().len(), 1);

    mock.fail_next(
        1,
        Fault::TooManyRequests {
            retry_after_secs: 42,
        },
    );
    let failed = channel.send(&message("evt-4")).await;
    assert!(
        matches!(failed, Err(SendError::Retry { after: Some(after), .. }) if after == Duration::from_secs(42)),
        "{failed:?}"
    );
    // Telegram asked for 42 s: the next send does not go out meanwhile.
    let held = channel.send(&message("evt-5")).await;
    assert!(
        matches!(held, Err(SendError::Retry { after: Some(after), .. }) if after > Duration::from_secs(30)),
        "{held:?}"
    );
    assert_eq!(mock.messages().len(), 1);
}

#[tokio::test]
async fn an_unknown_or_moved_chat_or_a_wrong_token_is_permanent_and_the_token_is_never_shown() {
    let mock = MockTelegram::serve().await;
    let unknown = Telegram::new(&config(&mock, "-100777")).expect("a channel");
    let failed = unknown.send(&message("evt-1")).await;
    assert!(
        matches!(&failed, Err(SendError::Permanent(why)) if why.contains("400") && why.contains("chat not found")),
        "{failed:?}"
    );

    mock.migrate_chat(-4_001, -1_004_001);
    let migrated = Telegram::new(&config(&mock, "-4001")).expect("a channel");
    let failed = migrated.send(&message("evt-1")).await;
    assert!(
        matches!(&failed, Err(SendError::Permanent(why)) if why.contains("supergroup -1004001")),
        "{failed:?}"
    );

    let wrong_token = "987654321:AAwrong_token-of-another-bot";
    let mut section = config(&mock, &CHAT_ID.to_string());
    section.bot_token = wrong_token.into();
    let failed = Telegram::new(&section)
        .expect("a channel")
        .send(&message("evt-2"))
        .await;
    let Err(SendError::Permanent(why)) = failed else {
        panic!("{failed:?}");
    };
    assert!(why.contains("401") && !why.contains("AAwrong"), "{why}");
    assert_eq!(mock.refused_tokens(), 1);

    let oversized = Message {
        buttons: vec![Button {
            label: "Approve".into(),
            callback: "a".repeat(65),
        }],
        ..message("evt-3")
    };
    let failed = channel(&mock).send(&oversized).await;
    assert!(matches!(failed, Err(SendError::Permanent(_))), "{failed:?}");
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn a_receiver_that_cannot_be_reached_is_retried_without_naming_the_token() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let section = TelegramConfig {
        base_url: url,
        bot_token: BOT_TOKEN.into(),
        chat_id: CHAT_ID.to_string(),
        parse_mode: ParseMode::Html,
    };
    let failed = Telegram::new(&section)
        .expect("a channel")
        .send(&message("evt-1"))
        .await;
    let Err(SendError::Retry {
        after: None,
        reason,
    }) = failed
    else {
        panic!("{failed:?}");
    };
    assert!(
        !reason.contains(BOT_TOKEN) && reason.contains("127.0.0.1"),
        "{reason}"
    );
}

#[tokio::test]
async fn messages_to_one_chat_wait_their_turn_and_so_do_those_of_one_bot() {
    let mock = MockTelegram::serve().await;
    // Two channels of the same bot and chat share the chat's limit.
    let (first, second) = (channel(&mock), channel(&mock));
    let sends = (0..3).map(|i| {
        let channel = if i % 2 == 0 { &first } else { &second };
        async move { channel.send(&message(&format!("evt-{i}"))).await }
    });
    for sent in join_all(sends).await {
        sent.expect("every message waits its turn");
    }
    assert_eq!(mock.messages().len(), 3);
    assert_eq!(mock.throttled(), 0, "a message broke the per-chat limit");

    // 35 chats of one bot at once: more than Telegram's 30 a second.
    let channels: Vec<Arc<Telegram>> = (1..=35)
        .map(|chat| {
            mock.add_chat(&format!("-{chat}"));
            Arc::new(Telegram::new(&config(&mock, &format!("-{chat}"))).expect("a channel"))
        })
        .collect();
    let sends = channels
        .iter()
        .map(|channel| async move { channel.send(&message("evt-all")).await });
    for sent in join_all(sends).await {
        sent.expect("every message waits its turn");
    }
    assert_eq!(mock.messages().len(), 38);
    assert_eq!(mock.throttled(), 0, "a message broke the per-bot limit");
}

#[test]
fn the_section_has_defaults_refuses_what_it_cannot_use_and_never_shows_the_token() {
    let section: TelegramConfig = serde_json::from_value(json!({
        "bot_token": BOT_TOKEN,
        "chat_id": -1_001_234_567_890_i64,
    }))
    .expect("a minimal section");
    assert_eq!(section.base_url, "https://api.telegram.org");
    assert_eq!(section.parse_mode, ParseMode::Html);
    assert_eq!(section.chat_id, "-1001234567890");

    let shown = section.redacted();
    assert_eq!(shown["chat_id"], "-1001234567890");
    assert_eq!(shown["bot_token"], "***");
    let secret = BOT_TOKEN.split_once(':').expect("a token").1;
    for text in [
        shown.to_string(),
        format!("{section:?}"),
        format!("{:?}", ChannelConfig::Telegram(section.clone())),
    ] {
        assert!(!text.contains(secret), "{text}");
    }

    for (field, value, named) in [
        ("parse_mode", json!("Markdown"), "Markdown"),
        ("token", json!("x"), "token"),
    ] {
        let mut raw = json!({ "bot_token": BOT_TOKEN, "chat_id": 1 });
        raw[field] = value;
        let refused = serde_json::from_value::<TelegramConfig>(raw)
            .expect_err("refused")
            .to_string();
        assert!(refused.contains(named), "{refused}");
    }

    for (field, value) in [
        ("bot_token", "not a token/with a path"),
        ("chat_id", "general chat"),
        ("base_url", "ftp://api.telegram.org"),
    ] {
        let mut bad = section.clone();
        match field {
            "bot_token" => bad.bot_token = value.into(),
            "chat_id" => bad.chat_id = value.into(),
            _ => bad.base_url = value.into(),
        }
        let Err(why) = Telegram::new(&bad) else {
            panic!("{field} = {value} was accepted");
        };
        assert!(why.contains(field) && !why.contains(value), "{why}");
    }
}

/// Calls a Bot API method of the mock.
async fn call(mock: &MockTelegram, method: &str, args: Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/bot{BOT_TOKEN}/{method}", mock.url))
        .json(&args)
        .send()
        .await
        .expect("the mock answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn the_mock_long_polls_updates_and_answers_a_tap_once() {
    let mock = MockTelegram::serve().await;
    let (_, empty) = call(&mock, "getUpdates", json!({ "timeout": 0 })).await;
    assert_eq!(empty, json!({ "ok": true, "result": [] }));

    let poll = tokio::spawn({
        let url = mock.url.clone();
        async move {
            reqwest::Client::new()
                .get(format!(
                    "{url}/bot{BOT_TOKEN}/getUpdates?offset=1&timeout=50"
                ))
                .send()
                .await
                .expect("answered")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    });
    tokio::task::yield_now().await;
    let halt = mock.push_message(CHAT_ID, 7, "/halt");
    let polled = poll.await.expect("the poll ends");
    let update = &polled["result"][0];
    assert_eq!(update["update_id"], halt);
    assert_eq!(update["message"]["text"], "/halt");
    assert_eq!(update["message"]["chat"]["id"], CHAT_ID);
    assert_eq!(update["message"]["entities"][0]["type"], "bot_command");

    let tap = mock.push_callback(CHAT_ID, 7, 12, "approve:apv-7");
    let (_, polled) = call(
        &mock,
        "getUpdates",
        json!({ "offset": halt + 1, "timeout": 5 }),
    )
    .await;
    let updates = polled["result"].as_array().expect("updates");
    assert_eq!(updates.len(), 1, "the confirmed /halt is gone: {polled}");
    assert_eq!(updates[0]["callback_query"]["id"], tap);
    assert_eq!(updates[0]["callback_query"]["data"], "approve:apv-7");

    let args = json!({ "callback_query_id": tap, "text": "Approved" });
    let (status, _) = call(&mock, "answerCallbackQuery", args.clone()).await;
    assert_eq!(status, 200);
    let (status, again) = call(&mock, "answerCallbackQuery", args).await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(mock.callback_answers().len(), 1);
    assert_eq!(mock.callback_answers()[0].text.as_deref(), Some("Approved"));
}

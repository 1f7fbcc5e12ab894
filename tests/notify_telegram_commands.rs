//! Telegram commands end to end: the real server polls a mock Bot API
//! for updates. `/halt` from an allowed chat halts trading, audited as
//! that chat; from a chat not allowed it is refused and the refusal is
//! audited; an approval's message carries Approve / Reject buttons, and a
//! tap approves once however often it comes; `/positions`, `/orders` and
//! `/pnl` read the book.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, all_orders, any_signal_pipeline, audit_events, create_pipeline, eventually,
    mock_notify::{
        telegram::{BOT_TOKEN, CHAT_ID, MockTelegram},
        telegram_commands::{bot_said, commands_config},
    },
    run_pipeline, trading_halted,
};
use tradeplane_server::notify::{
    channels::{ChannelConfig, telegram::TelegramConfig},
    config::SubscriptionConfig,
    telegram_commands::ChatRole,
};

/// A chat the bot does not know.
const STRANGER: i64 = 777;
/// The user tapping and typing.
const USER: i64 = 99;

/// A server whose bot obeys [`CHAT_ID`] as `role` and tells it of
/// approvals waiting.
async fn server_obeying(telegram: &MockTelegram, role: ChatRole) -> TestServer {
    let base_url = telegram.url.clone();
    let commands = commands_config(telegram, role);
    TestServer::start_with(|config| {
        config.notify.poll_interval = Duration::from_millis(50);
        config.notify.telegram_commands = Some(commands);
        config.notify.subscriptions = vec![SubscriptionConfig {
            name: "desk".into(),
            channel: ChannelConfig::Telegram(TelegramConfig {
                base_url,
                bot_token: BOT_TOKEN.into(),
                chat_id: CHAT_ID.to_string(),
                parse_mode: Default::default(),
            }),
            events: vec!["approval_pending".into(), "approval_approved".into()],
            pipelines: Vec::new(),
            accounts: Vec::new(),
            min_severity: String::new(),
            template: String::new(),
        }];
    })
    .await
}

/// A pipeline named `name` that any signal runs, trading 0.001 BTC.
fn thousandth(name: &str) -> Pipeline {
    Pipeline {
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.001".into())),
        }),
        ..any_signal_pipeline(name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_from_an_allowed_chat_halts_and_a_stranger_is_refused_and_audited() {
    let telegram = MockTelegram::serve().await;
    telegram.add_chat(&STRANGER.to_string());
    let server = server_obeying(&telegram, ChatRole::Admin).await;
    let client = server.client().await;

    telegram.push_message(STRANGER, USER, "/halt");
    bot_said(&telegram, "Refused: this chat may not command tradeplane").await;
    assert!(!trading_halted(&client).await, "a stranger cannot halt");
    let refused = audit_events(&client, "telegram.refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].actor, format!("telegram:{STRANGER}"));

    telegram.push_message(CHAT_ID, USER, "/halt fat finger on BTC");
    bot_said(&telegram, "Trading halted.").await;
    assert!(trading_halted(&client).await);
    let halts = audit_events(&client, "trading.halt").await;
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0].actor, format!("telegram:{CHAT_ID}"));
    assert_eq!(halts[0].detail, "fat finger on BTC");

    telegram.push_message(CHAT_ID, USER, "/status");
    bot_said(&telegram, "Trading is halted").await;
    telegram.push_message(CHAT_ID, USER, "/resume");
    bot_said(&telegram, "Trading resumed.").await;
    assert!(!trading_halted(&client).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_not_halt() {
    let telegram = MockTelegram::serve().await;
    let server = server_obeying(&telegram, ChatRole::Viewer).await;
    let client = server.client().await;
    telegram.push_message(CHAT_ID, USER, "/halt");
    bot_said(&telegram, "Refused: /halt needs the Trader role").await;
    assert!(!trading_halted(&client).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_tapped_twice_approves_once() {
    let telegram = MockTelegram::serve().await;
    let server = server_obeying(&telegram, ChatRole::Trader).await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        Pipeline {
            approval: Some(ApprovalPolicy {
                required: true,
                expiry: prost_types::Duration::try_from(Duration::from_secs(600)).ok(),
            }),
            ..thousandth("held")
        },
    )
    .await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::AwaitingApproval as i32,
        "{execution:?}"
    );
    // The approval's message carries its buttons.
    bot_said(&telegram, "Order waiting for your approval").await;
    let asked = telegram
        .messages()
        .into_iter()
        .find(|m| m.shown.contains("Order waiting for your approval"))
        .expect("the approval's message");
    let approve = asked
        .keyboard
        .iter()
        .flatten()
        .find(|(label, _)| label == "Approve")
        .map(|(_, data)| data.clone())
        .expect("an Approve button");
    telegram.push_callback(CHAT_ID, USER, asked.message_id, &approve);
    telegram.push_callback(CHAT_ID, USER, asked.message_id, &approve);
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match telegram.callback_answers().len() {
                2 => Ok(()),
                n => Err(format!("{n} taps answered")),
            }
        },
    )
    .await;
    let answers: Vec<String> = telegram
        .callback_answers()
        .into_iter()
        .map(|a| a.text.unwrap_or_default())
        .collect();
    assert!(answers[0].starts_with("Approved"), "{answers:?}");
    assert!(answers[1].starts_with("Not done"), "{answers:?}");
    let approvals = audit_events(&client, "approval.approve").await;
    let won: Vec<_> = approvals
        .iter()
        .filter(|a| a.outcome == AuditOutcome::Success as i32)
        .collect();
    assert_eq!(won.len(), 1, "{approvals:?}");
    assert_eq!(won[0].actor, format!("telegram:{CHAT_ID}"));
    let orders = all_orders(&client, OrderFilter::default()).await;
    assert_eq!(orders.len(), 1, "one order: {orders:?}");
    // The chat hears of the approval once: the second tap, refused, is
    // audited but changed nothing, so it is no event.
    bot_said(&telegram, "Approved by telegram:").await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match server.store().outbox_depth().await {
                Ok(depth) if depth.pending == 0 => Ok(()),
                other => Err(format!("the outbox: {other:?}")),
            }
        },
    )
    .await;
    let told = telegram
        .messages()
        .into_iter()
        .filter(|m| m.shown.contains("Approved by telegram:"))
        .count();
    assert_eq!(told, 1, "{:?}", telegram.messages());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_the_positions_the_orders_and_the_profit() {
    let telegram = MockTelegram::serve().await;
    let server = server_obeying(&telegram, ChatRole::Viewer).await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, thousandth("swing")).await;
    let bought = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        bought.status,
        ExecutionStatus::Succeeded as i32,
        "{bought:?}"
    );
    telegram.push_message(CHAT_ID, USER, "/positions");
    bot_said(&telegram, "swing BTC/USDT: 0.001 at 500").await;
    telegram.push_message(CHAT_ID, USER, "/orders");
    bot_said(&telegram, "No open orders.").await;
    let sold = run_pipeline(&client, &pipeline, "sell", "51000", "").await;
    assert_eq!(sold.status, ExecutionStatus::Succeeded as i32, "{sold:?}");
    telegram.push_message(CHAT_ID, USER, "/pnl");
    bot_said(&telegram, "Realised today: ").await;
    bot_said(&telegram, "\nswing: ").await;
    server.stop().await;
}

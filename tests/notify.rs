//! Notifications end to end: the real server, a TradingView alert through
//! a pipeline to a fill, and loopback receivers that verify what the real
//! ones verify. Each event reaches each subscribed channel once, through
//! a channel's failures and through a kill -9 mid-delivery.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, any_signal_pipeline, create_pipeline, deliver_ok, eventually,
    halt_trading,
    mock_notify::{
        WEBHOOK_SECRET,
        discord::MockDiscord,
        slack::MockSlack,
        smtp::MockSmtp,
        subscription,
        telegram::{BOT_TOKEN, CHAT_ID, MockTelegram},
        webhook::MockWebhook,
        webhook_to,
    },
    mock_venue::{Fault, Route},
    orders_of, serve_async, template_alert,
};
use tradeplane_server::{
    notify::{
        channels::{
            ChannelConfig, discord::DiscordConfig, email::EmailConfig, slack::SlackConfig,
            telegram::TelegramConfig,
        },
        config::SubscriptionConfig,
    },
    store::{DeliveryState, Store},
};

/// A server telling `subscriptions`, retrying fast.
async fn server_telling(subscriptions: Vec<SubscriptionConfig>) -> TestServer {
    TestServer::start_with(|config| {
        config.notify.subscriptions = subscriptions;
        config.notify.poll_interval = Duration::from_millis(50);
        config.notify.retry_base = Duration::from_millis(20);
        config.notify.retry_max = Duration::from_millis(200);
    })
    .await
}

/// A TradingView buy through a paper pipeline, filled; returns the fill
/// as its message must tell it.
async fn buy(server: &TestServer) -> String {
    let client = server.client().await;
    create_pipeline(&client, any_signal_pipeline("notify")).await;
    let alert = template_alert(("BTCUSDT", "50000"), "buy", "0.01", "long", "0.01");
    let execution = deliver_ok(server, &client, &alert).await;
    let [order]: [Order; 1] = orders_of(&client, &execution)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
    format!(
        "Filled on paper/default: buy {} BTC/USDT at {}",
        order.filled_quantity, order.average_fill_price
    )
}

/// Waits until the outbox holds nothing waiting, and returns how many
/// deliveries it delivered.
async fn outbox_settled(store: &dyn Store) -> usize {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let depth = store.outbox_depth().await.map_err(|e| e.to_string())?;
            let delivered = store
                .list_deliveries(DeliveryState::Delivered, 100)
                .await
                .map_err(|e| e.to_string())?;
            match depth.pending {
                0 if !delivered.is_empty() => Ok(delivered.len()),
                pending => Err(format!("{pending} deliveries still waiting")),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_is_told_once_on_each_subscribed_channel_with_its_text() {
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let telegram = MockTelegram::serve().await;
    let discord = MockDiscord::start().await;
    let slack = MockSlack::start().await;
    let smtp = MockSmtp::start("alerts", "mail-password").await;
    let fills = ["order_filled"];
    let server = server_telling(vec![
        subscription("hook", webhook_to(&receiver), &fills),
        subscription(
            "telegram",
            ChannelConfig::Telegram(TelegramConfig {
                base_url: telegram.url.clone(),
                bot_token: BOT_TOKEN.into(),
                chat_id: CHAT_ID.to_string(),
                parse_mode: Default::default(),
            }),
            &fills,
        ),
        subscription(
            "discord",
            ChannelConfig::Discord(DiscordConfig {
                webhook_url: discord.webhook_url(),
                base_url: discord.url.clone(),
            }),
            &fills,
        ),
        subscription(
            "slack",
            ChannelConfig::Slack(SlackConfig {
                webhook_url: slack.webhook_url(),
                base_url: slack.url.clone(),
            }),
            &fills,
        ),
        subscription(
            "mail",
            ChannelConfig::Email(EmailConfig {
                host: "127.0.0.1".into(),
                port: smtp.port,
                username: "alerts".into(),
                password: "mail-password".into(),
                from: "tradeplane@example.com".into(),
                to: vec!["desk@example.com".into()],
                starttls: Default::default(),
                ca_file: Some(smtp.ca_file.clone()),
            }),
            &fills,
        ),
    ])
    .await;
    let told = buy(&server).await;
    assert_eq!(outbox_settled(&*server.store()).await, 5);
    let fills = receiver.received("order_filled");
    assert_eq!(fills.len(), 1, "{fills:?}");
    assert_eq!(fills[0]["data"]["text"], told.as_str(), "{fills:?}");
    assert_eq!(receiver.orders().len(), 1, "only what it subscribed to");
    assert_eq!(receiver.duplicates(), 0);
    let chat = telegram.messages();
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert!(chat[0].shown.contains(&told), "{chat:?}");
    for posted in [discord.messages(), slack.messages()] {
        assert_eq!(posted.len(), 1, "{posted:?}");
        assert!(posted[0].to_string().contains(&told), "{posted:?}");
    }
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].body().contains(&told), "{:?}", mail[0].body());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_fails_five_times_then_recovers_gets_the_message_once() {
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    for _ in 0..5 {
        receiver.fail_next(Route::PlaceOrder, Fault::ServerError);
    }
    let server = server_telling(vec![subscription(
        "fills",
        webhook_to(&receiver),
        &["order_filled"],
    )])
    .await;
    buy(&server).await;
    assert_eq!(outbox_settled(&*server.store()).await, 1);
    assert_eq!(receiver.received("order_filled").len(), 1);
    assert_eq!(receiver.duplicates(), 0);
    let delivered = server
        .store()
        .list_deliveries(DeliveryState::Delivered, 10)
        .await
        .expect("the outbox reads");
    assert_eq!(delivered[0].attempts, 6, "{delivered:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_hears_only_its_events() {
    let fills = MockWebhook::start(WEBHOOK_SECRET).await;
    let halts = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_telling(vec![
        subscription("fills", webhook_to(&fills), &["order_filled"]),
        subscription("halts", webhook_to(&halts), &["halt_set", "halt_cleared"]),
    ])
    .await;
    buy(&server).await;
    let admin: Client = server.client().await;
    halt_trading(&admin).await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match halts.received("halt_set").len() {
                1 => Ok(()),
                n => Err(format!("{n} halt messages")),
            }
        },
    )
    .await;
    outbox_settled(&*server.store()).await;
    assert_eq!(fills.received("order_filled").len(), 1);
    assert_eq!(fills.orders().len(), 1, "no halt for the fills");
    assert_eq!(halts.orders().len(), 1, "no fill for the halts");
    let halt = &halts.received("halt_set")[0];
    assert!(
        halt["data"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Trading halted by")),
        "{halt}"
    );
    assert_eq!(halt["data"]["severity"], "critical", "{halt}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_channel_holds_up_only_its_own_deliveries() {
    let hanging = MockWebhook::start(WEBHOOK_SECRET).await;
    hanging.fail_next(Route::PlaceOrder, Fault::Hang);
    let fast = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_telling(vec![
        subscription("hanging", webhook_to(&hanging), &["order_filled"]),
        subscription("fast", webhook_to(&fast), &["order_filled", "halt_set"]),
    ])
    .await;
    buy(&server).await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            match hanging.orders().len() {
                0 => Err("the fill has not reached the hanging receiver".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    halt_trading(&server.client().await).await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            match fast.received("halt_set").len() {
                1 => Ok(()),
                n => Err(format!("{n} halt messages")),
            }
        },
    )
    .await;
    let waiting = server
        .store()
        .list_deliveries(DeliveryState::Pending, 10)
        .await
        .expect("the outbox reads");
    assert!(
        waiting
            .iter()
            .any(|d| d.subscription == "hanging" && d.attempts == 0),
        "the halt came while the hanging attempt was still under way: {waiting:?}"
    );
    assert_eq!(fast.received("order_filled").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_loses_nothing_and_delivers_nothing_twice() {
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    // The first delivery reaches the receiver, which takes it and never
    // answers: the server is killed while it waits.
    receiver.fail_next(Route::PlaceOrder, Fault::Hang);
    let dir = tempfile::tempdir().expect("a data dir");
    let config = dir.path().join("tradeplane.toml");
    std::fs::write(
        &config,
        format!(
            "[notify]\npoll_interval = \"50ms\"\nretry_base = \"20ms\"\nlease = \"1s\"\n\
             [[notify.subscriptions]]\nname = \"fills\"\nevents = [\"order_filled\"]\n\
             channel = {{ type = \"webhook\", url = \"{}\", secret = \"{WEBHOOK_SECRET}\" }}\n",
            receiver.url
        ),
    )
    .expect("the config file");
    let data = dir.path().join("data");
    let config = config.to_string_lossy().to_string();
    let env = [
        ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
        ("TRADEPLANE_CONFIG", config.as_str()),
    ];
    let served = serve_async(&data, &env).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("the server answers");
    create_pipeline(&client, any_signal_pipeline("notify")).await;
    let alert = template_alert(("BTCUSDT", "50000"), "buy", "0.01", "long", "0.01");
    tradeplane_e2e::webhook_accepts(&served.webhook_url(), &alert, &[]).await;
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            match receiver.orders().len() {
                0 => Err("the delivery has not reached the receiver".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    served.kill();
    let _restarted = serve_async(&data, &env).await;
    // The lease runs out, the delivery goes again, and the receiver
    // knows its id: one message, the repeat dropped as a duplicate.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            match receiver.duplicates() {
                0 => Err("the delivery was not made again".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    assert_eq!(receiver.received("order_filled").len(), 1);
}

//! Subscriptions managed by RPC (`NotificationService`) and by `tpctl
//! notify`, through the real server: a subscription created while the
//! server runs hears the next fill, once and signed; secrets never come
//! back; bad input names its field; names are unique across the
//! configuration and the API; a deletion stops deliveries; a refused
//! delivery is a dead letter one can list; a test message goes straight
//! through the channel.

use std::time::Duration;

use tonic::Code;
use tradeplane_api::{subscription::Channel, *};
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, any_signal_pipeline, audit_events, bad_request_field, create_pipeline, deliver_ok,
    eventually,
    mock_notify::{WEBHOOK_SECRET, subscription, webhook::MockWebhook, webhook_to},
    template_alert,
};

/// The path of every receiver URL here: a secret, like a Slack hook's.
const SECRET_PATH: &str = "hooks/path-secret-0451";
/// A signing secret the receivers do not share: they answer 401.
const OTHER_SECRET: &str = "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0";

/// A server with `configured` subscriptions, polling the outbox often.
async fn server_with(configured: &MockWebhook) -> TestServer {
    let channel = webhook_to(configured);
    TestServer::start_with(|config| {
        config.notify.subscriptions = vec![subscription("from-config", channel, &["halt_set"])];
        config.notify.poll_interval = Duration::from_millis(50);
    })
    .await
}

/// A webhook subscription of fills to `receiver`, signed with `secret`.
fn hook(name: &str, receiver: &MockWebhook, secret: &str) -> Subscription {
    Subscription {
        name: name.into(),
        channel: Some(Channel::Webhook(WebhookChannel {
            url: format!("{}/{SECRET_PATH}", receiver.url.trim_end_matches('/')),
            secret: secret.into(),
        })),
        events: vec!["order_filled".into()],
        template: "{title}: {text}".into(),
        ..Default::default()
    }
}

async fn create(
    client: &Client,
    subscription: Subscription,
    request_id: &str,
) -> Result<Subscription, tonic::Status> {
    let created = client
        .notifications()
        .create_subscription(CreateSubscriptionRequest {
            request_id: request_id.into(),
            subscription: Some(subscription),
        })
        .await?;
    Ok(created.into_inner().subscription.expect("a subscription"))
}

async fn list(client: &Client) -> Vec<Subscription> {
    client
        .notifications()
        .list_subscriptions(ListSubscriptionsRequest::default())
        .await
        .expect("ListSubscriptions answers")
        .into_inner()
        .subscriptions
}

/// A TradingView buy through a paper pipeline to a fill.
async fn buy(server: &TestServer, client: &Client) {
    let alert = template_alert(("BTCUSDT", "50000"), "buy", "0.01", "long", "0.01");
    deliver_ok(server, client, &alert).await;
}

/// The fills `receiver` accepted, waiting until there are `count`.
async fn fills(receiver: &MockWebhook, count: usize) -> Vec<serde_json::Value> {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let fills: Vec<_> = receiver
                .orders()
                .into_iter()
                .map(|delivery| delivery.json)
                .filter(|json| json["type"] == "order_filled")
                .collect();
            match fills.len() {
                n if n >= count => Ok(fills),
                n => Err(format!("{n} of {count} fills received")),
            }
        },
    )
    .await
}

/// No secret, and no secret part of a URL, in `shown`.
fn assert_redacted(shown: &impl std::fmt::Debug) {
    let text = format!("{shown:?}");
    assert!(!text.contains(WEBHOOK_SECRET), "{text}");
    assert!(!text.contains(SECRET_PATH), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_created_by_rpc_hears_the_next_fill_once_and_never_shows_its_secret() {
    let configured = MockWebhook::start(WEBHOOK_SECRET).await;
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_with(&configured).await;
    let client = server.client().await;
    create_pipeline(&client, any_signal_pipeline("notify")).await;

    let created = create(&client, hook("desk", &receiver, WEBHOOK_SECRET), "")
        .await
        .expect("CreateSubscription succeeds");
    assert_redacted(&created);
    assert_eq!(created.source, SubscriptionSource::Api as i32);
    let Some(Channel::Webhook(shown)) = &created.channel else {
        panic!("a webhook channel: {created:?}");
    };
    assert_eq!(shown.secret, "***");
    assert!(shown.url.ends_with("/***"), "{shown:?}");

    buy(&server, &client).await;
    let told = fills(&receiver, 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0]["data"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Filled on paper/default")),
        "{told:?}"
    );
    assert_eq!(receiver.duplicates(), 0);
    assert!(configured.orders().is_empty(), "it hears halts only");

    let listed = list(&client).await;
    assert_redacted(&listed);
    let names: Vec<_> = listed
        .iter()
        .map(|s| (s.name.as_str(), SubscriptionSource::try_from(s.source)))
        .collect();
    assert_eq!(
        names,
        [
            ("desk", Ok(SubscriptionSource::Api)),
            ("from-config", Ok(SubscriptionSource::Config)),
        ]
    );
    let got = client
        .notifications()
        .get_subscription(GetSubscriptionRequest {
            name: "desk".into(),
        })
        .await
        .expect("GetSubscription answers")
        .into_inner();
    assert_redacted(&got);
    let audited = audit_events(&client, "notify.subscription.create").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].target, "desk");
    assert_redacted(&audited);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_its_field_and_names_are_unique_across_config_and_api() {
    let configured = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_with(&configured).await;
    let client = server.client().await;
    let telegram = |chat_id: &str| Subscription {
        name: "chat".into(),
        channel: Some(Channel::Telegram(TelegramChannel {
            bot_token: "123456:token-secret".into(),
            chat_id: chat_id.into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let refused = |subscription| {
        let client = client.clone();
        async move {
            let status = create(&client, subscription, "")
                .await
                .expect_err("refused");
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(!status.message().contains("token-secret"), "{status:?}");
            bad_request_field(&status)
        }
    };
    assert_eq!(
        refused(telegram("not a chat")).await,
        "subscription.channel.telegram.chat_id"
    );
    assert_eq!(
        refused(Subscription {
            events: vec!["order_filled".into(), "order_fild".into()],
            ..telegram("42")
        })
        .await,
        "subscription.events[1]"
    );
    assert_eq!(
        refused(Subscription {
            channel: None,
            ..telegram("42")
        })
        .await,
        "subscription.channel"
    );

    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let first = create(&client, hook("desk", &receiver, WEBHOOK_SECRET), "req-1")
        .await
        .expect("created");
    let replayed = create(&client, hook("other", &receiver, WEBHOOK_SECRET), "req-1")
        .await
        .expect("a replay answers");
    assert_eq!(replayed, first, "the first subscription, as first answered");
    for taken in ["desk", "from-config"] {
        let status = create(&client, hook(taken, &receiver, WEBHOOK_SECRET), "")
            .await
            .expect_err("the name is taken");
        assert_eq!(status.code(), Code::AlreadyExists, "{taken}: {status:?}");
        assert_eq!(
            status.message(),
            format!("a subscription named `{taken}` already exists")
        );
    }
    let status = client
        .notifications()
        .delete_subscription(DeleteSubscriptionRequest {
            name: "from-config".into(),
        })
        .await
        .expect_err("a configured subscription stays");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("from-config"), "{status:?}");
    assert_eq!(list(&client).await.len(), 2, "`other` was never made");

    let viewer = server.create_key("watcher", Role::Viewer).await;
    let viewer = server.client_with_key(Some(&viewer)).await;
    let status = viewer
        .notifications()
        .list_subscriptions(ListSubscriptionsRequest::default())
        .await
        .expect_err("a viewer reads no chat ids");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let trader = server.trader().await;
    assert_eq!(list(&trader).await.len(), 2, "a trader reads them");
    let status = create(&trader, hook("mine", &receiver, WEBHOOK_SECRET), "")
        .await
        .expect_err("only an admin adds a channel");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_subscription_hears_nothing_more_and_a_refusal_is_a_dead_letter() {
    let configured = MockWebhook::start(WEBHOOK_SECRET).await;
    let deleted = MockWebhook::start(WEBHOOK_SECRET).await;
    let kept = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_with(&configured).await;
    let client = server.client().await;
    create_pipeline(&client, any_signal_pipeline("notify")).await;
    create(&client, hook("gone", &deleted, WEBHOOK_SECRET), "")
        .await
        .expect("created");
    client
        .notifications()
        .delete_subscription(DeleteSubscriptionRequest {
            name: "gone".into(),
        })
        .await
        .expect("deleted");
    // Created after the deletion: any read of the subscriptions that has
    // `kept` no longer has `gone`.
    create(&client, hook("kept", &kept, WEBHOOK_SECRET), "")
        .await
        .expect("created");
    create(&client, hook("refused", &kept, OTHER_SECRET), "")
        .await
        .expect("created");
    buy(&server, &client).await;
    assert_eq!(fills(&kept, 1).await.len(), 1);
    assert!(deleted.orders().is_empty(), "{:?}", deleted.orders());

    let dead = eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let dead = client
                .notifications()
                .list_deliveries(ListDeliveriesRequest {
                    state: DeliveryState::Dead as i32,
                    subscription: "refused".into(),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .deliveries;
            match dead.len() {
                0 => Err("no dead letter yet".to_string()),
                _ => Ok(dead),
            }
        },
    )
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].event_kind, "order_filled");
    assert_eq!(dead[0].attempts, 1, "a 401 is not retried: {dead:?}");
    assert!(dead[0].last_error.contains("401"), "{dead:?}");
    assert!(!dead[0].event_id.is_empty());
    let delivered = client
        .notifications()
        .list_deliveries(ListDeliveriesRequest {
            state: DeliveryState::Delivered as i32,
            ..Default::default()
        })
        .await
        .expect("ListDeliveries answers")
        .into_inner()
        .deliveries;
    let names: Vec<_> = delivered.iter().map(|d| d.subscription.as_str()).collect();
    assert_eq!(names, ["kept"], "{delivered:?}");
    assert_eq!(delivered[0].event_id, dead[0].event_id, "the same event");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpctl_creates_tests_lists_and_deletes_a_subscription_from_a_toml_file() {
    let configured = MockWebhook::start(WEBHOOK_SECRET).await;
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = server_with(&configured).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("desk.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"desk\"\nevents = [\"order_filled\"]\nmin_severity = \"warning\"\n\
             channel = {{ type = \"webhook\", url = \"{}/{SECRET_PATH}\", secret = \"{WEBHOOK_SECRET}\" }}\n",
            receiver.url.trim_end_matches('/')
        ),
    )
    .expect("the file is written");
    let file = file.to_str().expect("a UTF-8 path");
    let created = server.tpctl(&["notify", "create", "-f", file]).await;
    assert!(created.contains("desk"), "{created}");
    assert_redacted(&created);

    let tested = server.tpctl(&["notify", "test", "desk"]).await;
    assert!(tested.contains("delivered"), "{tested}");
    let received = receiver.orders();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].json["type"], "test");

    let listed = server.tpctl(&["notify", "list", "-o", "json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed["subscriptions"][0]["name"], "desk", "{listed}");
    assert_eq!(listed["subscriptions"][0]["min_severity"], "warning");
    assert_eq!(listed["subscriptions"][1]["source"], "config");
    assert_redacted(&listed);

    let client = server.client().await;
    create(&client, hook("refused", &receiver, OTHER_SECRET), "")
        .await
        .expect("created");
    let refused = client
        .notifications()
        .test_subscription(TestSubscriptionRequest {
            name: "refused".into(),
        })
        .await
        .expect("TestSubscription answers")
        .into_inner();
    assert!(!refused.delivered);
    assert!(refused.error.contains("401"), "{refused:?}");

    server.tpctl(&["notify", "delete", "desk"]).await;
    let names: Vec<_> = list(&client).await.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["from-config", "refused"]);
    server.stop().await;
}

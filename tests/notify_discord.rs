//! The Discord channel against a mock Discord webhook on loopback: what
//! arrives, Discord's limits, its rate limits (a 429's `retry_after`, a
//! spent bucket), how failures are sorted, and that the webhook URL's
//! token never shows.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tradeplane_e2e::{
    mock_notify::discord::{Failure, MockDiscord, WEBHOOK_ID, WEBHOOK_TOKEN},
    mock_venue::{Fault, Route},
};
use tradeplane_server::notify::{
    channel::{Channel, Message, SendError, Severity},
    channels::{ChannelConfig, discord::DiscordConfig},
};

/// The section a subscription would carry, for `webhook_url`.
fn section(mock: &MockDiscord, webhook_url: &str) -> ChannelConfig {
    serde_json::from_value(json!({
        "type": "discord",
        "webhook_url": webhook_url,
        "base_url": mock.url,
    }))
    .expect("a discord section")
}

fn channel(mock: &MockDiscord) -> Arc<dyn Channel> {
    section(mock, &mock.webhook_url())
        .open()
        .expect("the channel opens")
}

fn message(n: u32, severity: Severity, title: &str, text: &str) -> Message {
    Message {
        id: format!("evt-{n}"),
        kind: "order_filled".into(),
        severity,
        title: title.into(),
        text: text.into(),
        time_ms: 1_796_461_200_000,
        buttons: Vec::new(),
    }
}

fn filled(n: u32) -> Message {
    message(
        n,
        Severity::Info,
        &format!("Filled on binance/main #{n}"),
        "filled 0.015 BTC at 64,120",
    )
}

#[tokio::test]
async fn a_message_arrives_as_content_and_an_embed_coloured_by_its_severity() {
    let mock = MockDiscord::start().await;
    let discord = channel(&mock);
    assert_eq!(discord.kind(), "discord");
    let breaker = message(
        1,
        Severity::Critical,
        "Breaker open on bybit",
        "orders paused @everyone",
    );
    discord.send(&breaker).await.expect("delivered");

    let messages = mock.messages();
    assert_eq!(messages.len(), 1, "refusals: {:?}", mock.refusals());
    let sent = &messages[0];
    assert_eq!(sent["content"], "Breaker open on bybit");
    assert_eq!(sent["allowed_mentions"], json!({"parse": []}));
    let embed = &sent["embeds"][0];
    assert_eq!(embed["title"], "Breaker open on bybit");
    assert_eq!(embed["description"], "orders paused @everyone");
    assert_eq!(embed["color"], 0xE74C3C);
    assert_eq!(embed["timestamp"], "2026-12-05T09:00:00.000Z");

    discord
        .send(&message(2, Severity::Info, "Filled", "ok"))
        .await
        .expect("delivered");
    assert_eq!(mock.messages()[1]["embeds"][0]["color"], 0x3498DB);
}

#[tokio::test]
async fn text_over_discords_limits_is_cut_with_an_ellipsis() {
    let mock = MockDiscord::start().await;
    let long = message(1, Severity::Warning, &"t".repeat(3000), &"d".repeat(5000));
    channel(&mock).send(&long).await.expect("delivered");

    let sent = &mock.messages()[0];
    let content = sent["content"].as_str().expect("content");
    assert_eq!(content.chars().count(), 2000);
    assert!(content.ends_with('…'));
    let embed = &sent["embeds"][0];
    let title = embed["title"].as_str().expect("title");
    let description = embed["description"].as_str().expect("description");
    assert_eq!(title.chars().count(), 256);
    assert_eq!(description.chars().count(), 4096);
    assert!(title.ends_with('…') && description.ends_with('…'));
}

/// Issue 17's proof of Discord 429 handling: the wait comes from the
/// body's fractional `retry_after` (the `Retry-After` header says 1), the
/// message is not delivered, and the next send waits the wait out before
/// reaching Discord.
#[tokio::test]
async fn a_429_hands_back_discords_retry_after_and_the_next_send_waits_it_out() {
    let mock = MockDiscord::start().await;
    let discord = channel(&mock);
    mock.fail_requests(
        1,
        Failure::RateLimited {
            retry_after: 0.35,
            global: false,
        },
    );

    let refused = discord.send(&filled(1)).await;
    let Err(SendError::Retry { after, .. }) = refused else {
        panic!("a 429 is worth another try: {refused:?}");
    };
    assert_eq!(after, Some(Duration::from_millis(350)));
    assert!(mock.messages().is_empty());

    discord
        .send(&filled(1))
        .await
        .expect("delivered after the wait");
    assert_eq!(mock.messages().len(), 1);
    assert_eq!(mock.early_requests(), 0, "sent before retry_after was over");
}

/// A wait longer than the channel waits for is handed back without
/// sending anything.
#[tokio::test]
async fn a_long_global_429_is_handed_back_without_sending_until_it_is_over() {
    let mock = MockDiscord::start().await;
    let discord = channel(&mock);
    mock.fail_requests(
        1,
        Failure::RateLimited {
            retry_after: 30.5,
            global: true,
        },
    );
    let first = discord.send(&filled(1)).await;
    assert!(
        matches!(first, Err(SendError::Retry { after: Some(after), .. }) if after == Duration::from_millis(30_500)),
        "{first:?}"
    );

    let second = discord.send(&filled(1)).await;
    let Err(SendError::Retry {
        after: Some(after), ..
    }) = second
    else {
        panic!("still rate-limited: {second:?}");
    };
    assert!(after <= Duration::from_millis(30_500) && after > Duration::from_secs(5));
    assert_eq!(mock.early_requests(), 0, "nothing was sent during the wait");
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn a_spent_bucket_is_waited_out_before_the_next_send() {
    let mock = MockDiscord::start().await;
    mock.set_bucket(2, Duration::from_millis(300));
    let discord = channel(&mock);
    for n in 1..=5 {
        discord.send(&filled(n)).await.expect("delivered in turn");
    }
    let contents: Vec<_> = mock
        .messages()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<_> = (1..=5)
        .map(|n| format!("Filled on binance/main #{n}"))
        .collect();
    assert_eq!(contents, expected);
    assert_eq!(
        mock.early_requests(),
        0,
        "a request went into a spent bucket"
    );
}

#[tokio::test]
async fn failures_are_sorted_into_worth_another_try_and_never() {
    let mock = MockDiscord::start().await;
    let discord = channel(&mock);

    mock.fail_requests(2, Failure::ServerError);
    for _ in 0..2 {
        let failed = discord.send(&filled(1)).await;
        assert!(
            matches!(failed, Err(SendError::Retry { after: None, .. })),
            "{failed:?}"
        );
    }
    mock.fail_next(Route::PlaceOrder, Fault::DropConnection);
    let dropped = discord.send(&filled(1)).await;
    assert!(
        matches!(dropped, Err(SendError::Retry { .. })),
        "{dropped:?}"
    );
    discord.send(&filled(1)).await.expect("recovered");
    assert_eq!(mock.messages().len(), 1);

    let bad_token = format!("{}/api/webhooks/{WEBHOOK_ID}/not-the-token", mock.url);
    let refused = section(&mock, &bad_token)
        .open()
        .expect("opens")
        .send(&filled(2))
        .await;
    let Err(SendError::Permanent(reason)) = refused else {
        panic!("a bad token never works: {refused:?}");
    };
    assert!(reason.contains("Invalid Webhook Token"), "{reason}");
    assert!(!reason.contains("not-the-token"), "{reason}");

    let unknown = format!("{}/api/webhooks/99/{WEBHOOK_TOKEN}", mock.url);
    let refused = section(&mock, &unknown)
        .open()
        .expect("opens")
        .send(&filled(3))
        .await;
    assert!(
        matches!(&refused, Err(SendError::Permanent(r)) if r.contains("Unknown Webhook") && !r.contains(WEBHOOK_TOKEN)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_webhook_token_never_shows() {
    let mock = MockDiscord::start().await;
    let config = section(&mock, &mock.webhook_url());
    let shown = format!("{config:?} {}", config.redacted());
    assert!(!shown.contains(WEBHOOK_TOKEN), "{shown}");
    assert!(shown.contains(&mock.url), "the host is shown: {shown}");
    let ChannelConfig::Discord(discord) = &config else {
        panic!("a discord section");
    };
    assert!(!format!("{discord:?}").contains(WEBHOOK_TOKEN));

    let elsewhere = DiscordConfig {
        webhook_url: format!("https://evil.example/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"),
        base_url: mock.url.clone(),
    };
    let refused = ChannelConfig::Discord(elsewhere).open().err();
    let reason = refused.expect("a URL off the service is refused");
    assert!(reason.contains("webhook_url"), "{reason}");
    assert!(!reason.contains(WEBHOOK_TOKEN), "{reason}");

    let unknown_field = serde_json::from_value::<ChannelConfig>(json!({
        "type": "discord", "webhook_url": mock.webhook_url(), "token": "x",
    }));
    assert!(unknown_field.is_err());
}

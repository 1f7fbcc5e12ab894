//! The Slack channel against a mock Slack incoming webhook on loopback:
//! what arrives (escaped), Slack's limits, how its answers are sorted
//! (`ok`, text errors, 429 with `Retry-After`, 5xx), and that the webhook
//! URL's secret never shows.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tradeplane_e2e::mock_notify::slack::{Failure, MockSlack, WEBHOOK_PATH};
use tradeplane_server::notify::{
    channel::{Channel, Message, SendError, Severity},
    channels::ChannelConfig,
};

/// The secret last segment of the mock's webhook path.
fn secret() -> &'static str {
    WEBHOOK_PATH.rsplit('/').next().unwrap_or(WEBHOOK_PATH)
}

/// The section a subscription would carry, for `webhook_url`.
fn section(mock: &MockSlack, webhook_url: &str) -> ChannelConfig {
    serde_json::from_value(json!({
        "type": "slack",
        "webhook_url": webhook_url,
        "base_url": mock.url,
    }))
    .expect("a slack section")
}

fn channel(mock: &MockSlack) -> Arc<dyn Channel> {
    section(mock, &mock.webhook_url())
        .open()
        .expect("the channel opens")
}

fn message(title: &str, text: &str) -> Message {
    Message {
        id: "evt-1".into(),
        kind: "drift_detected".into(),
        severity: Severity::Warning,
        title: title.into(),
        text: text.into(),
        time_ms: 1_796_461_200_000,
        buttons: Vec::new(),
    }
}

fn drift() -> Message {
    message(
        "Drift on binance/main",
        "the alert says long 0.5 <BTC>, the book says flat & idle",
    )
}

#[tokio::test]
async fn a_message_arrives_as_a_header_and_an_escaped_section() {
    let mock = MockSlack::start().await;
    let slack = channel(&mock);
    assert_eq!(slack.kind(), "slack");
    slack.send(&drift()).await.expect("delivered");

    let messages = mock.messages();
    assert_eq!(messages.len(), 1, "refusals: {:?}", mock.refusals());
    let sent = &messages[0];
    assert_eq!(
        sent["blocks"],
        json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Drift on binance/main"}},
            {"type": "section", "text": {"type": "mrkdwn",
                "text": "the alert says long 0.5 &lt;BTC&gt;, the book says flat &amp; idle"}},
        ])
    );
    assert_eq!(
        sent["text"],
        "Drift on binance/main\nthe alert says long 0.5 &lt;BTC&gt;, the book says flat &amp; idle"
    );
}

#[tokio::test]
async fn text_over_slacks_limits_is_cut_with_an_ellipsis_and_never_mid_entity() {
    let mock = MockSlack::start().await;
    let long = message(&"h".repeat(200), &"<&>".repeat(2000));
    channel(&mock).send(&long).await.expect("delivered");

    let sent = &mock.messages()[0];
    let header = sent["blocks"][0]["text"]["text"].as_str().expect("header");
    assert_eq!(header.chars().count(), 150);
    assert!(header.ends_with('…'));
    let section = sent["blocks"][1]["text"]["text"].as_str().expect("section");
    // 230 whole `&lt;&amp;&gt;`, then `&lt;&amp;` fill 2999 characters:
    // the next entity does not fit and is left out whole.
    assert_eq!(section.chars().count(), 3000);
    assert!(section.ends_with("&gt;&lt;&amp;…"), "{section}");
}

#[tokio::test]
async fn slacks_text_errors_are_permanent_and_name_no_secret() {
    let mock = MockSlack::start().await;

    let wrong_secret = format!("{}/services/T0MOCKTEAM/B0MOCKBOT/guessed", mock.url);
    let refused = section(&mock, &wrong_secret)
        .open()
        .expect("opens")
        .send(&drift())
        .await;
    assert!(
        matches!(&refused, Err(SendError::Permanent(r)) if r.contains("invalid_token") && !r.contains("guessed")),
        "{refused:?}"
    );

    let no_service = format!("{}/services/T0OTHER/B0OTHER/{}", mock.url, secret());
    let refused = section(&mock, &no_service)
        .open()
        .expect("opens")
        .send(&drift())
        .await;
    assert!(
        matches!(&refused, Err(SendError::Permanent(r)) if r.contains("no_service") && !r.contains(secret())),
        "{refused:?}"
    );

    mock.archive_channel();
    let refused = channel(&mock).send(&drift()).await;
    assert!(
        matches!(&refused, Err(SendError::Permanent(r)) if r.contains("channel_is_archived")),
        "{refused:?}"
    );
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn a_5xx_is_worth_another_try_and_the_message_arrives_once_it_recovers() {
    let mock = MockSlack::start().await;
    let slack = channel(&mock);
    mock.fail_requests(3, Failure::ServerError);
    for _ in 0..3 {
        let failed = slack.send(&drift()).await;
        assert!(
            matches!(failed, Err(SendError::Retry { after: None, .. })),
            "{failed:?}"
        );
    }
    slack.send(&drift()).await.expect("recovered");
    assert_eq!(mock.messages().len(), 1);
}

#[tokio::test]
async fn a_429_hands_back_retry_after_and_the_next_send_waits_it_out() {
    let mock = MockSlack::start().await;
    let slack = channel(&mock);
    mock.fail_requests(
        1,
        Failure::RateLimited {
            retry_after_secs: 1,
        },
    );
    let refused = slack.send(&drift()).await;
    assert!(
        matches!(refused, Err(SendError::Retry { after: Some(after), .. }) if after == Duration::from_secs(1)),
        "{refused:?}"
    );
    slack
        .send(&drift())
        .await
        .expect("delivered after the wait");
    assert_eq!(mock.messages().len(), 1);
    assert_eq!(mock.early_requests(), 0, "sent before Retry-After was over");

    mock.fail_requests(
        1,
        Failure::RateLimited {
            retry_after_secs: 60,
        },
    );
    let first = slack.send(&drift()).await;
    assert!(matches!(first, Err(SendError::Retry { .. })), "{first:?}");
    let second = slack.send(&drift()).await;
    assert!(
        matches!(second, Err(SendError::Retry { after: Some(after), .. }) if after > Duration::from_secs(5)),
        "a long wait is handed back, not waited: {second:?}"
    );
    assert_eq!(mock.early_requests(), 0, "nothing was sent during the wait");
}

#[tokio::test]
async fn the_webhook_secret_never_shows() {
    let mock = MockSlack::start().await;
    let config = section(&mock, &mock.webhook_url());
    let shown = format!("{config:?} {}", config.redacted());
    assert!(!shown.contains(secret()), "{shown}");
    assert!(!shown.contains("T0MOCKTEAM"), "{shown}");
    assert!(shown.contains(&mock.url), "the host is shown: {shown}");

    let short = format!("{}/services/T0MOCKTEAM/{}", mock.url, secret());
    let reason = section(&mock, &short)
        .open()
        .err()
        .expect("a URL without its three segments is refused");
    assert!(
        reason.contains("webhook_url") && !reason.contains(secret()),
        "{reason}"
    );

    let defaulted: ChannelConfig = serde_json::from_value(json!({
        "type": "slack", "webhook_url": "https://hooks.slack.com/services/T1/B2/c3",
    }))
    .expect("base_url defaults to Slack");
    assert!(defaulted.open().is_ok());
}

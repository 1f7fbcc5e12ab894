//! The outbound webhook channel against a loopback Standard Webhooks
//! receiver: what arrives and how it is signed, the README's verification
//! snippet run on a real delivery, de-duplication by `webhook-id`, and
//! which failures are worth another try.

use std::{process::Command, time::Duration};

use tradeplane_e2e::{
    external_tool,
    mock_notify::webhook::{MockWebhook, TOLERANCE_SECS},
    mock_venue::{Fault, Route},
    workspace_root,
};
use tradeplane_server::notify::{
    channel::{Channel, Message, SendError, Severity},
    channels::{
        ChannelConfig,
        webhook::{Webhook, WebhookConfig},
    },
};

/// 32 bytes, base64.
const SECRET: &str = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzISE=";
const OTHER_SECRET: &str = "whsec_YW5vdGhlci1rZXktb2YtdHdlbnR5LWZvdXI=";

fn filled(id: &str) -> Message {
    Message {
        id: id.to_string(),
        kind: "order_filled".to_string(),
        severity: Severity::Info,
        title: "Filled on binance/main".to_string(),
        text: "filled 0.015 BTC at 64,120".to_string(),
        time_ms: 1_764_925_514_000,
        buttons: Vec::new(),
    }
}

/// The channel for `url` and `secret`, opened from its TOML section.
fn channel(url: &str, secret: &str) -> std::sync::Arc<dyn Channel> {
    let section =
        format!("type = \"webhook\"\nurl = \"{url}/hooks/s3cr3t-path\"\nsecret = \"{secret}\"\n");
    let config: ChannelConfig = toml::from_str(&section).expect("a webhook section");
    config.open().expect("the channel opens")
}

#[tokio::test]
async fn a_delivery_arrives_signed_with_the_event_id_and_its_shape() {
    let mock = MockWebhook::start(SECRET).await;
    let webhook = channel(&mock.url, SECRET);
    assert_eq!(webhook.kind(), "webhook");
    webhook.send(&filled("evt-1")).await.expect("delivered");

    let deliveries = mock.orders();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.id, "evt-1");
    assert!(delivery.signature.starts_with("v1,"));
    assert_eq!(delivery.json["type"], "order_filled");
    assert_eq!(delivery.json["timestamp"], "2025-12-05T09:05:14.000Z");
    assert_eq!(delivery.json["data"]["title"], "Filled on binance/main");
    assert_eq!(delivery.json["data"]["text"], "filled 0.015 BTC at 64,120");
    assert_eq!(delivery.json["data"]["severity"], "info");
    assert_eq!(mock.refused_signatures(), 0);
}

#[tokio::test]
async fn the_same_event_twice_is_one_delivery_to_an_idempotent_receiver() {
    let mock = MockWebhook::start(SECRET).await;
    let webhook = channel(&mock.url, SECRET);
    webhook.send(&filled("evt-1")).await.expect("delivered");
    webhook.send(&filled("evt-1")).await.expect("acknowledged");
    webhook.send(&filled("evt-2")).await.expect("delivered");
    assert_eq!(mock.orders_with_client_id("evt-1"), 1);
    assert_eq!(mock.orders().len(), 2);
    assert_eq!(mock.duplicates(), 1);
}

/// The first `language` block of the README's `### Outbound webhooks`
/// section, verbatim.
fn readme_block(language: &str) -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let (_, section) = readme
        .split_once("\n### Outbound webhooks\n")
        .expect("the Outbound webhooks section");
    let (_, block) = section
        .split_once(&format!("```{language}\n"))
        .unwrap_or_else(|| panic!("a {language} block in the section"));
    block
        .split_once("```")
        .expect("the block ends")
        .0
        .to_string()
}

#[tokio::test]
async fn the_readme_snippet_verifies_a_real_delivery_and_refuses_a_tampered_one() {
    let Some(python) = external_tool("python3", "runs the README's verification snippet") else {
        return;
    };
    let mock = MockWebhook::start(SECRET).await;
    channel(&mock.url, SECRET)
        .send(&filled("evt-readme"))
        .await
        .expect("delivered");
    let delivery = mock.orders().remove(0);

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("readme_verify.py"), readme_block("python")).expect("write");
    let tampered = delivery.body.replace("0.015", "0.150");
    assert_ne!(tampered, delivery.body);
    let input = serde_json::json!({
        "headers": {
            "webhook-id": delivery.id,
            "webhook-timestamp": delivery.timestamp,
            "webhook-signature": delivery.signature,
        },
        "bodies": [delivery.body, tampered],
    });
    let driver = "import json, sys\nfrom readme_verify import verify\n\
                  given = json.load(sys.stdin)\n\
                  for body in given['bodies']:\n    \
                  print(verify(sys.argv[1], given['headers'], body.encode()))\n";
    let mut child = Command::new(python)
        .args(["-c", driver, SECRET])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("input");
    }
    let out = child.wait_with_output().expect("python3 ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the snippet failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "True\nFalse\n");
}

#[tokio::test]
async fn a_5xx_is_a_retry_and_a_429_wait_is_honoured_before_sending_again() {
    let mock = MockWebhook::start(SECRET).await;
    let webhook = channel(&mock.url, SECRET);
    mock.fail_next(Route::PlaceOrder, Fault::ServerError);
    match webhook.send(&filled("evt-1")).await {
        Err(SendError::Retry {
            after: None,
            reason,
        }) => assert!(reason.contains("500")),
        other => panic!("a 500 must be retried: {other:?}"),
    }
    mock.fail_next(
        Route::PlaceOrder,
        Fault::TooManyRequests {
            retry_after_secs: 120,
        },
    );
    assert_eq!(
        webhook.send(&filled("evt-1")).await,
        Err(SendError::Retry {
            after: Some(Duration::from_secs(120)),
            reason: format!("{} answered 429 Too Many Requests", host(&mock.url)),
        })
    );
    // The receiver asked for two minutes: nothing is sent meanwhile.
    match webhook.send(&filled("evt-1")).await {
        Err(SendError::Retry {
            after: Some(after), ..
        }) => assert!(after <= Duration::from_secs(120) && after > Duration::ZERO),
        other => panic!("the wait must hold: {other:?}"),
    }
    assert!(mock.orders().is_empty());
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test]
async fn a_wrong_secret_is_permanent_and_the_error_names_only_the_host() {
    let mock = MockWebhook::start(SECRET).await;
    let webhook = channel(&mock.url, OTHER_SECRET);
    let Err(SendError::Permanent(reason)) = webhook.send(&filled("evt-1")).await else {
        panic!("a 401 is permanent");
    };
    assert_eq!(
        reason,
        format!("{} answered 401 Unauthorized", host(&mock.url))
    );
    assert_eq!(mock.refused_signatures(), 1);
    assert!(mock.orders().is_empty());
}

#[tokio::test]
async fn a_timestamp_outside_the_receivers_tolerance_is_refused() {
    let mock = MockWebhook::start(SECRET).await;
    mock.set_clock_offset((TOLERANCE_SECS + 60) * 1000);
    let webhook = channel(&mock.url, SECRET);
    assert!(matches!(
        webhook.send(&filled("evt-1")).await,
        Err(SendError::Permanent(_))
    ));
    assert_eq!(mock.refused_signatures(), 1);
    mock.set_clock_offset((TOLERANCE_SECS - 60) * 1000);
    webhook
        .send(&filled("evt-1"))
        .await
        .expect("within tolerance");
}

#[tokio::test]
async fn no_receiver_is_a_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    assert!(matches!(
        channel(&url, SECRET).send(&filled("evt-1")).await,
        Err(SendError::Retry { after: None, .. })
    ));
}

#[test]
fn a_config_it_cannot_use_is_named_and_secrets_are_never_shown() {
    let config = |url: &str, secret: &str| WebhookConfig {
        url: url.to_string(),
        secret: secret.to_string(),
    };
    let refusal = |c: WebhookConfig| Webhook::new(&c).err().expect("refused");
    let url = "https://hooks.example.com/s3cr3t-path";
    assert!(refusal(config(url, "c2VjcmV0")).starts_with("webhook secret:"));
    assert!(refusal(config(url, "whsec_c2hvcnQ=")).starts_with("webhook secret:"));
    assert!(refusal(config(url, "whsec_not base64!")).starts_with("webhook secret:"));
    assert_eq!(
        refusal(config("http://hooks.example.com/x", SECRET)),
        "webhook url: hooks.example.com must be reached over https"
    );
    assert!(refusal(config("not a url", SECRET)).starts_with("webhook url:"));
    Webhook::new(&config(url, SECRET)).expect("usable");

    let unknown = format!("type = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nkey = 1\n");
    assert!(toml::from_str::<ChannelConfig>(&unknown).is_err());

    let shown = config(url, SECRET);
    let section = ChannelConfig::Webhook(shown.clone());
    for text in [
        format!("{shown:?}"),
        format!("{section:?}"),
        shown.redacted().to_string(),
    ] {
        assert!(!text.contains("c2VjcmV0"), "secret shown: {text}");
        assert!(!text.contains("s3cr3t-path"), "URL path shown: {text}");
        assert!(text.contains("hooks.example.com"), "host hidden: {text}");
    }
}

#[test]
fn the_readme_example_section_opens() {
    let config: ChannelConfig = toml::from_str(&readme_block("toml")).expect("the example parses");
    config.open().expect("the example opens");
}

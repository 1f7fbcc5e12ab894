//! The e-mail channel against a loopback SMTP server with STARTTLS and
//! AUTH: what arrives (envelope, subject, body, a Message-ID derived from
//! the event id), which refusals are worth another try, and that nothing
//! (credentials least of all) is sent to a server whose certificate is not
//! trusted.

use std::path::Path;

use tradeplane_e2e::mock_notify::smtp::MockSmtp;
use tradeplane_server::notify::{
    channel::{Channel, Message, SendError, Severity},
    channels::{
        ChannelConfig,
        email::{Email, EmailConfig, StartTls},
    },
};

const USER: &str = "bot@example.com";
const PASSWORD: &str = "smtp-pa55word";

fn breaker(id: &str) -> Message {
    Message {
        id: id.to_string(),
        kind: "breaker_opened".to_string(),
        severity: Severity::Critical,
        title: "Breaker open on bybit".to_string(),
        text: "breaker open on bybit: orders paused".to_string(),
        time_ms: 1_764_925_514_000,
        buttons: Vec::new(),
    }
}

/// The section for `mock`, with `password`, trusting `ca_file` if given.
fn section(port: u16, password: &str, ca_file: Option<&Path>) -> String {
    let ca = ca_file.map_or_else(String::new, |path| {
        format!("ca_file = \"{}\"\n", path.display())
    });
    format!(
        "type = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"{USER}\"\n\
         password = \"{password}\"\nfrom = \"tradeplane <{USER}>\"\n\
         to = [\"trader@example.com\", \"desk@example.org\"]\n{ca}"
    )
}

fn channel(section: &str) -> std::sync::Arc<dyn Channel> {
    let config: ChannelConfig = toml::from_str(section).expect("an email section");
    config.open().expect("the channel opens")
}

#[tokio::test]
async fn a_message_arrives_over_starttls_with_its_subject_body_and_message_id() {
    let mock = MockSmtp::start(USER, PASSWORD).await;
    let email = channel(&section(mock.port, PASSWORD, Some(&mock.ca_file)));
    assert_eq!(email.kind(), "email");
    email.send(&breaker("evt-1")).await.expect("sent");
    email.send(&breaker("fill:7/2")).await.expect("sent");

    let messages = mock.messages();
    assert_eq!(messages.len(), 2);
    let mail = &messages[0];
    assert_eq!(mail.from, USER);
    assert_eq!(mail.to, ["trader@example.com", "desk@example.org"]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Breaker open on bybit")
    );
    assert_eq!(
        mail.header("Message-ID").as_deref(),
        Some("<evt-1@example.com>")
    );
    assert_eq!(
        mail.header("Date").as_deref(),
        Some("Fri, 05 Dec 2025 09:05:14 +0000")
    );
    assert_eq!(
        mail.body().trim_end(),
        "breaker open on bybit: orders paused"
    );
    assert_eq!(
        messages[1].header("Message-ID").as_deref(),
        Some("<fill=3A7=2F2@example.com>")
    );
    assert_eq!(mock.plaintext_attempts(), 0);
    assert_eq!(mock.auth_failures(), 0);
}

#[tokio::test]
async fn a_451_is_a_retry_and_a_554_is_permanent() {
    let mock = MockSmtp::start(USER, PASSWORD).await;
    let email = channel(&section(mock.port, PASSWORD, Some(&mock.ca_file)));
    mock.refuse_next(451, 1);
    assert!(matches!(
        email.send(&breaker("evt-1")).await,
        Err(SendError::Retry { after: None, .. })
    ));
    mock.refuse_next(554, 1);
    assert!(matches!(
        email.send(&breaker("evt-1")).await,
        Err(SendError::Permanent(_))
    ));
    email
        .send(&breaker("evt-1"))
        .await
        .expect("accepted at last");
    assert_eq!(mock.messages().len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_never_shown() {
    let mock = MockSmtp::start(USER, PASSWORD).await;
    let email = channel(&section(mock.port, "wrong-pa55word", Some(&mock.ca_file)));
    let Err(SendError::Permanent(reason)) = email.send(&breaker("evt-1")).await else {
        panic!("a 535 is permanent");
    };
    assert!(
        reason.starts_with(&format!("127.0.0.1:{}", mock.port)),
        "{reason}"
    );
    assert!(!reason.contains("pa55word"), "{reason}");
    assert_eq!(mock.auth_failures(), 1);
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_gets_neither_credentials_nor_mail() {
    let mock = MockSmtp::start(USER, PASSWORD).await;
    let email = channel(&section(mock.port, PASSWORD, None));
    assert!(matches!(
        email.send(&breaker("evt-1")).await,
        Err(SendError::Retry { .. })
    ));
    assert_eq!(mock.auth_failures(), 0);
    assert_eq!(mock.plaintext_attempts(), 0);
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn no_server_is_a_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    // A server elsewhere, only for its CA file.
    let mock = MockSmtp::start(USER, PASSWORD).await;
    assert!(matches!(
        channel(&section(port, PASSWORD, Some(&mock.ca_file)))
            .send(&breaker("evt-1"))
            .await,
        Err(SendError::Retry { after: None, .. })
    ));
}

#[test]
fn a_config_it_cannot_use_is_named_and_the_password_is_never_shown() {
    let base: EmailConfig = toml::from_str(
        "host = \"smtp.example.com\"\nusername = \"bot\"\npassword = \"smtp-pa55word\"\n\
         from = \"bot@example.com\"\nto = [\"trader@example.com\"]\n",
    )
    .expect("a section");
    assert_eq!(base.port, 587);
    assert_eq!(base.starttls, StartTls::Required);
    Email::new(&base).expect("usable");

    let refusal = |change: &dyn Fn(&mut EmailConfig)| {
        let mut config = base.clone();
        change(&mut config);
        Email::new(&config).err().expect("refused")
    };
    assert_eq!(
        refusal(&|c| c.starttls = StartTls::None),
        "email starttls: none is only allowed for a loopback host, not smtp.example.com"
    );
    assert!(refusal(&|c| c.to.clear()).starts_with("email to:"));
    assert!(refusal(&|c| c.to = vec!["nobody".to_string()]).starts_with("email to:"));
    assert!(refusal(&|c| c.from = "not an address".to_string()).starts_with("email from:"));
    assert!(
        refusal(&|c| c.ca_file = Some("/nonexistent/ca.pem".into())).starts_with("email ca_file:")
    );
    let empty = tempfile::NamedTempFile::new().expect("a file");
    assert!(
        refusal(&|c| c.ca_file = Some(empty.path().to_path_buf())).starts_with("email ca_file:")
    );
    let mut loopback = base.clone();
    loopback.host = "127.0.0.1".to_string();
    loopback.starttls = StartTls::None;
    Email::new(&loopback).expect("plain text is allowed on loopback");

    let unknown = "type = \"email\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\n\
                   from = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = true\n";
    assert!(toml::from_str::<ChannelConfig>(unknown).is_err());

    let section = ChannelConfig::Email(base.clone());
    for text in [
        format!("{base:?}"),
        format!("{section:?}"),
        base.redacted().to_string(),
    ] {
        assert!(!text.contains("pa55word"), "password shown: {text}");
        assert!(text.contains("smtp.example.com"), "host hidden: {text}");
    }
}

//! E-mail over SMTP with STARTTLS (lettre, rustls with ring): the subject
//! is the message's title, the body its text, and the `Message-ID` is
//! derived from the event id, so that a receiver can de-duplicate.

use std::{
    net::IpAddr,
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
        extension::ClientId,
    },
};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use serde::Deserialize;

use crate::notify::channel::{Channel, Message, SendError};

/// How long one SMTP command may wait for its answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The name tradeplane greets the server with (EHLO).
const HELLO_NAME: &str = "tradeplane";

/// Whether the connection must be upgraded with STARTTLS.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StartTls {
    /// STARTTLS or nothing is sent (the default).
    #[default]
    Required,
    /// Plain text: only allowed for a relay on loopback.
    None,
}

/// The e-mail channel's section.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name (also the name its certificate must
    /// carry).
    pub host: String,
    /// The submission port, 587 unless set.
    #[serde(default = "submission_port")]
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The sender, e.g. `tradeplane <bot@example.com>`.
    pub from: String,
    /// The recipients, at least one.
    pub to: Vec<String>,
    #[serde(default)]
    pub starttls: StartTls,
    /// A PEM file of the CA that signed the server's certificate, when it
    /// is a private one (trusted on top of the public roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn submission_port() -> u16 {
    587
}

impl EmailConfig {
    /// The section as it may be shown: the password hidden.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "email",
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": "***",
            "from": self.from,
            "to": self.to,
            "starttls": match self.starttls {
                StartTls::Required => "required",
                StartTls::None => "none",
            },
            "ca_file": self.ca_file,
        })
    }
}

/// Shown as its redacted form, so that no secret reaches a log.
impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Sends messages as e-mail through one SMTP server.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`: all an error message names.
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    /// The channel for `config`.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        if config.host.is_empty() {
            return Err("email host: must not be empty".to_string());
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("email from: not an address: {e}"))?;
        if config.to.is_empty() {
            return Err("email to: name at least one recipient".to_string());
        }
        let to = config
            .to
            .iter()
            .map(|to| {
                to.parse::<Mailbox>()
                    .map_err(|e| format!("email to: {to:?} is not an address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tls = match config.starttls {
            StartTls::Required => Tls::Required(tls_parameters(config)?),
            StartTls::None if is_loopback(&config.host) => Tls::None,
            StartTls::None => {
                return Err(format!(
                    "email starttls: none is only allowed for a loopback host, not {}",
                    config.host
                ));
            }
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .hello_name(ClientId::Domain(HELLO_NAME.to_string()))
            .credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ))
            .timeout(Some(TIMEOUT))
            .build();
        Ok(Self {
            transport,
            server: format!("{}:{}", config.host, config.port),
            from,
            to,
        })
    }

    /// The e-mail for `message`.
    fn mail(&self, message: &Message) -> Result<lettre::Message, SendError> {
        let sent = u64::try_from(message.time_ms)
            .ok()
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .unwrap_or_else(SystemTime::now);
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.title.as_str())
            .date(sent)
            .message_id(Some(message_id(&message.id, self.from.email.domain())))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(message.text.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build the e-mail: {e}")))
    }
}

/// TLS towards `config.host`, trusting `ca_file` on top of the public
/// roots.
fn tls_parameters(config: &EmailConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("email ca_file: cannot read {}: {e}", path.display()))?;
        let found = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("email ca_file: {} is not PEM", path.display()))?;
        if found.is_empty() {
            return Err(format!(
                "email ca_file: {} holds no certificate",
                path.display()
            ));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("email ca_file: {}: {e}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("email: cannot set up TLS: {e}"))
}

/// Whether `host` names this machine.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `<id@domain>`, the event id kept readable: characters a Message-ID
/// cannot carry (and `=`) become `=XX`, so that distinct ids stay
/// distinct.
fn message_id(id: &str, domain: &str) -> String {
    let mut local = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.".contains(&byte) {
            local.push(char::from(byte));
        } else {
            local.push_str(&format!("={byte:02X}"));
        }
    }
    format!("<{local}@{domain}>")
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mail = self.mail(message)?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => {
                Err(SendError::Permanent(format!("{}: {err}", self.server)))
            }
            Err(err) => Err(SendError::Retry {
                after: None,
                reason: format!("{}: {err}", self.server),
            }),
        }
    }
}

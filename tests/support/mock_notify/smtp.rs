//! A loopback SMTP submission server that checks what a real one checks:
//! EHLO, STARTTLS (with a certificate from its own CA, whose PEM file
//! tests trust through `ca_file`) before anything else, AUTH PLAIN or
//! LOGIN with the right credentials, then MAIL, RCPT and DATA. It records
//! the messages it accepted, and can answer the next messages' DATA with
//! a given code (451, 554...).

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

/// The longest command or data line read (RFC 5321 allows 1000).
const MAX_LINE: usize = 4096;
/// The most lines one message may have.
const MAX_MESSAGE_LINES: usize = 10_000;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// Headers and body, as sent after DATA (dot-stuffing undone).
    pub data: String,
}

impl Mail {
    /// A header's (unfolded) value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The body, after the blank line that ends the headers.
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }
}

#[derive(Default)]
struct State {
    username: String,
    password: String,
    messages: Vec<Mail>,
    /// Codes to answer the next messages' DATA with, instead of 250.
    refusals: VecDeque<u16>,
    /// AUTH attempts with the wrong credentials.
    auth_failures: u64,
    /// MAIL or AUTH attempts before STARTTLS.
    plaintext_attempts: u64,
}

/// A running SMTP server on a loopback port; it stops when dropped.
pub struct MockSmtp {
    pub port: u16,
    /// The PEM file of the CA that signed the server's certificate.
    pub ca_file: PathBuf,
    state: Arc<Mutex<State>>,
    _dir: TempDir,
    task: JoinHandle<()>,
}

impl Drop for MockSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockSmtp {
    /// A server for 127.0.0.1 that accepts `username` and `password`.
    pub async fn start(username: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("smtp-ca.pem");
        let acceptor = tls_acceptor(&ca_file);
        let state = Arc::new(Mutex::new(State {
            username: username.to_string(),
            password: password.to_string(),
            ..State::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("smtp address").port();
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, acceptor.clone(), serving.clone()));
            }
        });
        Self {
            port,
            ca_file,
            state,
            _dir: dir,
            task,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("smtp state"))
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        self.with(|s| s.messages.clone())
    }

    /// Answers the next `count` messages' DATA with `code` (e.g. 451 or
    /// 554) instead of accepting them.
    pub fn refuse_next(&self, code: u16, count: usize) {
        self.with(|s| s.refusals.extend(std::iter::repeat_n(code, count)));
    }

    /// AUTH attempts with the wrong credentials.
    pub fn auth_failures(&self) -> u64 {
        self.with(|s| s.auth_failures)
    }

    /// MAIL or AUTH attempts made before STARTTLS.
    pub fn plaintext_attempts(&self) -> u64 {
        self.with(|s| s.plaintext_attempts)
    }
}

/// A CA (written to `ca_file`) and an acceptor with a certificate it
/// signed for 127.0.0.1 and localhost.
fn tls_acceptor(ca_file: &std::path::Path) -> TlsAcceptor {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    std::fs::write(ca_file, ca.pem()).expect("write the CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let certificate = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("TLS config");
    TlsAcceptor::from(Arc::new(config))
}

/// Serves one connection: in plain text until STARTTLS, then over TLS.
async fn session(mut stream: TcpStream, acceptor: TlsAcceptor, state: Arc<Mutex<State>>) {
    if stream.write_all(b"220 mock ESMTP\r\n").await.is_err() {
        return;
    }
    if let Some(plain) = converse(stream, false, &state).await
        && let Ok(tls) = acceptor.accept(plain).await
    {
        converse(tls, true, &state).await;
    }
}

/// One envelope being built.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// Answers commands until QUIT or the connection ends; gives the stream
/// back when the client asked for STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    state: &Mutex<State>,
) -> Option<S> {
    let mut io = BufReader::new(stream);
    let mut authenticated = false;
    let mut envelope = Envelope::default();
    loop {
        let line = read_line(&mut io).await?;
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();
        let reply = match verb {
            "EHLO" if tls => "250-mock\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME".to_string(),
            "EHLO" => "250-mock\r\n250-STARTTLS\r\n250 8BITMIME".to_string(),
            "STARTTLS" if !tls => {
                io.write_all(b"220 2.0.0 ready to start TLS\r\n")
                    .await
                    .ok()?;
                return Some(io.into_inner());
            }
            "AUTH" | "MAIL" if !tls => {
                lock(state).plaintext_attempts += 1;
                "530 5.7.0 must issue a STARTTLS command first".to_string()
            }
            "AUTH" => {
                authenticated = authenticate(&mut io, &line, state).await?;
                if authenticated {
                    "235 2.7.0 authenticated".to_string()
                } else {
                    "535 5.7.8 authentication credentials invalid".to_string()
                }
            }
            "MAIL" if !authenticated => "530 5.7.0 authentication required".to_string(),
            "MAIL" => {
                envelope = Envelope {
                    from: Some(address(&line)),
                    to: Vec::new(),
                };
                "250 2.1.0 ok".to_string()
            }
            "RCPT" if envelope.from.is_none() => "503 5.5.1 MAIL first".to_string(),
            "RCPT" => {
                envelope.to.push(address(&line));
                "250 2.1.5 ok".to_string()
            }
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first".to_string(),
            "DATA" => {
                io.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .ok()?;
                let data = read_data(&mut io).await?;
                let mail = Mail {
                    from: envelope.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut envelope.to),
                    data,
                };
                accept(state, mail)
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 ok".to_string()
            }
            "NOOP" => "250 2.0.0 ok".to_string(),
            "QUIT" => {
                let _ = io.write_all(b"221 2.0.0 bye\r\n").await;
                return None;
            }
            _ => "502 5.5.2 command not recognized".to_string(),
        };
        io.write_all(format!("{reply}\r\n").as_bytes()).await.ok()?;
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().expect("smtp state")
}

/// Records `mail`, unless a refusal is queued: the reply to its DATA.
fn accept(state: &Mutex<State>, mail: Mail) -> String {
    let mut state = lock(state);
    match state.refusals.pop_front() {
        Some(code) => format!("{code} refused as the test asked"),
        None => {
            state.messages.push(mail);
            "250 2.0.0 queued".to_string()
        }
    }
}

/// The address inside `<...>` of a MAIL or RCPT command.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or_else(String::new, |(address, _)| address.to_string())
}

/// Runs AUTH PLAIN or LOGIN (asking for what the command line lacks);
/// whether the credentials are right, or `None` if the connection ended.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    line: &str,
    state: &Mutex<State>,
) -> Option<bool> {
    let mut words = line.split(' ').skip(1);
    let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next().map(str::to_string);
    let decode = |b64: &str| {
        BASE64
            .decode(b64.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .unwrap_or_default()
    };
    let (username, password) = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(response) => response,
                None => prompt(io, "").await?,
            };
            let decoded = decode(&response);
            let mut parts = decoded.split('\0').skip(1);
            let username = parts.next().unwrap_or_default().to_string();
            (username, parts.next().unwrap_or_default().to_string())
        }
        "LOGIN" => {
            let username = match initial {
                Some(username) => username,
                None => prompt(io, "VXNlcm5hbWU6").await?,
            };
            let password = prompt(io, "UGFzc3dvcmQ6").await?;
            (decode(&username), decode(&password))
        }
        _ => (String::new(), String::new()),
    };
    let mut state = lock(state);
    let right = username == state.username && password == state.password;
    if !right {
        state.auth_failures += 1;
    }
    Some(right)
}

/// Sends a `334` challenge and reads the client's answer.
async fn prompt<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    challenge: &str,
) -> Option<String> {
    io.write_all(format!("334 {challenge}\r\n").as_bytes())
        .await
        .ok()?;
    read_line(io).await
}

/// Reads the message after DATA up to the lone dot, undoing the dot
/// stuffing; lines are joined with CRLF.
async fn read_data<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<String> {
    let mut lines = Vec::new();
    for _ in 0..MAX_MESSAGE_LINES {
        let line = read_line(io).await?;
        if line == "." {
            return Some(lines.join("\r\n"));
        }
        lines.push(line.strip_prefix('.').unwrap_or(&line).to_string());
    }
    None
}

/// One line without its CRLF; `None` at the end of the stream or for a
/// line too long.
async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<String> {
    let mut line = Vec::new();
    let read = (&mut *io)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .ok()?;
    if read == 0 || !line.ends_with(b"\n") {
        return None;
    }
    let text = String::from_utf8(line).ok()?;
    Some(text.trim_end_matches(['\r', '\n']).to_string())
}

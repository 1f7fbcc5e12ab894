//! Optional TLS (rustls, ring): for gRPC through tonic, with optional
//! client-certificate verification (mTLS); for HTTP through a listener
//! that completes handshakes off the accept path.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::serve::Listener;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings; empty paths leave TLS off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, used by both ports.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
    /// PEM CA bundle: when set, gRPC clients must present a certificate it
    /// signed (mTLS).
    pub client_ca_path: PathBuf,
}

impl TlsConfig {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.cert_path.as_os_str().is_empty()
    }

    /// Checks that the settings go together.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let has_key = !self.key_path.as_os_str().is_empty();
        let has_ca = !self.client_ca_path.as_os_str().is_empty();
        if self.enabled() != has_key {
            return Err((
                "tls.key_path",
                "set both tls.cert_path and tls.key_path, or neither".into(),
            ));
        }
        if has_ca && !self.enabled() {
            return Err((
                "tls.client_ca_path",
                "mTLS needs tls.cert_path and tls.key_path".into(),
            ));
        }
        Ok(())
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read TLS {what} {}: {e}", path.display()))
}

/// tonic's TLS settings, or `None` when TLS is off.
pub fn grpc_tls(config: &TlsConfig) -> anyhow::Result<Option<ServerTlsConfig>> {
    if !config.enabled() {
        return Ok(None);
    }
    let identity = Identity::from_pem(
        read(&config.cert_path, "certificate")?,
        read(&config.key_path, "key")?,
    );
    let mut tls = ServerTlsConfig::new().identity(identity);
    if !config.client_ca_path.as_os_str().is_empty() {
        tls = tls.client_ca_root(Certificate::from_pem(read(
            &config.client_ca_path,
            "client CA",
        )?));
    }
    Ok(Some(tls))
}

fn http_acceptor(config: &TlsConfig) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_slice_iter(&read(&config.cert_path, "certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", config.cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&config.key_path, "key")?)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", config.key_path.display()))?;
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// A connection's byte stream, plain or TLS.
pub trait HttpIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> HttpIo for T {}

/// The HTTP port's listener: plain TCP, or TLS when configured.
pub struct HttpListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    handshakes: JoinSet<Option<(Box<dyn HttpIo>, SocketAddr)>>,
}

impl HttpListener {
    /// Wraps a bound listener.
    pub fn new(tcp: TcpListener, config: &TlsConfig) -> anyhow::Result<Self> {
        let tls = config
            .enabled()
            .then(|| http_acceptor(config))
            .transpose()?;
        Ok(Self {
            tcp,
            tls,
            handshakes: JoinSet::new(),
        })
    }
}

/// Accepts the next TCP connection, retrying on errors (such as running
/// out of file descriptors) after a pause.
async fn accept_tcp(tcp: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match tcp.accept().await {
            Ok((stream, addr)) => {
                // Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms.
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(error = %err, "cannot set TCP_NODELAY");
                }
                return (stream, addr);
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Listener for HttpListener {
    type Io = Box<dyn HttpIo>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let Some(acceptor) = self.tls.clone() else {
            let (stream, addr) = accept_tcp(&self.tcp).await;
            return (Box::new(stream), addr);
        };
        loop {
            tokio::select! {
                (stream, addr) = accept_tcp(&self.tcp) => {
                    let acceptor = acceptor.clone();
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => Some((Box::new(tls) as Box<dyn HttpIo>, addr)),
                            Ok(Err(err)) => {
                                tracing::debug!(error = %err, %addr, "TLS handshake failed");
                                None
                            }
                            Err(_) => None,
                        }
                    });
                }
                Some(Ok(Some(done))) = self.handshakes.join_next(), if !self.handshakes.is_empty() => return done,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The client address of an HTTP connection (request extension
/// `ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

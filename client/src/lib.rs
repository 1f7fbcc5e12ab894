//! A typed tradeplane client: one connection (or several, for load), the
//! `authorization` header on every call, idempotent retries keyed by
//! `request_id`, and readable error descriptions.

pub mod bench;
pub mod bench_lists;
pub mod format;
pub mod pipeline_file;

use std::time::Duration;

use tonic::{
    Code, Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse, health_client::HealthClient};
use tonic_types::StatusExt;
use tradeplane_api::{
    SubmitSignalRequest, SubmitSignalResponse, order_service_client::OrderServiceClient,
    pipeline_service_client::PipelineServiceClient,
    security_admin_service_client::SecurityAdminServiceClient,
    signal_service_client::SignalServiceClient,
};

/// The channel type every generated client here uses.
pub type AuthChannel = InterceptedService<Channel, Auth>;

/// Adds `authorization: Bearer <key>` when a key is configured.
#[derive(Clone)]
pub struct Auth {
    header: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// A connection to a tradeplane server.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    auth: Auth,
}

/// TLS material for `https://` servers, as PEM. Without a CA the public
/// web roots are trusted.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub ca_cert: Option<Vec<u8>>,
    /// Client certificate and key, for servers that require mTLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Failure to connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid server address `{0}`: {1}")]
    Address(String, String),
    #[error("the API key contains characters a header cannot carry")]
    ApiKey,
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
}

impl Client {
    /// Connects to `server` (e.g. `http://127.0.0.1:50051`).
    pub async fn connect(server: &str, api_key: Option<&str>) -> Result<Self, ConnectError> {
        Self::connect_tls(server, api_key, &TlsOptions::default()).await
    }

    /// Connects with TLS settings (used when `server` is `https://…`).
    pub async fn connect_tls(
        server: &str,
        api_key: Option<&str>,
        tls: &TlsOptions,
    ) -> Result<Self, ConnectError> {
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .map_err(|e| ConnectError::Address(server.to_string(), e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        if server.starts_with("https://") {
            let mut config = match &tls.ca_cert {
                Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(Identity::from_pem(cert, key));
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| ConnectError::Address(server.to_string(), error_chain(&e)))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ConnectError::Connect(server.to_string(), error_chain(&e)))?;
        let header = match api_key {
            Some(key) => Some(
                format!("Bearer {key}")
                    .parse()
                    .map_err(|_| ConnectError::ApiKey)?,
            ),
            None => None,
        };
        Ok(Self {
            channel,
            auth: Auth { header },
        })
    }

    /// `tradeplane.v1.SignalService`.
    pub fn signals(&self) -> SignalServiceClient<AuthChannel> {
        SignalServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `tradeplane.v1.OrderService`.
    pub fn orders(&self) -> OrderServiceClient<AuthChannel> {
        OrderServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `tradeplane.v1.PipelineService`.
    pub fn pipelines(&self) -> PipelineServiceClient<AuthChannel> {
        PipelineServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `tradeplane.v1.SecurityAdminService`.
    pub fn security(&self) -> SecurityAdminServiceClient<AuthChannel> {
        SecurityAdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The standard health service.
    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// Health of `service` (`""` = the process, `"readiness"`, or a full
    /// service name).
    pub async fn check(&self, service: &str) -> Result<HealthCheckResponse, Status> {
        let request = HealthCheckRequest {
            service: service.to_string(),
        };
        Ok(self.health().check(request).await?.into_inner())
    }

    /// Submits a signal, retrying transient failures. A `request_id` is set
    /// when absent, so every retry is the same idempotent request and the
    /// server records the signal at most once.
    pub async fn submit_signal(
        &self,
        mut request: SubmitSignalRequest,
        attempts: u32,
    ) -> Result<SubmitSignalResponse, Status> {
        if request.request_id.is_empty() {
            request.request_id = uuid::Uuid::now_v7().to_string();
        }
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.signals().submit_signal(request.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if attempt < attempts && is_transient(&status) => {
                    tokio::time::sleep(retry_delay(&status).unwrap_or(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
                Err(status) => return Err(status),
            }
        }
    }
}

/// Whether a call may succeed if sent again unchanged.
pub fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted
    )
}

fn retry_delay(status: &Status) -> Option<Duration> {
    status.get_details_retry_info()?.retry_delay
}

/// One readable line (or a few) for a failed call: code, reason, message and
/// every field violation.
pub fn describe_status(status: &Status) -> String {
    let mut text = format!("{:?}", status.code());
    if let Some(info) = status.get_details_error_info() {
        text.push_str(&format!(" [{}]", info.reason));
    }
    text.push_str(&format!(": {}", status.message()));
    if let Some(bad) = status.get_details_bad_request() {
        for violation in bad.field_violations {
            text.push_str(&format!(
                "\n  {}: {}",
                violation.field, violation.description
            ));
        }
    }
    if let Some(delay) = retry_delay(status) {
        text.push_str(&format!("\n  retry after {delay:?}"));
    }
    text
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

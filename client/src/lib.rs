//! A typed tradeplane client: one connection (or several, for load), the
//! `authorization` header on every call, idempotent retries keyed by
//! `request_id`, and readable error descriptions.

pub mod bench;
pub mod bench_lists;
pub mod format;
pub mod notify_file;
pub mod pipeline_file;
pub mod proto_json;

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
    GetPipelineRequest, SubmitSignalRequest, SubmitSignalResponse,
    notification_service_client::NotificationServiceClient,
    order_service_client::OrderServiceClient, pipeline_service_client::PipelineServiceClient,
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

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub tls: TlsOptions,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long a call may wait for its answer; `None` waits as long as
    /// it takes. A stream's answer is its first message head, so a watch
    /// is not cut.
    pub call_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(5),
            call_timeout: None,
        }
    }
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
        let options = ConnectOptions {
            tls: tls.clone(),
            ..Default::default()
        };
        Self::connect_with(server, api_key, &options).await
    }

    /// Connects to `server` (a URL, see [`server_url`]) as `options` say.
    pub async fn connect_with(
        server: &str,
        api_key: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<Self, ConnectError> {
        let tls = &options.tls;
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .map_err(|e| ConnectError::Address(server.to_string(), error_chain(&e)))?
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true);
        if let Some(timeout) = options.call_timeout {
            endpoint = endpoint.timeout(timeout);
        }
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

    /// `tradeplane.v1.NotificationService`.
    pub fn notifications(&self) -> NotificationServiceClient<AuthChannel> {
        NotificationServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
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

    /// The id of the pipeline named `name_or_id` (a name or an id); empty
    /// stays empty (no filter). An unknown one is NOT_FOUND, so a filter
    /// on it is never silently empty.
    pub async fn pipeline_id(&self, name_or_id: String) -> Result<String, Status> {
        if name_or_id.is_empty() {
            return Ok(name_or_id);
        }
        let request = GetPipelineRequest { id: name_or_id };
        let answer = self.pipelines().get_pipeline(request).await?.into_inner();
        Ok(answer.pipeline.map(|p| p.id).unwrap_or_default())
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

/// The URL of a server given as grpcurl takes it: `host:port` (plaintext,
/// or TLS when `tls` is `Some(true)`), or a full `http://` / `https://`
/// URL, which must agree with `tls` when that is given.
pub fn server_url(address: &str, tls: Option<bool>) -> Result<String, ConnectError> {
    let refuse = |why: &str| Err(ConnectError::Address(address.to_string(), why.to_string()));
    match (address.split_once("://"), tls) {
        (None, _) if address.is_empty() => refuse("it is empty"),
        (None, Some(true)) => Ok(format!("https://{address}")),
        (None, _) => Ok(format!("http://{address}")),
        (Some(("http", _)), Some(true)) => refuse("--tls needs an https:// address or none"),
        (Some(("https", _)), Some(false)) => refuse("--plaintext needs an http:// address or none"),
        (Some(("http" | "https", _)), _) => Ok(address.to_string()),
        (Some((scheme, _)), _) => {
            refuse(&format!("the scheme `{scheme}` is neither http nor https"))
        }
    }
}

/// An error and its causes on one line, each said once (transport errors
/// often repeat their cause's text).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_forms_grpcurl_takes() {
        let url = |address: &str, tls| server_url(address, tls).map_err(|e| e.to_string());
        assert_eq!(
            url("127.0.0.1:50051", None).unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            url("localhost:50051", Some(false)).unwrap(),
            "http://localhost:50051"
        );
        assert_eq!(
            url("tp.example:443", Some(true)).unwrap(),
            "https://tp.example:443"
        );
        assert_eq!(
            url("https://tp.example", None).unwrap(),
            "https://tp.example"
        );
        assert!(
            url("http://tp.example", Some(true))
                .unwrap_err()
                .contains("--tls")
        );
        assert!(
            url("https://tp.example", Some(false))
                .unwrap_err()
                .contains("--plaintext")
        );
        assert!(url("ftp://tp.example", None).unwrap_err().contains("`ftp`"));
        assert!(url("", None).unwrap_err().contains("empty"));
    }
}

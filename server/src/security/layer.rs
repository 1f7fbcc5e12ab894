//! The gRPC auth layer (tower): for every call, the gRPC allowlist, then
//! the policy table, the bearer key, the role, and the key's rate limit.
//! A refused call is answered here, with an `ErrorInfo`, and never reaches
//! a handler; an allowed one carries its [`Caller`] in the extensions.

use std::{
    net::IpAddr,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use http::{Request, Response};
use tonic::{
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};
use tradeplane_api::Surface;

use super::{
    Caller, Security,
    keys::KeyRefusal,
    policy::{self, Access},
    rate_limit::Client,
};
use crate::{api_error::ApiError, proto_time::now_ms};

/// The health service stays reachable from everywhere, so that
/// orchestrators can probe it.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// Wraps the gRPC routes with authentication and authorization.
#[derive(Clone)]
pub struct AuthLayer {
    security: Arc<Security>,
}

impl AuthLayer {
    /// The layer for `security`.
    pub fn new(security: Arc<Security>) -> Self {
        security.register_failure_reasons("grpc", &GRPC_FAILURE_REASONS);
        Self { security }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            security: self.security.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    security: Arc<Security>,
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match authorize(&self.security, &request) {
            Ok(Some(caller)) => {
                request.extensions_mut().insert(caller);
                Either::Left(self.inner.call(request))
            }
            Ok(None) => Either::Left(self.inner.call(request)),
            Err(err) => Either::Right(ready(Ok(tonic::Status::from(err).into_http()))),
        }
    }
}

/// The peer address tonic recorded for the connection.
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|tls| tls.get_ref().remote_addr())
        })
        .map(|addr| addr.ip())
}

fn bearer_token<B>(request: &Request<B>) -> Option<&str> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

fn authorize<B>(security: &Security, request: &Request<B>) -> Result<Option<Caller>, ApiError> {
    let path = request.uri().path();
    if path.starts_with(HEALTH_PREFIX) {
        return Ok(None);
    }
    let ip = peer_ip(request);
    if let Some(ip) = ip
        && !security.allowlists.allows(Surface::Grpc, ip)
    {
        security.refuse("grpc", "ip_not_allowed", "", Some(ip));
        return Err(ApiError::PermissionDenied {
            reason: "IP_NOT_ALLOWED",
            message: format!("client address {ip} is not on the gRPC allowlist"),
        });
    }
    let needed = match policy::access(path) {
        Access::Open => return Ok(None),
        Access::Role(role) => role,
    };
    let mut caller = match security.keys.authenticate(bearer_token(request), now_ms()) {
        Ok(caller) => caller,
        Err(refusal) => {
            security.refuse("grpc", refusal.as_str(), "", ip);
            let (reason, message) = match refusal {
                KeyRefusal::Missing => {
                    ("MISSING_API_KEY", "send `authorization: Bearer <api key>`")
                }
                KeyRefusal::Invalid => ("INVALID_API_KEY", "the API key is unknown or revoked"),
                KeyRefusal::Expired => ("EXPIRED_API_KEY", "the API key has expired"),
            };
            return Err(ApiError::Unauthenticated {
                reason,
                message: message.into(),
            });
        }
    };
    if !policy::allows(caller.role, needed) {
        security.refuse("grpc", "role_too_low", &caller.name, ip);
        return Err(ApiError::PermissionDenied {
            reason: "ROLE_TOO_LOW",
            message: format!(
                "{path} needs role {}; key `{}` has role {}",
                policy::role_name(needed),
                caller.name,
                policy::role_name(caller.role)
            ),
        });
    }
    let client = Client::ApiKey {
        id: caller.key_id.clone(),
        name: caller.name.clone(),
    };
    security
        .take_token("grpc", &client)
        .map_err(|retry_after| ApiError::RateLimited {
            scope: "api_key",
            retry_after,
        })?;
    caller.address = ip;
    Ok(Some(caller))
}

/// Every reason the layer refuses with (for pre-registered metric series).
const GRPC_FAILURE_REASONS: [&str; 5] = [
    "ip_not_allowed",
    "missing_api_key",
    "invalid_api_key",
    "expired_api_key",
    "role_too_low",
];

//! `POST /webhooks/tradingview`: a thin adapter that authenticates the call,
//! turns the TradingView body into a raw signal and hands it to the same
//! [`SignalIntake`] the gRPC surface uses.
//!
//! Status codes: 202 accepted, 200 duplicate, 400 bad payload, 401/403
//! authentication, 413 too large, 415 wrong content type, 429 rate limited
//! (with Retry-After), 503 only when the store is down. A payload that was
//! understood never gets a 5xx otherwise.
//!
//! `POST /telegram/updates` ([`telegram`]) takes the Telegram bot's
//! updates when it is set to receive them by webhook.

pub mod auth;
pub mod telegram;
pub mod tradingview;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Json,
    body::{Body, Bytes, to_bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    api_error::ApiError,
    model::signal::SignalOutcome,
    observe::CallTrace,
    proto_time::now_ms,
    security::{AddressRefusal, Security, tls::PeerAddr},
    signals::{SignalIntake, SubmitError, rejection_error, violation::Field},
};
use auth::{AuthFailure, WebhookAuth};

/// Everything the webhook handler needs.
pub struct WebhookState {
    intake: Arc<SignalIntake>,
    auth: WebhookAuth,
    security: Arc<Security>,
    body_limit: usize,
}

impl WebhookState {
    /// Builds the handler state.
    pub fn new(
        intake: Arc<SignalIntake>,
        auth: WebhookAuth,
        security: Arc<Security>,
        body_limit: usize,
    ) -> Self {
        security.register_failure_reasons("webhook", &AuthFailure::ALL.map(AuthFailure::as_str));
        Self {
            intake,
            auth,
            security,
            body_limit,
        }
    }

    /// Refuses the call; an address refusal was already counted by the
    /// security checks, the others are counted here.
    fn refuse(&self, failure: AuthFailure, ip: IpAddr) -> Response {
        if failure != AuthFailure::IpNotAllowed {
            self.security
                .refuse("webhook", failure.as_str(), "webhook", Some(ip));
        }
        failure.api_error().into_response()
    }
}

/// The peer's address, as the HTTP server recorded it.
fn peer_addr(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The body, at most `limit` bytes of it: 413 when longer, 400 when its
/// framing is broken (a malformed chunk size, a body cut short).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|err| {
        if std::error::Error::source(&err)
            .is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
        {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::InvalidArgument {
                reason: "MALFORMED_BODY".into(),
                message: "the request body is not valid HTTP framing".into(),
                fields: Vec::new(),
            }
        }
    })
}

fn is_accepted_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|media| media == "application/json" || media == "text/plain")
}

/// The TradingView webhook handler.
pub async fn tradingview(State(state): State<Arc<WebhookState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let peer = peer_addr(&parts);
    let trace = parts
        .extensions
        .get::<CallTrace>()
        .cloned()
        .unwrap_or_default();

    let ip = state.auth.client_ip(peer, &parts.headers);
    match state.security.check_webhook_address(ip) {
        Ok(()) => {}
        Err(AddressRefusal::NotAllowed) => return state.refuse(AuthFailure::IpNotAllowed, ip),
        Err(AddressRefusal::RateLimited(retry_after)) => {
            return ApiError::RateLimited {
                scope: "address",
                retry_after,
            }
            .into_response();
        }
    }
    if !is_accepted_content_type(&parts.headers) {
        return ApiError::UnsupportedMediaType {
            message: "send Content-Type: application/json (or text/plain, as TradingView does)",
        }
        .into_response();
    }
    let body = match read_body(body, state.body_limit).await {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let signed = match state.auth.check_signature(&parts.headers, &body) {
        Ok(signed) => signed,
        Err(failure) => return state.refuse(failure, ip),
    };
    let parsed = match tradingview::parse_body(&body) {
        Ok(parsed) => parsed,
        Err(err) => {
            state.intake.count_unreadable("tradingview");
            return ApiError::InvalidArgument {
                reason: "INVALID_JSON".into(),
                message: err.0,
                fields: Vec::new(),
            }
            .into_response();
        }
    };
    if !signed
        && let Err(refusal) = state
            .security
            .webhook_secret
            .check(parsed.passphrase.as_deref(), now_ms())
    {
        return state.refuse(refusal.into(), ip);
    }

    match state
        .intake
        .submit(parsed.signal, trace.traceparent())
        .await
    {
        Ok(submission) => {
            let (status, outcome) = if submission.outcome == SignalOutcome::Duplicate {
                (StatusCode::OK, "duplicate")
            } else {
                (StatusCode::ACCEPTED, "accepted")
            };
            let signal = &submission.signal;
            (status, Json(json!({ "outcome": outcome, "signal_id": signal.id, "symbol": signal.symbol() })))
                .into_response()
        }
        Err(SubmitError::Rejected { signal, violations }) => {
            let extra = serde_json::Map::from_iter([
                ("outcome".to_string(), json!("rejected")),
                ("signal_id".to_string(), json!(signal.id)),
            ]);
            rejection_error(&violations, Field::webhook_name).http_response(extra)
        }
        Err(SubmitError::Store(err)) => {
            let err = ApiError::from(err);
            tracing::error!(error = %err, "webhook signal not stored");
            err.into_response()
        }
    }
}

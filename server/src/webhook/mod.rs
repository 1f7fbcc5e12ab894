//! `POST /webhooks/tradingview`: a thin adapter that authenticates the call,
//! turns the TradingView body into a raw signal and hands it to the same
//! [`SignalIntake`] the gRPC surface uses.
//!
//! Status codes: 202 accepted, 200 duplicate, 400 bad payload, 401/403
//! authentication, 413 too large, 415 wrong content type, 429 rate limited
//! (with Retry-After), 503 only when the store is down. A payload that was
//! understood never gets a 5xx otherwise.

pub mod auth;
pub mod tradingview;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Json,
    body::to_bytes,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tradeplane_api::SignalOutcome;

use crate::{
    api_error::ApiError,
    observe::CallTrace,
    proto_time::now_ms,
    security::{AddressRefusal, Security, tls::PeerAddr},
    signals::{SignalIntake, SubmitError, rejection_error, validate::Field},
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
        let (status, message) = match failure {
            AuthFailure::IpNotAllowed => (
                StatusCode::FORBIDDEN,
                "client address is not on the webhook allowlist",
            ),
            AuthFailure::MissingPassphrase => {
                (StatusCode::UNAUTHORIZED, "the body has no `passphrase`")
            }
            AuthFailure::BadPassphrase => (StatusCode::UNAUTHORIZED, "the `passphrase` is wrong"),
            AuthFailure::BadSignature => (
                StatusCode::UNAUTHORIZED,
                "the X-Signature does not match the body",
            ),
        };
        error_response(status, failure.as_str(), message)
    }
}

fn error_response(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "reason": reason, "message": message } })),
    )
        .into_response()
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
    let peer = parts
        .extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let traceparent = parts
        .extensions
        .get::<CallTrace>()
        .map(|t| t.traceparent.clone())
        .unwrap_or_default();

    let ip = state.auth.client_ip(peer, &parts.headers);
    match state.security.check_webhook_address(ip) {
        Ok(()) => {}
        Err(AddressRefusal::NotAllowed) => return state.refuse(AuthFailure::IpNotAllowed, ip),
        Err(AddressRefusal::RateLimited(retry_after)) => {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("too many requests from this address; retry in {seconds} s"),
            );
            if let Ok(value) = http::HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    }
    if !is_accepted_content_type(&parts.headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json (or text/plain, as TradingView does)",
        );
    }
    let Ok(body) = to_bytes(body, state.body_limit).await else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &format!("the body is larger than {} bytes", state.body_limit),
        );
    };
    let signed = match state.auth.check_signature(&parts.headers, &body) {
        Ok(signed) => signed,
        Err(failure) => return state.refuse(failure, ip),
    };
    let parsed = match tradingview::parse_body(&body) {
        Ok(parsed) => parsed,
        Err(err) => {
            state.intake.count_unreadable("tradingview");
            return error_response(StatusCode::BAD_REQUEST, "invalid_json", &err.0);
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

    match state.intake.submit(parsed.signal, &traceparent).await {
        Ok(submission) => {
            let (status, outcome) = if submission.outcome == SignalOutcome::Duplicate {
                (StatusCode::OK, "duplicate")
            } else {
                (StatusCode::ACCEPTED, "accepted")
            };
            let symbol = submission
                .signal
                .instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default();
            (status, Json(json!({ "outcome": outcome, "signal_id": submission.signal.id, "symbol": symbol })))
                .into_response()
        }
        Err(SubmitError::Rejected { signal, violations }) => {
            let fields: Vec<_> = violations
                .iter()
                .map(|v| json!({ "field": v.field.webhook_name(), "reason": v.reason.as_str(), "description": v.description }))
                .collect();
            let message = rejection_error(&violations, Field::webhook_name).to_string();
            let body = json!({
                "outcome": "rejected",
                "signal_id": signal.id,
                "error": { "reason": signal.reject_reason, "message": message, "field_violations": fields },
            });
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        Err(SubmitError::Store(err)) => {
            let err = ApiError::from(err);
            tracing::error!(error = %err, "webhook signal not stored");
            error_response(
                err.http_status(),
                "store_unavailable",
                "the signal store is unavailable; retry",
            )
        }
    }
}

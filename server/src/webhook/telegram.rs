//! `POST /telegram/updates`: Telegram's webhook for the commands' bot
//! (with `updates = "webhook"`). The `X-Telegram-Bot-Api-Secret-Token`
//! header must carry the configured secret (else 401, counted and audited
//! like the other webhook's failures, surface `telegram`); the body, at
//! most [`BODY_LIMIT`] bytes, must be an update (else 400). An update is
//! answered 200 at once and handled after, by the bot.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};

use super::{auth::WebhookAuth, peer_addr, read_body};
use crate::{
    api_error::ApiError,
    notify::telegram_webhook::{InboxRefusal, SecretRefusal, TelegramInbox},
    security::Security,
};

/// The largest update read: Telegram's are a few kilobytes.
pub const BODY_LIMIT: usize = 256 * 1024;
/// The metric label and audit target of the route's refusals.
const SURFACE: &str = "telegram";

/// The route, when the bot takes its updates by webhook; else nothing.
pub fn router(
    inbox: Option<TelegramInbox>,
    trust_forwarded_for: bool,
    security: Arc<Security>,
) -> Router {
    let Some(inbox) = inbox else {
        return Router::new();
    };
    let route = TelegramRoute::new(inbox, trust_forwarded_for, security);
    Router::new()
        .route("/telegram/updates", post(updates))
        .with_state(Arc::new(route))
}

/// Everything the route needs.
pub struct TelegramRoute {
    inbox: TelegramInbox,
    auth: WebhookAuth,
    security: Arc<Security>,
}

impl TelegramRoute {
    /// The route handing updates to `inbox`; `trust_forwarded_for` as for
    /// the other webhook.
    pub fn new(inbox: TelegramInbox, trust_forwarded_for: bool, security: Arc<Security>) -> Self {
        security.register_failure_reasons(SURFACE, &SecretRefusal::ALL.map(SecretRefusal::as_str));
        Self {
            inbox,
            auth: WebhookAuth::new("", trust_forwarded_for),
            security,
        }
    }
}

/// The webhook handler.
pub async fn updates(State(route): State<Arc<TelegramRoute>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let secret = parts
        .headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes());
    if let Err(refusal) = route.inbox.check_secret(secret) {
        let ip = route.auth.client_ip(peer_addr(&parts), &parts.headers);
        route
            .security
            .refuse(SURFACE, refusal.as_str(), SURFACE, Some(ip));
        let (reason, message) = match refusal {
            SecretRefusal::Missing => {
                ("MISSING_SECRET_TOKEN", "no X-Telegram-Bot-Api-Secret-Token")
            }
            SecretRefusal::Wrong => (
                "BAD_SECRET_TOKEN",
                "the X-Telegram-Bot-Api-Secret-Token is wrong",
            ),
        };
        return ApiError::Unauthenticated {
            reason,
            message: message.into(),
        }
        .into_response();
    }
    let body = match read_body(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    match route.inbox.take(&body) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(InboxRefusal::Unreadable(message)) => ApiError::InvalidArgument {
            reason: "INVALID_JSON".into(),
            message,
            fields: Vec::new(),
        }
        .into_response(),
        Err(InboxRefusal::Full) => ApiError::Overloaded {
            retry_after: std::time::Duration::from_secs(1),
        }
        .into_response(),
    }
}

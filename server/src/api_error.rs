//! Domain errors and the one place they map to gRPC statuses (with
//! `google.rpc` details) and to HTTP responses.

use std::collections::HashMap;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tradeplane_api::UnknownEnum;

pub use tradeplane_api::codec::ERROR_DOMAIN;

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

/// An error any handler can return.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Bad input. `reason` is UPPER_SNAKE_CASE (AIP-193).
    #[error("{message}")]
    InvalidArgument {
        reason: String,
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// No credentials, or credentials that are not valid.
    #[error("{message}")]
    Unauthenticated {
        reason: &'static str,
        message: String,
    },
    /// Valid credentials without the right to do this.
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
    /// Too many requests; try again after `retry_after`.
    #[error("rate limit exceeded for this {scope}; retry in {retry_after:?}")]
    RateLimited {
        scope: &'static str,
        retry_after: std::time::Duration,
    },
    /// More requests in flight than the surface takes at once: shed at
    /// once, to be retried after `retry_after`.
    #[error("the server is at its limit of requests in flight; retry in {retry_after:?}")]
    Overloaded { retry_after: std::time::Duration },
    /// The request is valid but the system is not in a state to do it.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// A retried create whose first attempt already succeeded.
    #[error("{what} `{id}` was already created for this request_id")]
    AlreadyExists { what: &'static str, id: String },
    /// A create whose name another live resource of its kind already has.
    #[error("a {what} named `{name}` already exists")]
    NameTaken { what: &'static str, name: String },
    /// A request body over the size limit.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A request body in a format the endpoint does not read.
    #[error("{message}")]
    UnsupportedMediaType { message: &'static str },
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

/// A request enum number no value has: INVALID_ARGUMENT naming the field.
impl From<UnknownEnum> for ApiError {
    fn from(err: UnknownEnum) -> Self {
        ApiError::invalid_field(
            "UNKNOWN_ENUM_VALUE",
            err.field,
            format!("no value is numbered {}", err.number),
        )
    }
}

impl ApiError {
    /// A single-field INVALID_ARGUMENT.
    pub fn invalid_field(reason: &str, field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        ApiError::InvalidArgument {
            reason: reason.to_string(),
            message: format!("{field}: {description}"),
            fields: vec![FieldError {
                field: field.to_string(),
                description,
            }],
        }
    }

    /// ALREADY_EXISTS for a `what` whose `name` is in use.
    pub fn name_taken(what: &'static str, name: &str) -> Self {
        ApiError::NameTaken {
            what,
            name: name.to_string(),
        }
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::Unauthenticated { .. } => Code::Unauthenticated,
            ApiError::PermissionDenied { .. } => Code::PermissionDenied,
            ApiError::RateLimited { .. } | ApiError::Overloaded { .. } => Code::ResourceExhausted,
            ApiError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ApiError::AlreadyExists { .. } | ApiError::NameTaken { .. } => Code::AlreadyExists,
            ApiError::PayloadTooLarge { .. } => Code::ResourceExhausted,
            ApiError::UnsupportedMediaType { .. } => Code::InvalidArgument,
            ApiError::Unavailable { .. } => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            ApiError::InvalidArgument { .. } => http::StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => http::StatusCode::NOT_FOUND,
            ApiError::Unauthenticated { .. } => http::StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied { .. } => http::StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => http::StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            ApiError::FailedPrecondition { .. } => http::StatusCode::CONFLICT,
            ApiError::AlreadyExists { .. } | ApiError::NameTaken { .. } => {
                http::StatusCode::CONFLICT
            }
            ApiError::PayloadTooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// When to try again, for errors that pass.
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } | ApiError::Overloaded { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// The `ErrorInfo.reason`.
    pub fn reason(&self) -> String {
        match self {
            ApiError::InvalidArgument { reason, .. } => reason.clone(),
            ApiError::NotFound { .. } => "NOT_FOUND".into(),
            ApiError::Unauthenticated { reason, .. }
            | ApiError::PermissionDenied { reason, .. }
            | ApiError::FailedPrecondition { reason, .. } => (*reason).into(),
            ApiError::RateLimited { .. } => "RATE_LIMITED".into(),
            ApiError::Overloaded { .. } => "OVERLOADED".into(),
            ApiError::AlreadyExists { .. } | ApiError::NameTaken { .. } => "ALREADY_EXISTS".into(),
            ApiError::PayloadTooLarge { .. } => "BODY_TOO_LARGE".into(),
            ApiError::UnsupportedMediaType { .. } => "UNSUPPORTED_MEDIA_TYPE".into(),
            ApiError::Unavailable { reason, .. } => (*reason).into(),
            ApiError::Internal(_) => "INTERNAL".into(),
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        match self {
            ApiError::InvalidArgument { fields, .. } => fields
                .first()
                .map(|f| HashMap::from([("field".to_string(), f.field.clone())]))
                .unwrap_or_default(),
            ApiError::NotFound { what, id } | ApiError::AlreadyExists { what, id } => {
                HashMap::from([
                    ("resource".to_string(), (*what).to_string()),
                    ("id".to_string(), id.clone()),
                ])
            }
            ApiError::NameTaken { what, name } => HashMap::from([
                ("resource".to_string(), (*what).to_string()),
                ("name".to_string(), name.clone()),
            ]),
            ApiError::RateLimited { scope, .. } => {
                HashMap::from([("scope".to_string(), (*scope).to_string())])
            }
            _ => HashMap::new(),
        }
    }
}

impl ApiError {
    /// The HTTP answer: [`ApiError::http_status`], a JSON body
    /// `{"error": {"reason", "message", "field_violations"?}}` with the
    /// same reason as the gRPC `ErrorInfo` (plus `extra` top-level
    /// fields), and `Retry-After` when rate limited.
    pub fn http_response(&self, extra: serde_json::Map<String, serde_json::Value>) -> Response {
        let mut error = serde_json::Map::new();
        error.insert("reason".into(), self.reason().into());
        error.insert("message".into(), self.to_string().into());
        if let ApiError::InvalidArgument { fields, .. } = self
            && !fields.is_empty()
        {
            let violations = fields
                .iter()
                .map(|f| serde_json::json!({ "field": f.field, "description": f.description }))
                .collect();
            error.insert(
                "field_violations".into(),
                serde_json::Value::Array(violations),
            );
        }
        let mut body = extra;
        body.insert("error".into(), serde_json::Value::Object(error));
        let mut response = (self.http_status(), Json(body)).into_response();
        if let Some(retry_after) = self.retry_after() {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.http_response(serde_json::Map::new())
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        // The message and details travel in headers: a request's echoed
        // input must not make them too long to send.
        let metadata: HashMap<String, String> = err
            .metadata()
            .into_iter()
            .map(|(key, value)| (key, clip(&value)))
            .collect();
        let mut details = ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, metadata);
        if let ApiError::InvalidArgument { fields, .. } = &err {
            for field in fields {
                details.add_bad_request_violation(clip(&field.field), clip(&field.description));
            }
        }
        if let Some(retry_after) = err.retry_after() {
            details.set_retry_info(Some(retry_after));
        }
        Status::with_error_details(err.code(), clip(&err.to_string()), details)
    }
}

/// The most characters of a text an error answer carries.
const ANSWER_TEXT: usize = 512;

/// `text`, cut to [`ANSWER_TEXT`] characters (marked with `…`).
fn clip(text: &str) -> String {
    match text.char_indices().nth(ANSWER_TEXT) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

impl From<&crate::store::StoreError> for ApiError {
    fn from(err: &crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Unavailable(message) => ApiError::Unavailable {
                reason: "STORE_UNAVAILABLE",
                message: message.clone(),
            },
            crate::store::StoreError::Corrupt(message) => ApiError::Internal(message.clone()),
            err @ (crate::store::StoreError::UnsupportedScheme(_)
            | crate::store::StoreError::Unencodable(_)) => ApiError::Internal(err.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_error_info_and_field_violations() {
        let status = Status::from(ApiError::invalid_field(
            "BAD_SYMBOL",
            "symbol",
            "cannot tell base from quote",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("BAD_SYMBOL", ERROR_DOMAIN)
        );
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "symbol");
    }

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn http_answers_carry_the_grpc_reason_and_status() {
        let err = ApiError::invalid_field("BAD_SYMBOL", "ticker", "cannot tell base from quote");
        let extra = serde_json::Map::from_iter([("outcome".to_string(), "rejected".into())]);
        let response = err.http_response(extra);
        assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
        let body = body_of(response).await;
        assert_eq!(body["outcome"], "rejected");
        assert_eq!(body["error"]["reason"], "BAD_SYMBOL");
        assert_eq!(body["error"]["field_violations"][0]["field"], "ticker");

        let limited = ApiError::RateLimited {
            scope: "address",
            retry_after: std::time::Duration::from_millis(1200),
        }
        .into_response();
        assert_eq!(limited.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[http::header::RETRY_AFTER], "2");
        assert_eq!(body_of(limited).await["error"]["reason"], "RATE_LIMITED");

        let large = ApiError::PayloadTooLarge { limit: 10 }.into_response();
        assert_eq!(large.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let body = body_of(large).await;
        assert_eq!(body["error"]["reason"], "BODY_TOO_LARGE");
        assert!(body["error"].get("field_violations").is_none());
    }
}

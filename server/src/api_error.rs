//! Domain errors and the one place they map to gRPC statuses (with
//! `google.rpc` details) and to HTTP responses.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every tradeplane error.
pub const ERROR_DOMAIN: &str = "tradeplane";

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
    /// The request is valid but the system is not in a state to do it.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// A retried create whose first attempt already succeeded.
    #[error("{what} `{id}` was already created for this request_id")]
    AlreadyExists { what: &'static str, id: String },
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
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

    /// The gRPC code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::Unauthenticated { .. } => Code::Unauthenticated,
            ApiError::PermissionDenied { .. } => Code::PermissionDenied,
            ApiError::RateLimited { .. } => Code::ResourceExhausted,
            ApiError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ApiError::AlreadyExists { .. } => Code::AlreadyExists,
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
            ApiError::FailedPrecondition { .. } => http::StatusCode::CONFLICT,
            ApiError::AlreadyExists { .. } => http::StatusCode::CONFLICT,
            ApiError::Unavailable { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
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
            ApiError::AlreadyExists { .. } => "ALREADY_EXISTS".into(),
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
            ApiError::RateLimited { scope, .. } => {
                HashMap::from([("scope".to_string(), (*scope).to_string())])
            }
            _ => HashMap::new(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let mut details = ErrorDetails::with_error_info(err.reason(), ERROR_DOMAIN, err.metadata());
        if let ApiError::InvalidArgument { fields, .. } = &err {
            for field in fields {
                details.add_bad_request_violation(field.field.clone(), field.description.clone());
            }
        }
        if let ApiError::RateLimited { retry_after, .. } = &err {
            details.set_retry_info(Some(*retry_after));
        }
        Status::with_error_details(err.code(), err.to_string(), details)
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
}

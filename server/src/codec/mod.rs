//! The one conversion between the domain models and protobuf. The gRPC
//! services use it at the edge, and the store uses it for the bodies it
//! keeps. A wire value the model cannot hold (an enum number no value has,
//! a missing required field, a decimal that does not parse) is an error
//! naming the field, never a guess.

pub mod approval;
pub mod enums;
pub mod execution;
pub mod instrument;
pub mod order;
pub mod signal;

use rust_decimal::Decimal;
use tradeplane_api::UnknownEnum;

use crate::proto_time::{ms_to_timestamp, timestamp_ms};

/// A protobuf value the domain model cannot hold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    UnknownEnum(#[from] UnknownEnum),
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field}: `{text}` is not a decimal")]
    Decimal { field: &'static str, text: String },
    #[error("{field} is negative")]
    Negative { field: &'static str },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// A required decimal field.
pub fn decimal(text: &str, field: &'static str) -> Result<Decimal, CodecError> {
    optional_decimal(text, field)?.ok_or(CodecError::Missing { field })
}

/// A decimal field that may be empty.
pub fn optional_decimal(text: &str, field: &'static str) -> Result<Option<Decimal>, CodecError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| CodecError::Decimal {
        field,
        text: text.chars().take(40).collect(),
    })
}

/// A decimal as wire text, without trailing zeros.
pub fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// An optional decimal as wire text (empty for none).
pub fn optional_text(value: Option<Decimal>) -> String {
    value.map(decimal_text).unwrap_or_default()
}

/// Milliseconds since the epoch as a timestamp.
pub fn timestamp(ms: i64) -> Option<prost_types::Timestamp> {
    Some(ms_to_timestamp(ms))
}

/// A timestamp as milliseconds since the epoch (0 when unset).
pub fn millis(timestamp: Option<&prost_types::Timestamp>) -> i64 {
    timestamp.map(timestamp_ms).unwrap_or_default()
}

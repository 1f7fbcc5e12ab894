//! The order desk's errors, and the one place they become [`ApiError`]s
//! (with the `ErrorInfo` reasons clients see).

use std::fmt;

use super::exchanges::ExchangeError;
use crate::{api_error::ApiError, store::StoreError};

/// What is wrong with a field of an order request (an `ErrorInfo`
/// reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    UnknownExchange,
    UnknownAccount,
    BadSymbol,
    InvalidSide,
    InvalidType,
    InvalidTimeInForce,
    InvalidDecimal,
    NotPositive,
    MissingQuantity,
    MissingPrice,
    MissingStopPrice,
    QuantityBelowLot,
    UnsupportedInstrument,
    RequestIdReused,
    /// A trailing delta on an order or a venue that cannot trail it.
    UnsupportedTrailingDelta,
    /// Exits attached to an entry at a venue that does not attach them.
    UnsupportedAttachedExits,
}

impl InvalidReason {
    /// The UPPER_SNAKE_CASE `ErrorInfo.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::UnknownExchange => "UNKNOWN_EXCHANGE",
            InvalidReason::UnknownAccount => "UNKNOWN_ACCOUNT",
            InvalidReason::BadSymbol => "BAD_SYMBOL",
            InvalidReason::InvalidSide => "INVALID_SIDE",
            InvalidReason::InvalidType => "INVALID_TYPE",
            InvalidReason::InvalidTimeInForce => "INVALID_TIME_IN_FORCE",
            InvalidReason::InvalidDecimal => "INVALID_DECIMAL",
            InvalidReason::NotPositive => "NOT_POSITIVE",
            InvalidReason::MissingQuantity => "MISSING_QUANTITY",
            InvalidReason::MissingPrice => "MISSING_PRICE",
            InvalidReason::MissingStopPrice => "MISSING_STOP_PRICE",
            InvalidReason::QuantityBelowLot => "QUANTITY_BELOW_LOT",
            InvalidReason::UnsupportedInstrument => "UNSUPPORTED_INSTRUMENT",
            InvalidReason::RequestIdReused => "REQUEST_ID_REUSED",
            InvalidReason::UnsupportedTrailingDelta => "UNSUPPORTED_TRAILING_DELTA",
            InvalidReason::UnsupportedAttachedExits => "UNSUPPORTED_ATTACHED_EXITS",
        }
    }
}

/// Why the desk did not place an order.
#[derive(Debug)]
pub enum PlaceError {
    /// Trading is halted.
    Halted,
    /// The exchange's circuit breaker is open.
    CircuitOpen { exchange: String },
    /// A field of the request is wrong.
    Invalid {
        reason: InvalidReason,
        field: &'static str,
        description: String,
    },
    /// The exchange refused or could not be reached before the order was
    /// recorded.
    Exchange(ExchangeError),
    /// The store could not record the order.
    Store(StoreError),
}

impl PlaceError {
    /// A bad field.
    pub fn invalid(
        reason: InvalidReason,
        field: &'static str,
        description: impl Into<String>,
    ) -> Self {
        PlaceError::Invalid {
            reason,
            field,
            description: description.into(),
        }
    }

    /// The API error this is: the one mapping of desk errors.
    fn to_api(&self) -> ApiError {
        match self {
            PlaceError::Halted => ApiError::FailedPrecondition {
                reason: "TRADING_HALTED",
                message: "trading is halted; no order leaves the process until an admin resumes it"
                    .into(),
            },
            PlaceError::CircuitOpen { exchange } => ApiError::Unavailable {
                reason: "CIRCUIT_OPEN",
                message: format!(
                    "the circuit breaker of `{exchange}` is open; orders fail fast until it closes"
                ),
            },
            PlaceError::Invalid {
                reason,
                field,
                description,
            } => ApiError::invalid_field(reason.as_str(), field, description.clone()),
            PlaceError::Exchange(err) => exchange_api_error(err),
            PlaceError::Store(err) => ApiError::from(err),
        }
    }
}

/// Why the desk could not find, list or cancel orders.
#[derive(Debug)]
pub enum OrderError {
    /// No order with this id.
    NotFound { id: String },
    /// No exchange with this name.
    NoExchange { name: String },
    /// The exchange has no account with this name.
    NoAccount { exchange: String, account: String },
    /// The order is closed (`status` is its lowercase status word).
    NotOpen { id: String, status: String },
    /// The exchange refused or could not be reached.
    Exchange(ExchangeError),
    /// The store failed.
    Store(StoreError),
}

impl OrderError {
    /// The API error this is: the one mapping of desk errors.
    fn to_api(&self) -> ApiError {
        match self {
            OrderError::NotFound { id } => ApiError::NotFound {
                what: "order",
                id: id.clone(),
            },
            OrderError::NoExchange { name } => ApiError::NotFound {
                what: "exchange",
                id: name.clone(),
            },
            OrderError::NoAccount { exchange, account } => ApiError::invalid_field(
                InvalidReason::UnknownAccount.as_str(),
                "account",
                format!("`{exchange}` has no account named `{account}`"),
            ),
            OrderError::NotOpen { id, status } => ApiError::FailedPrecondition {
                reason: "ORDER_NOT_OPEN",
                message: format!("order `{id}` is {status} and cannot be canceled"),
            },
            OrderError::Exchange(err) => exchange_api_error(err),
            OrderError::Store(err) => ApiError::from(err),
        }
    }
}

/// How an exchange's answer reads to API clients.
fn exchange_api_error(err: &ExchangeError) -> ApiError {
    match err {
        ExchangeError::Rejected(message) => ApiError::FailedPrecondition {
            reason: "EXCHANGE_REJECTED",
            message: message.clone(),
        },
        ExchangeError::NotFound => ApiError::NotFound {
            what: "exchange order",
            id: String::new(),
        },
        ExchangeError::UnknownSymbol(symbol) => ApiError::invalid_field(
            "UNKNOWN_SYMBOL",
            "symbol",
            format!("`{symbol}` is not traded there"),
        ),
        ExchangeError::Unknown(message) | ExchangeError::Unavailable(message) => {
            ApiError::Unavailable {
                reason: "EXCHANGE_UNAVAILABLE",
                message: message.clone(),
            }
        }
        ExchangeError::Banned(message) => ApiError::Unavailable {
            reason: "EXCHANGE_BANNED",
            message: message.clone(),
        },
    }
}

macro_rules! api_mapped {
    ($error:ty) => {
        impl From<$error> for ApiError {
            fn from(err: $error) -> Self {
                err.to_api()
            }
        }

        impl From<StoreError> for $error {
            fn from(err: StoreError) -> Self {
                <$error>::Store(err)
            }
        }

        impl fmt::Display for $error {
            /// Reads as the API error it maps to.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.to_api().fmt(f)
            }
        }

        impl std::error::Error for $error {}

        impl From<$error> for tonic::Status {
            fn from(err: $error) -> Self {
                ApiError::from(err).into()
            }
        }
    };
}

api_mapped!(PlaceError);
api_mapped!(OrderError);

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn api(err: impl Into<ApiError>) -> (Code, String) {
        let err = err.into();
        (err.code(), err.reason())
    }

    #[test]
    fn desk_errors_keep_their_error_info_reasons() {
        let cases = [
            (
                api(PlaceError::Halted),
                (Code::FailedPrecondition, "TRADING_HALTED"),
            ),
            (
                api(PlaceError::CircuitOpen {
                    exchange: "paper".into(),
                }),
                (Code::Unavailable, "CIRCUIT_OPEN"),
            ),
            (
                api(PlaceError::invalid(
                    InvalidReason::MissingPrice,
                    "price",
                    "needed",
                )),
                (Code::InvalidArgument, "MISSING_PRICE"),
            ),
            (
                api(PlaceError::Exchange(ExchangeError::Banned("418".into()))),
                (Code::Unavailable, "EXCHANGE_BANNED"),
            ),
            (
                api(PlaceError::Store(StoreError::Unavailable("down".into()))),
                (Code::Unavailable, "STORE_UNAVAILABLE"),
            ),
            (
                api(OrderError::NotOpen {
                    id: "o".into(),
                    status: "filled".into(),
                }),
                (Code::FailedPrecondition, "ORDER_NOT_OPEN"),
            ),
            (
                api(OrderError::Exchange(ExchangeError::UnknownSymbol(
                    "X".into(),
                ))),
                (Code::InvalidArgument, "UNKNOWN_SYMBOL"),
            ),
            (
                api(OrderError::NotFound { id: "o".into() }),
                (Code::NotFound, "NOT_FOUND"),
            ),
        ];
        for (got, (code, reason)) in cases {
            assert_eq!(got, (code, reason.to_string()));
        }
    }

    #[test]
    fn desk_errors_read_as_their_api_errors() {
        let err = PlaceError::CircuitOpen {
            exchange: "binance".into(),
        };
        assert_eq!(
            err.to_string(),
            "the circuit breaker of `binance` is open; orders fail fast until it closes"
        );
        let err = OrderError::Exchange(ExchangeError::Rejected("no funds".into()));
        assert_eq!(err.to_string(), "no funds");
    }
}

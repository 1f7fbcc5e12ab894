//! What can be wrong with a signal: the field it names, in each surface's
//! words, and the reason, from a closed, low-cardinality set.

/// Fields a violation can name, in request order. Each surface names them
/// in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    RequestId,
    Source,
    Strategy,
    Symbol,
    Exchange,
    Action,
    Quantity,
    Price,
    Confidence,
    MarketPosition,
    PositionSize,
    Sentiment,
    ExitPercent,
    OrderType,
    LimitPrice,
    StopLoss,
    TakeProfit,
    OrderId,
    Comment,
    Interval,
    EventTime,
    Tags,
    Body,
}

impl Field {
    /// The field's name in `SubmitSignalRequest`.
    pub fn grpc_name(self) -> &'static str {
        match self {
            Field::RequestId => "request_id",
            Field::Source => "source",
            Field::Strategy => "strategy",
            Field::Symbol => "symbol",
            Field::Exchange => "exchange",
            Field::Action => "action",
            Field::Quantity => "quantity",
            Field::Price => "price",
            Field::Confidence => "confidence",
            Field::MarketPosition => "market_position",
            Field::PositionSize => "position_size",
            Field::Sentiment => "sentiment",
            Field::ExitPercent => "exit_percent",
            Field::OrderType => "overrides.order_type",
            Field::LimitPrice => "overrides.limit_price",
            Field::StopLoss => "overrides.stop_loss",
            Field::TakeProfit => "overrides.take_profit",
            Field::OrderId => "order_id",
            Field::Comment => "comment",
            Field::Interval => "interval",
            Field::EventTime => "event_time",
            Field::Tags => "tags",
            Field::Body => "body",
        }
    }

    /// The field's name in the TradingView message template.
    pub fn webhook_name(self) -> &'static str {
        match self {
            Field::Symbol => "ticker",
            Field::Quantity => "contracts",
            Field::EventTime => "time",
            Field::ExitPercent => "percent",
            Field::OrderType => "order_type",
            Field::LimitPrice => "limit_price",
            Field::StopLoss => "stop_loss",
            Field::TakeProfit => "take_profit",
            other => other.grpc_name(),
        }
    }
}

/// Why a signal was rejected: a closed, low-cardinality set (metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidJson,
    MissingField,
    BadSymbol,
    UnknownAction,
    NotANumber,
    NonPositivePrice,
    NonPositiveQuantity,
    QuantityOutOfRange,
    ConfidenceOutOfRange,
    LowConfidence,
    BadPosition,
    PositionMismatch,
    BadTimestamp,
    Stale,
    FutureTimestamp,
    PriceDeviation,
    FieldTooLong,
    /// An exit percent outside (0, 100], or on an action that closes nothing.
    BadPercent,
    /// An alert override that contradicts the alert: on an action that
    /// opens nothing, a limit price without a limit order type (or the
    /// other way), an unknown order type, or a stop or target on the wrong
    /// side of the alert's price.
    BadOverride,
}

impl RejectReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [RejectReason; 19] = [
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::BadSymbol,
        RejectReason::UnknownAction,
        RejectReason::NotANumber,
        RejectReason::NonPositivePrice,
        RejectReason::NonPositiveQuantity,
        RejectReason::QuantityOutOfRange,
        RejectReason::ConfidenceOutOfRange,
        RejectReason::LowConfidence,
        RejectReason::BadPosition,
        RejectReason::PositionMismatch,
        RejectReason::BadTimestamp,
        RejectReason::Stale,
        RejectReason::FutureTimestamp,
        RejectReason::PriceDeviation,
        RejectReason::FieldTooLong,
        RejectReason::BadPercent,
        RejectReason::BadOverride,
    ];

    /// Lowercase label, as in metrics and stored signals.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::BadSymbol => "bad_symbol",
            RejectReason::UnknownAction => "unknown_action",
            RejectReason::NotANumber => "not_a_number",
            RejectReason::NonPositivePrice => "non_positive_price",
            RejectReason::NonPositiveQuantity => "non_positive_quantity",
            RejectReason::QuantityOutOfRange => "quantity_out_of_range",
            RejectReason::ConfidenceOutOfRange => "confidence_out_of_range",
            RejectReason::LowConfidence => "low_confidence",
            RejectReason::BadPosition => "bad_position",
            RejectReason::PositionMismatch => "position_mismatch",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::Stale => "stale",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::PriceDeviation => "price_deviation",
            RejectReason::FieldTooLong => "field_too_long",
            RejectReason::BadPercent => "bad_percent",
            RejectReason::BadOverride => "bad_override",
        }
    }
}

/// One thing wrong with a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub field: Field,
    pub reason: RejectReason,
    pub description: String,
}

impl Violation {
    /// Builds a violation.
    pub fn new(field: Field, reason: RejectReason, description: impl Into<String>) -> Self {
        Self {
            field,
            reason,
            description: description.into(),
        }
    }
}

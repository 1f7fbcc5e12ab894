//! The one signal validator. gRPC requests and TradingView bodies are both
//! turned into a [`RawSignal`]; this module turns that into a normalized
//! [`Intent`] or a list of [`Violation`]s from a closed set of reasons.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tradeplane_api::limits::exceeds;

use super::violation::{Field, RejectReason, Violation};
use super::{
    config::SignalsConfig,
    overrides::{self, RawOverrides},
    strategy,
};
use crate::{
    market::{decimal::parse_decimal, symbol::SymbolNormalizer},
    model::signal::{Intent, SignalAction},
};

/// A signal as a producer stated it: every value still text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSignal {
    pub request_id: String,
    pub source: String,
    pub strategy: String,
    pub symbol: String,
    pub exchange: String,
    pub action: String,
    pub quantity: String,
    pub price: String,
    pub confidence: String,
    pub market_position: String,
    pub position_size: String,
    /// Pine's alert `sentiment` (`long`, `short`, `flat`); webhook only.
    pub sentiment: String,
    /// The share of the position an exit closes (`percent` in the
    /// TradingView body).
    pub exit_percent: String,
    /// Overrides of the pipeline's order (entry actions only).
    pub overrides: RawOverrides,
    pub order_id: String,
    pub comment: String,
    pub interval: String,
    pub event_time: RawTime,
    pub tags: BTreeMap<String, String>,
}

/// An event time as it arrived.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawTime {
    #[default]
    Absent,
    /// Already typed (gRPC `google.protobuf.Timestamp`).
    At(DateTime<Utc>),
    /// Text (TradingView `{{timenow}}`, RFC 3339 or Unix seconds/millis).
    Text(String),
}

/// Longest accepted text for free-form fields, in characters (as the
/// proto's limits count them).
const MAX_TEXT: usize = 256;
const MAX_COMMENT: usize = 1024;
const MAX_TAGS: usize = 32;

/// Validates and normalizes `raw`. `last_price` gives the last accepted
/// price of an instrument, for the deviation check.
pub fn validate(
    raw: &RawSignal,
    normalizer: &SymbolNormalizer,
    config: &SignalsConfig,
    now: DateTime<Utc>,
    last_price: impl Fn(&str) -> Option<Decimal>,
) -> Result<Intent, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut fail = |field, reason, description: String| {
        violations.push(Violation::new(field, reason, description));
    };

    for (field, text, limit) in [
        (Field::RequestId, &raw.request_id, MAX_TEXT),
        (Field::Source, &raw.source, 64),
        (Field::Strategy, &raw.strategy, MAX_TEXT),
        (Field::Exchange, &raw.exchange, 64),
        (Field::OrderId, &raw.order_id, MAX_TEXT),
        (Field::Comment, &raw.comment, MAX_COMMENT),
        (Field::Interval, &raw.interval, 32),
    ] {
        if exceeds(text, limit) {
            fail(
                field,
                RejectReason::FieldTooLong,
                format!("longer than {limit} characters"),
            );
        }
    }
    if raw.tags.len() > MAX_TAGS
        || raw
            .tags
            .iter()
            .any(|(k, v)| exceeds(k, 64) || exceeds(v, MAX_TEXT))
    {
        fail(
            Field::Tags,
            RejectReason::FieldTooLong,
            format!(
                "at most {MAX_TAGS} tags, keys up to 64 and values up to {MAX_TEXT} characters"
            ),
        );
    }

    let instrument = if raw.symbol.trim().is_empty() {
        fail(
            Field::Symbol,
            RejectReason::MissingField,
            "is required".into(),
        );
        None
    } else {
        normalizer
            .normalize(&raw.symbol, &raw.exchange)
            .map_err(|why| fail(Field::Symbol, RejectReason::BadSymbol, why))
            .ok()
    };

    let action = if raw.action.trim().is_empty() {
        fail(
            Field::Action,
            RejectReason::MissingField,
            format!("is required: one of {}", SignalAction::WORDS),
        );
        None
    } else {
        let named = SignalAction::named(&raw.action);
        if named.is_none() {
            let shown: String = raw.action.trim().chars().take(32).collect();
            fail(
                Field::Action,
                RejectReason::UnknownAction,
                format!("`{shown}` is not one of {}", SignalAction::WORDS),
            );
        }
        named
    };

    let mut number = |field: Field, text: &str| -> Option<Decimal> {
        if text.trim().is_empty() {
            return None;
        }
        parse_decimal(text)
            .map_err(|why| fail(field, RejectReason::NotANumber, why))
            .ok()
    };
    let quantity = number(Field::Quantity, &raw.quantity);
    let price = number(Field::Price, &raw.price);
    let confidence = number(Field::Confidence, &raw.confidence);
    let position_size = number(Field::PositionSize, &raw.position_size);
    let exit_percent = number(Field::ExitPercent, &raw.exit_percent);

    // An exit, a one-sided close or a cancel may carry 0 contracts
    // ("close everything", "nothing to trade").
    let sizes_nothing = matches!(
        action,
        Some(
            SignalAction::Exit
                | SignalAction::CloseLong
                | SignalAction::CloseShort
                | SignalAction::Cancel
        )
    );
    let quantity = match quantity {
        Some(q) if sizes_nothing && q.is_zero() => None,
        Some(q) if q <= Decimal::ZERO => {
            fail(
                Field::Quantity,
                RejectReason::NonPositiveQuantity,
                format!("must be positive, got {q}"),
            );
            None
        }
        Some(q) if q > config.max_quantity => {
            fail(
                Field::Quantity,
                RejectReason::QuantityOutOfRange,
                format!("{q} is above the limit of {}", config.max_quantity),
            );
            None
        }
        q => q,
    };
    if let Some(p) = price
        && p <= Decimal::ZERO
    {
        fail(
            Field::Price,
            RejectReason::NonPositivePrice,
            format!("must be positive, got {p}"),
        );
    }
    if let Some(c) = confidence {
        if c < Decimal::ZERO || c > Decimal::ONE {
            fail(
                Field::Confidence,
                RejectReason::ConfidenceOutOfRange,
                format!("must be between 0 and 1, got {c}"),
            );
        } else if c < config.min_confidence {
            fail(
                Field::Confidence,
                RejectReason::LowConfidence,
                format!("{c} is below the minimum of {}", config.min_confidence),
            );
        }
    }

    let stated = strategy::stated_position(&raw.market_position, &raw.sentiment, position_size)
        .map_err(|found| violations_of(found, &mut fail))
        .ok()
        .flatten();
    let (action, target_position) = match action.map(|a| strategy::resolve(a, stated)) {
        Some(Ok((action, target))) => (Some(action), target),
        Some(Err(violation)) => {
            violations_of(vec![violation], &mut fail);
            (None, None)
        }
        None => (None, None),
    };
    if action == Some(SignalAction::TargetPosition) && target_position.is_none() {
        fail(
            Field::MarketPosition,
            RejectReason::MissingField,
            "a target action needs market_position and position_size".into(),
        );
    }

    if let (Some(percent), Some(action)) = (exit_percent, action)
        && let Err(why) = check_exit_percent(percent, action)
    {
        fail(Field::ExitPercent, RejectReason::BadPercent, why);
    }
    let overrides = overrides::check(&raw.overrides, action, price, &mut fail);

    let event_time = match &raw.event_time {
        RawTime::Absent => None,
        RawTime::At(at) => Some(*at),
        RawTime::Text(text) if text.trim().is_empty() => None,
        RawTime::Text(text) => parse_time(text)
            .map_err(|why| fail(Field::EventTime, RejectReason::BadTimestamp, why))
            .ok(),
    };
    if let Some(at) = event_time {
        let age = now.signed_duration_since(at);
        let max_age = chrono::Duration::from_std(config.max_age).unwrap_or(chrono::Duration::MAX);
        let max_skew =
            chrono::Duration::from_std(config.max_future_skew).unwrap_or(chrono::Duration::MAX);
        if age > max_age {
            fail(
                Field::EventTime,
                RejectReason::Stale,
                format!(
                    "{}s old; the limit is {}s",
                    age.num_seconds(),
                    max_age.num_seconds()
                ),
            );
        } else if -age > max_skew {
            fail(
                Field::EventTime,
                RejectReason::FutureTimestamp,
                format!(
                    "{}s in the future; the limit is {}s",
                    (-age).num_seconds(),
                    max_skew.num_seconds()
                ),
            );
        }
    }

    if let (Some(instrument), Some(p)) = (&instrument, price)
        && p > Decimal::ZERO
        && !config.max_price_deviation_pct.is_zero()
        && let Some(last) = last_price(&instrument.symbol)
        && !last.is_zero()
    {
        let deviation = ((p - last) / last).abs() * Decimal::ONE_HUNDRED;
        if deviation > config.max_price_deviation_pct {
            fail(
                Field::Price,
                RejectReason::PriceDeviation,
                format!(
                    "{p} is {}% away from the last price {last}; the limit is {}%",
                    deviation.round_dp(2),
                    config.max_price_deviation_pct
                ),
            );
        }
    }

    match (instrument, action) {
        (Some(instrument), Some(action)) if violations.is_empty() => Ok(Intent {
            instrument,
            action,
            quantity,
            price,
            confidence,
            target_position,
            strategy_position: stated.map(|s| s.position),
            event_time_ms: event_time.map(|at| at.timestamp_millis()),
            exit_percent,
            overrides,
        }),
        _ => {
            violations.sort_by_key(|v| v.field);
            Err(violations)
        }
    }
}

/// An exit percent is a share of the position in (0, 100], and only an
/// action that closes a position takes one.
fn check_exit_percent(percent: Decimal, action: SignalAction) -> Result<(), String> {
    if !matches!(
        action,
        SignalAction::Exit | SignalAction::CloseLong | SignalAction::CloseShort
    ) {
        return Err(format!(
            "only exit, close_long and close_short close a percent of the position, not {action}"
        ));
    }
    if percent <= Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
        return Err(format!("must be above 0 and at most 100, got {percent}"));
    }
    Ok(())
}

/// Reports each of `found` through `fail`.
fn violations_of(found: Vec<Violation>, fail: &mut impl FnMut(Field, RejectReason, String)) {
    for violation in found {
        fail(violation.field, violation.reason, violation.description);
    }
}

/// Parses RFC 3339 (`2024-05-01T12:00:00Z`, TradingView's `{{timenow}}`) or
/// Unix seconds / milliseconds.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.contains("{{") {
        return Err(format!(
            "`{text}` is a TradingView placeholder that was not filled in"
        ));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(number) = text.parse::<i64>() {
        // Anything past year 2286 in seconds is taken as milliseconds.
        let at = if number.abs() >= 10_000_000_000 {
            DateTime::from_timestamp_millis(number)
        } else {
            DateTime::from_timestamp(number, 0)
        };
        return at.ok_or_else(|| format!("`{text}` is out of range"));
    }
    let shown: String = text.chars().take(40).collect();
    Err(format!(
        "`{shown}` is not an RFC 3339 time or Unix timestamp"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(symbol: &str, action: &str) -> RawSignal {
        RawSignal {
            symbol: symbol.into(),
            action: action.into(),
            ..Default::default()
        }
    }

    fn check(raw: &RawSignal) -> Result<Intent, Vec<Violation>> {
        validate(
            raw,
            &SymbolNormalizer::default(),
            &SignalsConfig::default(),
            Utc::now(),
            |_| None,
        )
    }

    fn reasons(raw: &RawSignal) -> Vec<(Field, RejectReason)> {
        check(raw)
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.reason))
            .collect()
    }

    #[test]
    fn a_plain_buy_is_valid() {
        let mut signal = raw("BINANCE:BTCUSDT", "BUY");
        signal.quantity = "0.5".into();
        signal.price = "65000.5".into();
        let valid = check(&signal).unwrap();
        assert_eq!(valid.action, SignalAction::Buy);
        assert_eq!(valid.instrument.symbol, "BTC/USDT");
        assert_eq!(valid.quantity.unwrap().to_string(), "0.5");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut signal = raw("", "hold");
        signal.price = "-1".into();
        signal.quantity = "abc".into();
        signal.confidence = "1.5".into();
        let got = reasons(&signal);
        assert!(got.contains(&(Field::Symbol, RejectReason::MissingField)));
        assert!(got.contains(&(Field::Action, RejectReason::UnknownAction)));
        assert!(got.contains(&(Field::Price, RejectReason::NonPositivePrice)));
        assert!(got.contains(&(Field::Quantity, RejectReason::NotANumber)));
        assert!(got.contains(&(Field::Confidence, RejectReason::ConfidenceOutOfRange)));
    }

    #[test]
    fn text_limits_count_characters_as_the_proto_documents() {
        let mut signal = raw("BTCUSDT", "buy");
        // 1,024 two-byte characters: 2,048 bytes, within the limit.
        signal.comment = "é".repeat(MAX_COMMENT);
        assert!(check(&signal).is_ok());
        signal.comment.push('é');
        assert_eq!(
            reasons(&signal),
            vec![(Field::Comment, RejectReason::FieldTooLong)]
        );
    }

    #[test]
    fn exit_percent_is_a_share_of_a_closing_action() {
        let exit = |action: &str, percent: &str| RawSignal {
            exit_percent: percent.into(),
            ..raw("BTCUSDT", action)
        };
        let accepted = check(&exit("exit", "50")).unwrap();
        assert_eq!(
            accepted.exit_percent,
            Some(Decimal::ONE_HUNDRED / Decimal::TWO)
        );
        assert!(check(&exit("close_long", "100")).is_ok());
        assert!(check(&exit("close_short", "0.5")).is_ok());
        assert_eq!(check(&raw("BTCUSDT", "exit")).unwrap().exit_percent, None);
        let bad = vec![(Field::ExitPercent, RejectReason::BadPercent)];
        for percent in ["0", "-5", "100.01", "250"] {
            assert_eq!(reasons(&exit("exit", percent)), bad, "{percent}");
        }
        assert_eq!(reasons(&exit("buy", "50")), bad);
        assert_eq!(
            reasons(&exit("exit", "half")),
            vec![(Field::ExitPercent, RejectReason::NotANumber)]
        );
        assert_eq!(Field::ExitPercent.webhook_name(), "percent");
    }

    #[test]
    fn quantity_limits() {
        let mut signal = raw("BTCUSDT", "buy");
        signal.quantity = "0".into();
        assert_eq!(
            reasons(&signal),
            vec![(Field::Quantity, RejectReason::NonPositiveQuantity)]
        );
        signal.quantity = "99999999999".into();
        assert_eq!(
            reasons(&signal),
            vec![(Field::Quantity, RejectReason::QuantityOutOfRange)]
        );
        for action in ["flat", "close_long", "close_short", "cancel"] {
            let mut exit = raw("BTCUSDT", action);
            exit.quantity = "0".into();
            assert_eq!(check(&exit).unwrap().quantity, None, "{action}");
        }
    }

    #[test]
    fn confidence_threshold() {
        let config = SignalsConfig {
            min_confidence: Decimal::new(6, 1),
            ..Default::default()
        };
        let mut signal = raw("BTCUSDT", "buy");
        signal.confidence = "0.5".into();
        let err = validate(
            &signal,
            &SymbolNormalizer::default(),
            &config,
            Utc::now(),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(err[0].reason, RejectReason::LowConfidence);
    }

    #[test]
    fn time_checks() {
        let now = Utc::now();
        let mut signal = raw("BTCUSDT", "buy");
        signal.event_time = RawTime::At(now - chrono::Duration::hours(1));
        assert_eq!(
            reasons(&signal),
            vec![(Field::EventTime, RejectReason::Stale)]
        );
        signal.event_time = RawTime::At(now + chrono::Duration::hours(1));
        assert_eq!(
            reasons(&signal),
            vec![(Field::EventTime, RejectReason::FutureTimestamp)]
        );
        signal.event_time = RawTime::Text("yesterday".into());
        assert_eq!(
            reasons(&signal),
            vec![(Field::EventTime, RejectReason::BadTimestamp)]
        );
        signal.event_time = RawTime::Text(now.to_rfc3339());
        assert!(check(&signal).is_ok());
        signal.event_time = RawTime::Text(now.timestamp_millis().to_string());
        assert!(check(&signal).is_ok());
    }

    #[test]
    fn price_deviation_against_the_last_price() {
        let mut signal = raw("BTCUSDT", "buy");
        signal.price = "130".into();
        let last = |_: &str| Some(Decimal::from(100));
        let err = validate(
            &signal,
            &SymbolNormalizer::default(),
            &SignalsConfig::default(),
            Utc::now(),
            last,
        )
        .unwrap_err();
        assert_eq!(err[0].reason, RejectReason::PriceDeviation);
        signal.price = "110".into();
        assert!(
            validate(
                &signal,
                &SymbolNormalizer::default(),
                &SignalsConfig::default(),
                Utc::now(),
                last
            )
            .is_ok()
        );
    }

    #[test]
    fn target_positions() {
        let mut signal = raw("BTCUSDT", "sell");
        signal.market_position = "short".into();
        signal.position_size = "2".into();
        assert_eq!(
            check(&signal).unwrap().target_position,
            Some(Decimal::from(-2))
        );
        signal.market_position = "flat".into();
        signal.position_size = "0".into();
        let flat = check(&signal).unwrap();
        assert_eq!(
            (flat.action, flat.target_position),
            (SignalAction::Exit, Some(Decimal::ZERO))
        );
        signal.position_size = "2".into();
        assert_eq!(
            reasons(&signal),
            vec![(Field::PositionSize, RejectReason::PositionMismatch)]
        );
        signal.market_position = "sideways".into();
        assert_eq!(
            reasons(&signal),
            vec![(Field::MarketPosition, RejectReason::BadPosition)]
        );
        let target = raw("BTCUSDT", "target");
        assert_eq!(
            reasons(&target),
            vec![(Field::MarketPosition, RejectReason::MissingField)]
        );
    }
}

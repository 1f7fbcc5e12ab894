//! TradingView strategy semantics: the position a strategy states with its
//! order (`{{strategy.market_position}}`, `{{strategy.position_size}}`, or
//! Pine's alert `sentiment`), read together with the order's action
//! (`{{strategy.order.action}}`). The README's TradingView section has the
//! mapping as a table.
//!
//! The rules:
//! - `buy` or `sell` that leaves the strategy `flat` is an exit.
//! - `buy` or `sell` with `long`/`short` and a size keeps its action and
//!   carries the signed size as its target: the pipeline trades toward it,
//!   but only in the alert's direction (a sell alert never buys). That
//!   covers entries, adds, reversals (`sell` + `short`), partial exits
//!   (`sell` + `long` with a smaller size) and partial covers (`buy` +
//!   `short`).
//! - Contradictions are refused with `position_mismatch`, naming the
//!   field: `market_position` and `sentiment` disagreeing; a flat strategy
//!   with a size; a long or short one with size 0; a long one with a
//!   negative size; `buy` leaving the strategy short (or `sell` leaving it
//!   long) without a size, since nothing says how much is left; `exit`,
//!   `close_long` or `close_short` while the strategy says it still holds
//!   a position; `add` or `reverse` while it says it is flat.
//! - An unknown word is `bad_position` naming its field.

use rust_decimal::Decimal;

use super::violation::{Field, RejectReason, Violation};
use crate::model::signal::{MarketPosition, SignalAction, StrategyPosition};

/// A position the strategy stated, and the field that stated it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stated {
    pub position: StrategyPosition,
    /// `market_position`, or `sentiment` when only that was sent.
    pub field: Field,
}

/// Reads the stated position from `market_position` and `sentiment` (in
/// any case) and the already parsed `size`. `None` when neither word was
/// sent.
pub fn stated_position(
    market_position: &str,
    sentiment: &str,
    size: Option<Decimal>,
) -> Result<Option<Stated>, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut word = |field: Field, text: &str| {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let named = MarketPosition::named(text);
        if named.is_none() {
            let shown: String = text.chars().take(32).collect();
            violations.push(Violation::new(
                field,
                RejectReason::BadPosition,
                format!("`{shown}` is not long, short or flat"),
            ));
        }
        named
    };
    let from_strategy = word(Field::MarketPosition, market_position);
    let from_sentiment = word(Field::Sentiment, sentiment);
    let mismatch = |field, description: String| {
        Violation::new(field, RejectReason::PositionMismatch, description)
    };
    if let (Some(strategy), Some(sentiment)) = (from_strategy, from_sentiment)
        && strategy != sentiment
    {
        violations.push(mismatch(
            Field::Sentiment,
            format!("`{sentiment}` contradicts market_position `{strategy}`"),
        ));
    }
    let (market_position, field) = match (from_strategy, from_sentiment) {
        (Some(position), _) => (position, Field::MarketPosition),
        (None, Some(position)) => (position, Field::Sentiment),
        (None, None) => return finish(violations, None),
    };
    let holds = market_position != MarketPosition::Flat;
    match size {
        None if holds && field == Field::MarketPosition => violations.push(Violation::new(
            Field::PositionSize,
            RejectReason::MissingField,
            format!("is required with market_position {market_position}"),
        )),
        Some(size) if !holds && !size.is_zero() => violations.push(mismatch(
            Field::PositionSize,
            format!("a flat strategy holds nothing, got {size}"),
        )),
        Some(size) if holds && size.is_zero() => violations.push(mismatch(
            Field::PositionSize,
            format!("a {market_position} position cannot be 0"),
        )),
        Some(size) if market_position == MarketPosition::Long && size.is_sign_negative() => {
            violations.push(mismatch(
                Field::PositionSize,
                format!("a long position is positive, got {size}"),
            ))
        }
        _ => {}
    }
    let position = StrategyPosition {
        market_position,
        size,
    };
    finish(violations, Some(Stated { position, field }))
}

fn finish(
    violations: Vec<Violation>,
    stated: Option<Stated>,
) -> Result<Option<Stated>, Vec<Violation>> {
    if violations.is_empty() {
        Ok(stated)
    } else {
        Err(violations)
    }
}

/// The action a signal asks for once its stated position is read, and its
/// target position; see the module's rules.
pub fn resolve(
    action: SignalAction,
    stated: Option<Stated>,
) -> Result<(SignalAction, Option<Decimal>), Violation> {
    use MarketPosition::{Flat, Long, Short};
    use SignalAction::*;
    let Some(Stated { position, field }) = stated else {
        return Ok((action, None));
    };
    let target = position.target();
    let stated = position.market_position;
    let refuse = |description: String| {
        Err(Violation::new(
            field,
            RejectReason::PositionMismatch,
            description,
        ))
    };
    match (action, stated) {
        (Buy | Sell, Flat) => Ok((Exit, target)),
        (Buy, Short) | (Sell, Long) if target.is_none() => refuse(format!(
            "a {action} that leaves the strategy {stated} needs position_size, to say how much is left"
        )),
        (Exit | CloseLong | CloseShort, Long | Short) => refuse(format!(
            "`{action}` leaves no position, yet the strategy says it is {stated}"
        )),
        (Add | Reverse, Flat) => refuse(format!(
            "`{action}` leaves a position, yet the strategy says it is flat"
        )),
        _ => Ok((action, target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// What an alert's action, `market_position` and `position_size`
    /// become, or the refused field and reason.
    fn map(
        action: SignalAction,
        position: &str,
        size: &str,
    ) -> Result<(SignalAction, Option<Decimal>), (Field, RejectReason)> {
        let size = (!size.is_empty()).then(|| d(size));
        let first = |v: Vec<Violation>| (v[0].field, v[0].reason);
        let stated = stated_position(position, "", size).map_err(first)?;
        resolve(action, stated).map_err(|v| (v.field, v.reason))
    }

    #[test]
    fn the_strategy_cycle_maps_to_exits_and_directed_targets() {
        use SignalAction::*;
        // Long entry, then the long closed to flat.
        assert_eq!(map(Buy, "long", "0.5"), Ok((Buy, Some(d("0.5")))));
        assert_eq!(map(Sell, "flat", "0"), Ok((Exit, Some(Decimal::ZERO))));
        // A short entry, then the short closed: `buy` + `flat`.
        assert_eq!(map(Sell, "short", "0.5"), Ok((Sell, Some(d("-0.5")))));
        assert_eq!(map(Buy, "flat", ""), Ok((Exit, Some(Decimal::ZERO))));
        // A reversal long → short with a signed size.
        assert_eq!(map(Sell, "short", "-0.3"), Ok((Sell, Some(d("-0.3")))));
    }

    #[test]
    fn partial_exits_and_covers_are_not_contradictions() {
        use SignalAction::*;
        assert_eq!(map(Sell, "long", "0.2"), Ok((Sell, Some(d("0.2")))));
        assert_eq!(map(Buy, "short", "-0.2"), Ok((Buy, Some(d("-0.2")))));
    }

    #[test]
    fn contradictions_are_refused_naming_the_field() {
        use SignalAction::*;
        let mismatch = |field| Err((field, RejectReason::PositionMismatch));
        assert_eq!(map(Buy, "short", "0"), mismatch(Field::PositionSize));
        assert_eq!(map(Sell, "flat", "1"), mismatch(Field::PositionSize));
        assert_eq!(map(Buy, "long", "-1"), mismatch(Field::PositionSize));
        assert_eq!(map(Exit, "long", "1"), mismatch(Field::MarketPosition));
        assert_eq!(
            map(CloseShort, "short", "1"),
            mismatch(Field::MarketPosition)
        );
        assert_eq!(map(Add, "flat", ""), mismatch(Field::MarketPosition));
        assert_eq!(map(Reverse, "flat", ""), mismatch(Field::MarketPosition));
        assert_eq!(
            map(Buy, "long", ""),
            Err((Field::PositionSize, RejectReason::MissingField))
        );
        assert_eq!(
            map(Buy, "sideways", "1"),
            Err((Field::MarketPosition, RejectReason::BadPosition))
        );
    }

    #[test]
    fn sentiment_states_the_position_when_market_position_is_absent() {
        use SignalAction::*;
        let read = |action, sentiment: &str| {
            let stated = stated_position("", sentiment, None).map_err(|v| v[0].reason)?;
            resolve(action, stated).map_err(|v| v.reason)
        };
        assert_eq!(read(Sell, "flat"), Ok((Exit, Some(Decimal::ZERO))));
        assert_eq!(read(Buy, "bullish"), Ok((Buy, None)));
        assert_eq!(read(Buy, "short"), Err(RejectReason::PositionMismatch));
        assert_eq!(read(Buy, "up"), Err(RejectReason::BadPosition));
        let both = stated_position("long", "flat", Some(d("1"))).unwrap_err();
        assert_eq!(
            (both[0].field, both[0].reason),
            (Field::Sentiment, RejectReason::PositionMismatch)
        );
    }
}

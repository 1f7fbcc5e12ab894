//! Alert overrides at intake: an entry alert may set its own order type,
//! limit price, stop-loss and take-profit. Each is checked against the
//! alert itself here; the pipeline decides later whether it takes them.
//! An exit, a cancel or a target position ignores them: a TradingView
//! strategy sends one message template for entries and exits, and
//! refusing its exits would leave positions open.

use rust_decimal::Decimal;

use super::violation::{Field, RejectReason};
use crate::{
    market::decimal::parse_decimal,
    model::{
        order::OrderType,
        signal::{Overrides, SignalAction},
    },
};

/// The overrides as a producer sent them, every value still text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawOverrides {
    /// `market` or `limit`.
    pub order_type: String,
    pub limit_price: String,
    pub stop_loss: String,
    pub take_profit: String,
}

impl RawOverrides {
    /// Every value, in field order, for the dedupe key.
    pub fn texts(&self) -> [&str; 4] {
        [
            &self.order_type,
            &self.limit_price,
            &self.stop_loss,
            &self.take_profit,
        ]
    }
}

/// The checked overrides of an alert whose action resolved to `action`
/// (when it did) at the alert's `price` (when it has one); every bad field
/// is reported through `fail`.
pub(super) fn check(
    raw: &RawOverrides,
    action: Option<SignalAction>,
    price: Option<Decimal>,
    fail: &mut impl FnMut(Field, RejectReason, String),
) -> Overrides {
    let entry = |action| {
        matches!(
            action,
            SignalAction::Buy | SignalAction::Sell | SignalAction::Add | SignalAction::Reverse
        )
    };
    if action.is_some_and(|action| !entry(action)) {
        return Overrides::default();
    }
    let mut price_of = |field: Field, text: &str| -> Option<Decimal> {
        if text.trim().is_empty() {
            return None;
        }
        match parse_decimal(text) {
            Ok(value) if value > Decimal::ZERO => Some(value),
            Ok(value) => {
                fail(
                    field,
                    RejectReason::NonPositivePrice,
                    format!("must be positive, got {value}"),
                );
                None
            }
            Err(why) => {
                fail(field, RejectReason::NotANumber, why);
                None
            }
        }
    };
    let limit_price = price_of(Field::LimitPrice, &raw.limit_price);
    let stop_loss = price_of(Field::StopLoss, &raw.stop_loss);
    let take_profit = price_of(Field::TakeProfit, &raw.take_profit);
    let order_type = order_type(&raw.order_type, fail);
    let overrides = Overrides {
        order_type,
        limit_price,
        stop_loss,
        take_profit,
    };

    let limit_typed = order_type == Some(OrderType::Limit);
    if limit_typed && raw.limit_price.trim().is_empty() {
        fail(
            Field::LimitPrice,
            RejectReason::MissingField,
            "order_type limit needs a limit_price".into(),
        );
    }
    // An unknown order type is reported already.
    if limit_price.is_some()
        && !limit_typed
        && (order_type.is_some() || raw.order_type.trim().is_empty())
    {
        fail(
            Field::LimitPrice,
            RejectReason::BadOverride,
            "a limit_price needs order_type limit".into(),
        );
    }

    let Some(action) = action else {
        return overrides;
    };
    // The side of an add or a reverse depends on the pipeline's position,
    // which intake does not know.
    let buys = match action {
        SignalAction::Buy => true,
        SignalAction::Sell => false,
        _ => return overrides,
    };
    if let Some(entry) = limit_price.or(price) {
        let mut check_side = |field: Field, level: Option<Decimal>, below: bool, name: &str| {
            let wrong = |level: Decimal| {
                if below {
                    level >= entry
                } else {
                    level <= entry
                }
            };
            if let Some(level) = level
                && wrong(level)
            {
                let side = if below { "below" } else { "above" };
                fail(
                    field,
                    RejectReason::BadOverride,
                    format!(
                        "a {action}'s {name} must be {side} its entry price {entry}, got {level}"
                    ),
                );
            }
        };
        check_side(Field::StopLoss, stop_loss, buys, "stop-loss");
        check_side(Field::TakeProfit, take_profit, !buys, "take-profit");
    }
    overrides
}

/// The override order type named by `text` (market or limit), or `None`
/// when it is empty or reported through `fail`.
fn order_type(text: &str, fail: &mut impl FnMut(Field, RejectReason, String)) -> Option<OrderType> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match OrderType::from_word(&text.to_ascii_lowercase()) {
        Some(kind @ (OrderType::Market | OrderType::Limit)) => Some(kind),
        _ => {
            let shown: String = text.chars().take(32).collect();
            fail(
                Field::OrderType,
                RejectReason::BadOverride,
                format!("`{shown}` is not market or limit"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// The overrides `raw` gives a `action` alert at 50000, or its
    /// violations (field, reason).
    fn checked(
        raw: &RawOverrides,
        action: SignalAction,
    ) -> Result<Overrides, Vec<(Field, RejectReason)>> {
        let mut found = Vec::new();
        let overrides = check(
            raw,
            Some(action),
            Some(d("50000")),
            &mut |field, reason, _| {
                found.push((field, reason));
            },
        );
        if found.is_empty() {
            Ok(overrides)
        } else {
            Err(found)
        }
    }

    fn raw(
        order_type: &str,
        limit_price: &str,
        stop_loss: &str,
        take_profit: &str,
    ) -> RawOverrides {
        RawOverrides {
            order_type: order_type.into(),
            limit_price: limit_price.into(),
            stop_loss: stop_loss.into(),
            take_profit: take_profit.into(),
        }
    }

    #[test]
    fn good_overrides_are_typed() {
        let buy = checked(&raw("LIMIT", "49500", "49000", "52000"), SignalAction::Buy).unwrap();
        assert_eq!(
            buy,
            Overrides {
                order_type: Some(OrderType::Limit),
                limit_price: Some(d("49500")),
                stop_loss: Some(d("49000")),
                take_profit: Some(d("52000")),
            }
        );
        let sell = checked(&raw("market", "", "51000", "48000"), SignalAction::Sell).unwrap();
        assert_eq!(sell.order_type, Some(OrderType::Market));
        assert_eq!(
            checked(&RawOverrides::default(), SignalAction::Exit),
            Ok(Overrides::default())
        );
        // An add's or a reverse's side is the position's: no side check.
        assert!(checked(&raw("", "", "51000", "48000"), SignalAction::Add).is_ok());
        assert!(checked(&raw("", "", "49000", ""), SignalAction::Reverse).is_ok());
    }

    #[test]
    fn prices_are_positive_numbers() {
        for (text, reason) in [
            ("0", RejectReason::NonPositivePrice),
            ("-1", RejectReason::NonPositivePrice),
            ("abc", RejectReason::NotANumber),
        ] {
            assert_eq!(
                checked(&raw("", "", text, ""), SignalAction::Buy),
                Err(vec![(Field::StopLoss, reason)]),
                "{text}"
            );
            assert_eq!(
                checked(&raw("", "", "", text), SignalAction::Buy),
                Err(vec![(Field::TakeProfit, reason)]),
                "{text}"
            );
        }
    }

    #[test]
    fn a_limit_price_and_a_limit_order_type_come_together() {
        let limit_price = |reason| Err(vec![(Field::LimitPrice, reason)]);
        assert_eq!(
            checked(&raw("limit", "", "", ""), SignalAction::Buy),
            limit_price(RejectReason::MissingField)
        );
        assert_eq!(
            checked(&raw("", "49500", "", ""), SignalAction::Buy),
            limit_price(RejectReason::BadOverride)
        );
        assert_eq!(
            checked(&raw("market", "49500", "", ""), SignalAction::Buy),
            limit_price(RejectReason::BadOverride)
        );
        // Only market and limit: a stop or a word no order type has is
        // refused once, on order_type.
        for word in ["stop", "stop_limit", "fast"] {
            assert_eq!(
                checked(&raw(word, "49500", "", ""), SignalAction::Buy),
                Err(vec![(Field::OrderType, RejectReason::BadOverride)]),
                "{word}"
            );
        }
    }

    #[test]
    fn exits_ignore_overrides_instead_of_being_refused() {
        for action in [
            SignalAction::Exit,
            SignalAction::Cancel,
            SignalAction::CloseLong,
            SignalAction::CloseShort,
            SignalAction::TargetPosition,
        ] {
            assert_eq!(
                checked(&raw("limit", "abc", "49000", ""), action),
                Ok(Overrides::default()),
                "{action}"
            );
        }
    }

    #[test]
    fn stops_and_targets_sit_on_their_side_of_the_entry() {
        let bad = |field| Err(vec![(field, RejectReason::BadOverride)]);
        // A buy at 50000: the stop below, the target above.
        assert_eq!(
            checked(&raw("", "", "50500", ""), SignalAction::Buy),
            bad(Field::StopLoss)
        );
        assert_eq!(
            checked(&raw("", "", "50000", ""), SignalAction::Buy),
            bad(Field::StopLoss)
        );
        assert_eq!(
            checked(&raw("", "", "", "49000"), SignalAction::Buy),
            bad(Field::TakeProfit)
        );
        // A sell the other way.
        assert_eq!(
            checked(&raw("", "", "49000", ""), SignalAction::Sell),
            bad(Field::StopLoss)
        );
        assert_eq!(
            checked(&raw("", "", "", "51000"), SignalAction::Sell),
            bad(Field::TakeProfit)
        );
        // A limit entry is judged from its limit price: a buy limit at 48000
        // with a stop at 48500 is wrong, though 48500 is below 50000.
        assert_eq!(
            checked(&raw("limit", "48000", "48500", ""), SignalAction::Buy),
            bad(Field::StopLoss)
        );
        // Without a price there is nothing to compare with.
        let mut found = Vec::new();
        check(
            &raw("", "", "99999", "1"),
            Some(SignalAction::Buy),
            None,
            &mut |f, r, _| {
                found.push((f, r));
            },
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn fields_are_named_per_surface() {
        assert_eq!(Field::LimitPrice.grpc_name(), "overrides.limit_price");
        assert_eq!(Field::LimitPrice.webhook_name(), "limit_price");
        assert_eq!(Field::OrderType.webhook_name(), "order_type");
        assert_eq!(Field::StopLoss.grpc_name(), "overrides.stop_loss");
        assert_eq!(Field::TakeProfit.webhook_name(), "take_profit");
    }
}

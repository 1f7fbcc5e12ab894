//! Alert overrides at intake: an entry alert may set its own order type,
//! limit price, stop-loss and take-profit. Each is checked against the
//! alert itself here; the pipeline decides later whether it takes them.

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
    if !matches!(
        action,
        SignalAction::Buy | SignalAction::Sell | SignalAction::Add | SignalAction::Reverse
    ) {
        for (field, set) in [
            (Field::OrderType, !raw.order_type.trim().is_empty()),
            (Field::LimitPrice, limit_price.is_some()),
            (Field::StopLoss, stop_loss.is_some()),
            (Field::TakeProfit, take_profit.is_some()),
        ] {
            if set {
                fail(
                    field,
                    RejectReason::BadOverride,
                    format!("only entries (buy, sell, add, reverse) take overrides, not {action}"),
                );
            }
        }
        return overrides;
    }
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

//! The API's enums as domain words: the lowercase word of every value
//! (`Side::Buy` is `buy`), generated from the protos, and the typed decoding
//! of a wire number, which names the field when no value has that number.

use std::fmt;

/// An enum of `tradeplane.v1`; build.rs implements it for every one.
pub trait ProtoEnum: Copy + TryFrom<i32> {
    /// The value's name without the enum's prefix, in lowercase:
    /// `ORDER_STATUS_PARTIALLY_FILLED` is `partially_filled`.
    fn word(self) -> &'static str;

    /// The value numbered `number`; a number no value has is an error
    /// naming `field`, never a guessed value.
    fn known(number: i32, field: &'static str) -> Result<Self, UnknownEnum> {
        Self::try_from(number).map_err(|_| UnknownEnum { field, number })
    }

    /// The word of the value numbered `number`, or `unknown` when no value
    /// has it: for labels and messages, never for decisions.
    fn word_of(number: i32) -> &'static str {
        Self::try_from(number).map_or("unknown", Self::word)
    }
}

/// A number that no value of the field's enum has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEnum {
    /// The field the number came in, e.g. `side`.
    pub field: &'static str,
    /// The number.
    pub number: i32,
}

impl fmt::Display for UnknownEnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has no value numbered {}", self.field, self.number)
    }
}

impl std::error::Error for UnknownEnum {}

mod generated {
    use crate::v1::*;
    include!(concat!(env!("OUT_DIR"), "/enum_words.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CircuitBreakerState, OrderStatus, Role, Side, SignalAction};

    #[test]
    fn every_value_has_its_word() {
        assert_eq!(Side::Buy.word(), "buy");
        assert_eq!(Side::Unspecified.word(), "unspecified");
        assert_eq!(OrderStatus::PartiallyFilled.word(), "partially_filled");
        assert_eq!(CircuitBreakerState::HalfOpen.word(), "half_open");
        assert_eq!(SignalAction::TargetPosition.word(), "target_position");
        assert_eq!(Role::Admin.word(), "admin");
    }

    #[test]
    fn a_number_no_value_has_is_named_not_guessed() {
        assert_eq!(Side::known(2, "side"), Ok(Side::Sell));
        let err = Side::known(999, "side").unwrap_err();
        assert_eq!(
            err,
            UnknownEnum {
                field: "side",
                number: 999
            }
        );
        assert_eq!(err.to_string(), "side has no value numbered 999");
        assert_eq!(OrderStatus::word_of(999), "unknown");
        assert_eq!(OrderStatus::word_of(OrderStatus::Filled as i32), "filled");
    }
}

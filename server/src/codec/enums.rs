//! Domain enums and their protobuf twins: one macro pairs the values, and
//! reading a wire number names the field when no value has it. A proto
//! enum's `UNSPECIFIED` is "not given", never a value.

use tradeplane_api::UnknownEnum;

use super::CodecError;

/// A domain enum with a protobuf twin.
pub trait Mirrored: Copy + Sized {
    /// The generated protobuf enum.
    type Proto: Copy + TryFrom<i32> + Into<i32>;

    /// The domain value of a protobuf value; `None` for `UNSPECIFIED`.
    fn from_proto(proto: Self::Proto) -> Option<Self>;

    /// The protobuf value.
    fn to_proto(self) -> Self::Proto;

    /// The wire number.
    fn number(self) -> i32 {
        self.to_proto().into()
    }

    /// The value numbered `number`, `None` when unspecified; a number no
    /// value has is an error naming `field`.
    fn optional(number: i32, field: &'static str) -> Result<Option<Self>, UnknownEnum> {
        Self::Proto::try_from(number)
            .map(Self::from_proto)
            .map_err(|_| UnknownEnum { field, number })
    }

    /// The value numbered `number`; unspecified or unknown is an error
    /// naming `field`.
    fn required(number: i32, field: &'static str) -> Result<Self, CodecError> {
        Self::optional(number, field)?.ok_or(CodecError::Missing { field })
    }
}

/// Pairs a domain enum with its protobuf twin, value by value.
macro_rules! mirror {
    ($domain:ty => $proto:ident { $($variant:ident),+ $(,)? }) => {
        impl Mirrored for $domain {
            type Proto = tradeplane_api::$proto;

            fn from_proto(proto: Self::Proto) -> Option<Self> {
                match proto {
                    tradeplane_api::$proto::Unspecified => None,
                    $(tradeplane_api::$proto::$variant => Some(Self::$variant),)+
                }
            }

            fn to_proto(self) -> Self::Proto {
                match self {
                    $(Self::$variant => tradeplane_api::$proto::$variant,)+
                }
            }
        }
    };
}

use crate::{
    market::{
        hours::OutsideMarketHours, instrument::InstrumentKind, margin::MarginMode, side::Side,
    },
    model::{
        approval::ApprovalState,
        execution::ExecutionStatus,
        order::{OrderRole, OrderStatus, OrderType, TimeInForce},
        signal::{MarketPosition, SignalAction, SignalOutcome},
    },
};

mirror!(Side => Side { Buy, Sell });
mirror!(InstrumentKind => InstrumentKind { Spot, Perpetual, Future, Equity });
mirror!(MarginMode => MarginMode { Isolated, Cross });
mirror!(OutsideMarketHours => OutsideMarketHours { Refuse, Queue });
mirror!(OrderType => OrderType { Market, Limit, Stop, StopLimit });
mirror!(OrderRole => OrderRole { Entry, Exit, StopLoss, TakeProfit });
mirror!(SignalAction => SignalAction {
    Buy,
    Sell,
    Exit,
    TargetPosition,
    Cancel,
    Add,
    Reverse,
    CloseLong,
    CloseShort,
});
mirror!(MarketPosition => MarketPosition { Long, Short, Flat });
mirror!(SignalOutcome => SignalOutcome { Accepted, Duplicate, Rejected });
mirror!(TimeInForce => TimeInForce { Gtc, Ioc, Fok });
mirror!(OrderStatus => OrderStatus {
    New,
    Submitted,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    Failed,
    Unknown,
});
mirror!(ExecutionStatus => ExecutionStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Canceled,
    AwaitingApproval,
});
mirror!(ApprovalState => ApprovalState {
    Pending,
    Approved,
    Rejected,
    Expired,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_crosses_and_comes_back() {
        for status in OrderStatus::ALL {
            assert_eq!(
                OrderStatus::optional(status.number(), "status"),
                Ok(Some(*status))
            );
        }
        for side in Side::ALL {
            assert_eq!(Side::required(side.number(), "side"), Ok(*side));
        }
    }

    #[test]
    fn unspecified_is_missing_and_unknown_numbers_are_named() {
        assert_eq!(Side::optional(0, "side"), Ok(None));
        assert_eq!(
            Side::required(0, "side"),
            Err(CodecError::Missing { field: "side" })
        );
        assert_eq!(
            OrderType::optional(999, "type"),
            Err(UnknownEnum {
                field: "type",
                number: 999
            })
        );
    }
}

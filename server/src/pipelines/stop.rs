//! How a step ends an execution early: skipped (with a typed reason) or
//! failed.

use crate::{orders::error::PlaceError, store::StoreError};

/// Why an execution was skipped (its `skip_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The pipeline is paused.
    Paused,
    /// An exit, `add` or `reverse` with no position to act on.
    NoPosition,
    /// `close_long` / `close_short` without such a position, or `cancel`
    /// asked to size an order.
    NothingToTrade,
    /// A sell that would open a short on a market that cannot hold one
    /// (spot), with no long to close.
    SpotCannotShort,
    /// A target position already reached.
    AtTarget,
    /// The order would be below the venue's minimums.
    BelowMinNotional,
    /// A risk rule refused the order.
    RiskRejected,
    /// The pipeline filled too recently.
    Cooldown,
    /// Trading is halted.
    Halted,
    /// The exchange's circuit breaker is open.
    CircuitOpen,
    /// The position book drifted and the pipeline refuses new entries.
    PositionDrift,
    /// The pipeline forbids alert overrides, and the signal carries some.
    OverridesForbidden,
    /// The pipeline's exchange does not trade the signal's kind of
    /// instrument (a perpetual on a spot venue).
    UnsupportedInstrument,
    /// The instrument's market is closed and the pipeline refuses orders
    /// outside market hours.
    MarketClosed,
}

impl SkipReason {
    /// The lowercase word stored in `skip_reason` and used as a metric
    /// label.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Paused => "paused",
            SkipReason::NoPosition => "no_position",
            SkipReason::NothingToTrade => "nothing_to_trade",
            SkipReason::SpotCannotShort => "spot_cannot_short",
            SkipReason::AtTarget => "at_target",
            SkipReason::BelowMinNotional => "below_min_notional",
            SkipReason::RiskRejected => "risk_rejected",
            SkipReason::Cooldown => "cooldown",
            SkipReason::Halted => "halted",
            SkipReason::CircuitOpen => "circuit_open",
            SkipReason::PositionDrift => "position_drift",
            SkipReason::OverridesForbidden => "overrides_forbidden",
            SkipReason::UnsupportedInstrument => "unsupported_instrument",
            SkipReason::MarketClosed => "market_closed",
        }
    }
}

/// A risk rule (a metric label and the start of a rejection's detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskRule {
    AllowedSides,
    MaxOrderNotional,
    MaxPosition,
    MaxOrdersPerMinute,
    DailyLossLimit,
}

impl RiskRule {
    /// The lowercase word, as in the pipeline spec.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskRule::AllowedSides => "allowed_sides",
            RiskRule::MaxOrderNotional => "max_order_notional",
            RiskRule::MaxPosition => "max_position",
            RiskRule::MaxOrdersPerMinute => "max_orders_per_minute",
            RiskRule::DailyLossLimit => "daily_loss_limit",
        }
    }
}

/// How a step ended an execution early.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Skipped for `reason`, with a detail for people.
    Skip(SkipReason, String),
    /// Failed with this error.
    Fail(String),
    /// The store could not be reached: the steps run again once it
    /// answers (they are idempotent), and fail only if it stays away.
    Unavailable(String),
    /// The order waits in the approval queue (the approval's id).
    AwaitApproval(String),
}

impl Stop {
    /// How a step that stopped the execution reads in it: its result word
    /// and detail.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Stop::Skip(SkipReason::RiskRejected, detail) => ("rejected", detail.clone()),
            Stop::Skip(reason, detail) => ("skipped", format!("{}: {detail}", reason.as_str())),
            Stop::Fail(error) | Stop::Unavailable(error) => ("failed", error.clone()),
            Stop::AwaitApproval(id) => ("awaiting_approval", format!("held for approval {id}")),
        }
    }
}

/// The stop of a step that could not read the pipeline's position.
pub(super) fn unread_position(err: StoreError) -> Stop {
    unreachable_store(err, "cannot read the pipeline's position")
}

/// The stop of a step the store failed, saying what it was doing: an
/// unreachable store is waited for, anything else fails.
pub(super) fn unreachable_store(err: StoreError, doing: &str) -> Stop {
    match err {
        StoreError::Unavailable(_) => Stop::Unavailable(format!("{doing}: {err}")),
        _ => Stop::Fail(format!("{doing}: {err}")),
    }
}

impl From<PlaceError> for Stop {
    /// A halt or an open breaker skips the execution; anything else fails
    /// it.
    fn from(err: PlaceError) -> Self {
        match err {
            PlaceError::Halted => Stop::Skip(SkipReason::Halted, err.to_string()),
            PlaceError::CircuitOpen { .. } => Stop::Skip(SkipReason::CircuitOpen, err.to_string()),
            PlaceError::Store(err) => unreachable_store(err, "cannot record the order"),
            _ => Stop::Fail(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halts_and_open_breakers_skip_other_errors_fail() {
        assert_eq!(
            Stop::from(PlaceError::Halted),
            Stop::Skip(
                SkipReason::Halted,
                "trading is halted; no order leaves the process until an admin resumes it".into()
            )
        );
        let open = Stop::from(PlaceError::CircuitOpen {
            exchange: "paper".into(),
        });
        assert!(matches!(open, Stop::Skip(SkipReason::CircuitOpen, _)));
        let rejected = Stop::from(PlaceError::Exchange(
            crate::orders::exchanges::ExchangeError::Rejected("no funds".into()),
        ));
        assert_eq!(rejected, Stop::Fail("no funds".into()));
    }

    #[test]
    fn risk_rejections_read_as_rejected() {
        let stop = Stop::Skip(SkipReason::RiskRejected, "max_position: 3".into());
        assert_eq!(stop.describe(), ("rejected", "max_position: 3".to_string()));
        let stop = Stop::Skip(SkipReason::Cooldown, "last fill 5 ms ago".into());
        assert_eq!(
            stop.describe(),
            ("skipped", "cooldown: last fill 5 ms ago".to_string())
        );
    }
}

//! Exits that clean up: which actions cancel the pipeline's resting orders
//! in the symbol (entries and brackets) before they trade, the step that
//! cancels them (also the whole of a `cancel` signal), and which actions
//! never get a bracket.

use std::time::Instant;

use super::{
    Pipelines,
    spec::Compiled,
    stop::Stop,
    worker::{pipeline_audit, record},
};
use crate::model::{execution::Execution, signal::SignalAction};

impl Pipelines {
    /// The cancel step: cancels the pipeline's resting orders in `symbol`
    /// and records how many.
    pub(super) async fn cancel_resting(
        &self,
        compiled: &Compiled,
        execution: &mut Execution,
        symbol: &str,
        trace_id: &str,
    ) -> Result<(), Stop> {
        let started = Instant::now();
        let canceled = self
            .desk
            .cancel_resting(&compiled.id, symbol, &pipeline_audit(compiled, trace_id))
            .await
            .map_err(|e| Stop::Fail(format!("canceling resting orders: {e}")));
        record(
            execution,
            "cancel",
            &canceled
                .as_ref()
                .map(|ids| format!("{} resting orders canceled", ids.len())),
            started,
        );
        canceled.map(drop)
    }
}

/// Whether `action` cancels the resting orders first even when it turns
/// out to have nothing to trade: `exit` (a flat pipeline may still have a
/// resting entry), `reverse` and `cancel`. Any other order that reduces
/// the position cleans up too; `close_long` and `close_short` only then,
/// so that they never touch the other side's orders.
pub(super) fn always_cleans_up(action: SignalAction) -> bool {
    matches!(
        action,
        SignalAction::Exit | SignalAction::Reverse | SignalAction::Cancel
    )
}

/// Whether `action` only ever closes a position (`exit`, `close_long`,
/// `close_short`): its order never gets protective orders.
pub(super) fn only_closes(action: SignalAction) -> bool {
    matches!(
        action,
        SignalAction::Exit | SignalAction::CloseLong | SignalAction::CloseShort
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_reversals_and_cancels_clean_up_whatever_the_position() {
        let cleaning: Vec<_> = SignalAction::ALL
            .iter()
            .copied()
            .filter(|a| always_cleans_up(*a))
            .collect();
        assert_eq!(
            cleaning,
            [
                SignalAction::Exit,
                SignalAction::Cancel,
                SignalAction::Reverse
            ]
        );
    }

    #[test]
    fn only_exits_and_one_sided_closes_only_close() {
        let closing: Vec<_> = SignalAction::ALL
            .iter()
            .copied()
            .filter(|a| only_closes(*a))
            .collect();
        assert_eq!(
            closing,
            [
                SignalAction::Exit,
                SignalAction::CloseLong,
                SignalAction::CloseShort
            ]
        );
    }
}

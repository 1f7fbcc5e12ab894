//! The report of an execution's end: a failed or skipped execution is
//! audited, in the transaction that saves its end, so that its pipeline's
//! subscribers hear about it (see `notify`).

use tradeplane_api::AuditOutcome;

use super::Pipelines;
use crate::{
    audit::{AuditEntry, actions},
    model::execution::{Execution, ExecutionStatus},
    proto_time::now_ms,
    store::{AuditRow, StoreError},
};

impl Pipelines {
    /// Saves `execution` and, in the same write, the audit events that
    /// report its end (see [`end_events`]), then feeds them.
    pub(super) async fn save_end(&self, execution: &Execution) -> Result<(), StoreError> {
        let report = end_events(execution, now_ms());
        let stored = self.store.update_execution(execution, report).await?;
        self.audit.published(&stored);
        Ok(())
    }
}

/// The audit events, at `time_ms`, that report `execution`'s end: one
/// when it failed or was skipped, none otherwise. The store appends them
/// with the execution's new state.
pub(super) fn end_events(execution: &Execution, time_ms: i64) -> Vec<AuditRow> {
    let (action, detail) = match execution.status {
        ExecutionStatus::Failed => (actions::EXECUTION_FAIL, execution.error.clone()),
        ExecutionStatus::Skipped if execution.error.is_empty() => {
            (actions::EXECUTION_SKIP, execution.skip_reason.clone())
        }
        ExecutionStatus::Skipped => (
            actions::EXECUTION_SKIP,
            format!("{}: {}", execution.skip_reason, execution.error),
        ),
        _ => return Vec::new(),
    };
    let entry = AuditEntry {
        action,
        target: execution.id.clone(),
        outcome: AuditOutcome::Failure,
        detail,
        ..AuditEntry::system()
    };
    vec![entry.row(time_ms)]
}

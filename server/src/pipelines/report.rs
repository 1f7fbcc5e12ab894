//! The report of an execution's end: a failed or skipped execution is
//! audited, so that its pipeline's subscribers hear about it (see
//! `notify`).

use tradeplane_api::AuditOutcome;

use super::Pipelines;
use crate::{
    audit::{AuditEntry, actions},
    model::execution::{Execution, ExecutionStatus},
};

impl Pipelines {
    /// Audits a failed or skipped execution, so that its pipeline's
    /// subscribers hear about it (see `notify`).
    pub(super) async fn report_end(&self, execution: &Execution) {
        let (action, detail) = match execution.status {
            ExecutionStatus::Failed => (actions::EXECUTION_FAIL, execution.error.clone()),
            ExecutionStatus::Skipped if execution.error.is_empty() => {
                (actions::EXECUTION_SKIP, execution.skip_reason.clone())
            }
            ExecutionStatus::Skipped => (
                actions::EXECUTION_SKIP,
                format!("{}: {}", execution.skip_reason, execution.error),
            ),
            _ => return,
        };
        self.audit
            .record_or_log(AuditEntry {
                action,
                target: execution.id.clone(),
                outcome: AuditOutcome::Failure,
                detail,
                ..AuditEntry::system()
            })
            .await;
    }
}

//! The claim policy of the execution queue: which executions a worker may
//! take and what taking one does. The store applies these rules
//! atomically; it does not know them.

use super::report::end_events;
use crate::{
    model::execution::{Execution, ExecutionStatus},
    store::{AuditRow, ClaimRules},
};

/// Why a queued execution was skipped: its pipeline was running another
/// one, and its spec says to skip rather than wait.
pub const ALREADY_RUNNING: &str = "already_running";

/// The rules of a claim at `now_ms` that leases what it starts for
/// `lease_ms`: PENDING executions wait in the queue, RUNNING ones hold a
/// lease, and one whose lease ended is resumed (its worker died).
pub fn rules(now_ms: i64, lease_ms: i64) -> ClaimRules {
    ClaimRules {
        now_ms,
        lease_ms,
        queued: ExecutionStatus::Pending,
        running: ExecutionStatus::Running,
        start,
        skip,
    }
}

/// A claimed execution runs: one more attempt, started now unless it was
/// started before (a resumed one keeps its start time).
fn start(execution: &mut Execution, now_ms: i64) {
    execution.status = ExecutionStatus::Running;
    execution.attempt += 1;
    execution.start_time_ms.get_or_insert(now_ms);
}

/// A queued execution whose pipeline is busy ends SKIPPED, reported like
/// any other skip.
fn skip(execution: &mut Execution, now_ms: i64) -> Vec<AuditRow> {
    execution.status = ExecutionStatus::Skipped;
    execution.skip_reason = ALREADY_RUNNING.into();
    execution.end_time_ms = Some(now_ms);
    end_events(execution, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Execution {
        Execution::pending("e".into(), "p".into(), "p".into(), "s".into(), 0)
    }

    #[test]
    fn a_start_counts_an_attempt_and_keeps_the_first_start_time() {
        let rules = rules(5_000, 1_000);
        let mut execution = pending();
        (rules.start)(&mut execution, rules.now_ms);
        assert_eq!(execution.status, ExecutionStatus::Running);
        assert_eq!(execution.attempt, 1);
        assert_eq!(execution.start_time_ms, Some(5_000));
        (rules.start)(&mut execution, 9_000);
        assert_eq!(execution.attempt, 2, "a resumed execution counts again");
        assert_eq!(execution.start_time_ms, Some(5_000));
    }

    #[test]
    fn a_skip_ends_the_execution_as_already_running() {
        let rules = rules(5_000, 1_000);
        let mut execution = pending();
        let events = (rules.skip)(&mut execution, rules.now_ms);
        assert_eq!(execution.status, ExecutionStatus::Skipped);
        assert_eq!(execution.skip_reason, ALREADY_RUNNING);
        assert_eq!(execution.end_time_ms, Some(5_000));
        assert_eq!(execution.attempt, 0);
        let events: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.target.as_str(),
                    e.detail.as_str(),
                    e.time_ms,
                )
            })
            .collect();
        assert_eq!(
            events,
            [("execution.skip", "e", ALREADY_RUNNING, 5_000)],
            "the skip is reported with it"
        );
    }
}

//! The claim policy of the execution queue: which executions a worker may
//! take and what taking one does. The store applies these rules
//! atomically; it does not know them.

use tradeplane_api::{Execution, ExecutionStatus};

use crate::{proto_time::ms_to_timestamp, store::ClaimRules};

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
        queued: ExecutionStatus::Pending as i32,
        running: ExecutionStatus::Running as i32,
        start,
        skip,
    }
}

/// A claimed execution runs: one more attempt, started now unless it was
/// started before (a resumed one keeps its start time).
fn start(execution: &mut Execution, now_ms: i64) {
    execution.status = ExecutionStatus::Running as i32;
    execution.attempt += 1;
    if execution.start_time.is_none() {
        execution.start_time = Some(ms_to_timestamp(now_ms));
    }
}

/// A queued execution whose pipeline is busy ends SKIPPED.
fn skip(execution: &mut Execution, now_ms: i64) {
    execution.status = ExecutionStatus::Skipped as i32;
    execution.skip_reason = ALREADY_RUNNING.into();
    execution.end_time = Some(ms_to_timestamp(now_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_counts_an_attempt_and_keeps_the_first_start_time() {
        let rules = rules(5_000, 1_000);
        let mut execution = Execution::default();
        (rules.start)(&mut execution, rules.now_ms);
        assert_eq!(execution.status, ExecutionStatus::Running as i32);
        assert_eq!(execution.attempt, 1);
        assert_eq!(execution.start_time, Some(ms_to_timestamp(5_000)));
        (rules.start)(&mut execution, 9_000);
        assert_eq!(execution.attempt, 2, "a resumed execution counts again");
        assert_eq!(execution.start_time, Some(ms_to_timestamp(5_000)));
    }

    #[test]
    fn a_skip_ends_the_execution_as_already_running() {
        let rules = rules(5_000, 1_000);
        let mut execution = Execution::default();
        (rules.skip)(&mut execution, rules.now_ms);
        assert_eq!(execution.status, ExecutionStatus::Skipped as i32);
        assert_eq!(execution.skip_reason, ALREADY_RUNNING);
        assert_eq!(execution.end_time, Some(ms_to_timestamp(5_000)));
        assert_eq!(execution.attempt, 0);
    }
}

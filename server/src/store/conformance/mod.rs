//! The conformance suite that every backend passes, written once in the
//! style of quickwit's metastore test suite: each check is a generic async
//! function over a [`TestBackend`], and [`conformance_suite!`] instantiates
//! all of them as tests for one backend. Nothing here may depend on a
//! particular backend: only the factory does.

mod approvals;
mod audit;
mod executions;
mod keys;
mod orders;
mod outbox;
mod pipelines;
mod signals;
mod subscriptions;
mod totals;

use std::sync::Arc;

pub use approvals::*;
pub use audit::*;
pub use executions::*;
pub use keys::*;
pub use orders::*;
pub use outbox::*;
pub use pipelines::*;
pub use signals::*;
pub use subscriptions::*;
pub use totals::*;

use super::Store;

/// A backend under test: an empty database, and stores opened on it.
/// (Its futures need not be `Send`: the tests await them in place.)
#[allow(async_fn_in_trait)]
pub trait TestBackend: Sized {
    /// A fresh, empty database; `None` when this machine has no such
    /// backend (the factory says why, or fails the test when external
    /// tools are required).
    async fn create() -> Option<Self>;
    /// A store on that database; every call opens another handle, as
    /// another process would.
    async fn open(&self) -> Arc<dyn Store>;
}

/// A UUIDv7 text of millisecond `ms` (ids are UUIDv7, so that they sort
/// in time order); `n` tells apart ids of the same millisecond.
pub fn id_at(ms: u64, n: u16) -> String {
    let mut bytes = *uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        ms / 1000,
        (ms % 1000) as u32 * 1_000_000,
    ))
    .as_bytes();
    bytes[8..].fill(0);
    bytes[14..].copy_from_slice(&n.to_be_bytes());
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// Instantiates every check of the suite as a test for `$backend`.
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ty) => {
        $crate::conformance_suite!(
            $backend;
            concurrent_duplicates_resolve_to_the_first,
            a_burst_over_a_few_keys_keeps_the_first_of_each,
            expired_keys_are_forgotten,
            an_earlier_bucket_key_marks_a_duplicate_while_it_lives,
            writes_survive_reopening,
            signals_page_and_filter,
            a_signal_creates_its_executions_only_when_new,
            orders_are_inserted_once,
            a_perpetuals_reduce_only_order_keeps_its_kind,
            order_groups_are_inserted_whole_or_not_at_all,
            orders_page_and_filter,
            a_pipelines_recent_orders_are_counted,
            fills_are_booked_once_and_a_stale_copy_is_refused,
            concurrent_writers_book_a_fill_once,
            totals_adjust_in_place_and_snapshots_never_go_back,
            claims_skip_or_queue_behind_a_running_execution_and_resume_expired_leases,
            executions_are_inserted_once_and_page,
            a_finished_execution_drops_its_lease,
            a_renewed_lease_keeps_the_execution,
            replicas_never_run_two_executions_of_one_pipeline_at_once,
            concurrent_runs_of_one_request_insert_one_execution,
            an_executions_end_commits_with_its_audit_events,
            pipelines_are_unique_by_name_and_request,
            a_replay_is_answered_before_the_pipeline_limit,
            the_pipeline_limit_holds_across_replicas,
            audit_events_chain_list_and_walk,
            two_writers_form_one_audit_chain,
            an_event_is_appended_once_per_action_and_target,
            a_setting_commits_with_its_audit_events,
            api_keys_insert_replay_revoke_and_use,
            approvals_are_held_once_per_execution_and_filter,
            an_approval_is_decided_once_under_concurrent_decisions,
            a_held_order_is_audited_once_under_concurrent_holds,
            deliveries_are_queued_once_and_the_cursor_never_goes_back,
            claims_lease_due_deliveries_oldest_first_until_the_lease_ends,
            two_claimers_split_the_work,
            settlements_count_attempts_release_leases_and_keep_dead_letters,
            a_holder_whose_lease_ran_out_settles_nothing,
            subscriptions_are_unique_by_name_and_request_and_audited,
            deliveries_list_by_subscription_newest_first_in_pages,
        );
    };
    ($backend:ty; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(backend) =
                    <$backend as $crate::store::conformance::TestBackend>::create().await
                else {
                    return;
                };
                $crate::store::conformance::$check(&backend).await;
            }
        )*
    };
}

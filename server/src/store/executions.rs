//! The execution queue: executions to run, claimed by workers with a
//! lease. Which execution a claim may take and what claiming does to it
//! are the pipelines domain's rules ([`ClaimRules`]); a backend only
//! applies them atomically.

use async_trait::async_trait;

use super::{AuditRow, StoreError};
use crate::model::execution::{Execution, ExecutionStatus};

/// An execution to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionWrite {
    /// PENDING, with its match step recorded.
    pub execution: Execution,
    /// The W3C `traceparent` of the call that created it: the execution's
    /// span continues that trace, even after a restart.
    pub traceparent: String,
    /// The RunPipeline `request_id`, for manual runs.
    pub request_id: Option<String>,
    /// Skip it (see [`ClaimRules::skip`]) rather than queue it behind a
    /// running execution of the same pipeline.
    pub skip_if_running: bool,
}

/// What a claim may take and what it does to it. A backend claims, in
/// one transaction, the oldest execution that is either `queued`, or
/// `running` with a lease that ended before `now_ms` (its worker died).
/// A queued one whose pipeline has another execution `running` under a
/// live lease is passed over, or, if it was written with
/// `skip_if_running`, given to `skip` and saved without a lease, with the
/// audit events `skip` returns. Any other is given to `start` and saved
/// with a lease until `now_ms + lease_ms`.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules {
    /// The claim's clock.
    pub now_ms: i64,
    /// How long a started execution's lease lasts.
    pub lease_ms: i64,
    /// The status of executions waiting in the queue.
    pub queued: ExecutionStatus,
    /// The status of executions that hold a lease.
    pub running: ExecutionStatus,
    /// Starts a claimed execution (at `now_ms`); it must leave it `running`.
    pub start: fn(&mut Execution, i64),
    /// Ends a queued execution that is not to wait (at `now_ms`); returns
    /// the audit events that report it, appended with it.
    pub skip: fn(&mut Execution, i64) -> Vec<AuditRow>,
}

/// What claiming work from the execution queue found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Run this (started now, with a lease) as part of `traceparent`.
    Run {
        execution: Box<Execution>,
        traceparent: String,
    },
    /// This one was skipped while claiming.
    Skipped(Box<Execution>),
    /// Nothing to do.
    Idle,
}

/// What a claim did: what it found, and the audit events it appended in
/// its transaction (chained): those that report the finished execution,
/// then those that report a skipped one.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub claim: Claim,
    pub audit: Vec<AuditRow>,
}

/// Filter and page for listing executions, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    pub pipeline_id: Option<String>,
    pub signal_id: Option<String>,
    pub statuses: Vec<ExecutionStatus>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Storage of executions and their queue.
#[async_trait]
pub trait ExecutionQueue: Send + Sync + 'static {
    /// Creates executions outside a signal (manual runs, schedules); a
    /// repeated `request_id` returns the first execution instead.
    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError>;
    /// Saves `finished` (an execution the caller has ended: it drops its
    /// lease) with `audit`, the events that report it, then claims the
    /// oldest runnable execution under `rules`, in one transaction: a
    /// worker's result, its events and its next claim are one durable
    /// write.
    async fn claim_execution(
        &self,
        rules: ClaimRules,
        finished: Option<Execution>,
        audit: Vec<AuditRow>,
    ) -> Result<Claimed, StoreError>;
    /// Saves an execution's new state (a finished one drops its lease)
    /// and, in the same transaction, appends the audit events that report
    /// it; returns them as stored (chained).
    async fn update_execution(
        &self,
        execution: &Execution,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError>;
    /// Extends the lease of execution `id` to `until_ms` (its worker is
    /// alive: the heartbeat); false when it holds no lease (it ended).
    async fn renew_lease(&self, id: &str, until_ms: i64) -> Result<bool, StoreError>;
    /// One execution by id.
    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError>;
    /// Executions matching `query`, newest first.
    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError>;
    /// How many executions wait in the queue.
    async fn pending_executions(&self) -> Result<u64, StoreError>;
}

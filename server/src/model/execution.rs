//! A pipeline execution as the domain sees it: one run of a pipeline for
//! one signal, its steps with their results and durations, and the orders
//! it placed. Its life: pending → running → succeeded | failed | skipped |
//! canceled, or running → awaiting_approval → succeeded | failed |
//! canceled when its pipeline requires approval.

use std::time::Duration;

use rust_decimal::Decimal;

use crate::words::word_enum;

word_enum! {
    /// Where an execution is in its life.
    pub enum ExecutionStatus {
        /// Waiting in the queue.
        Pending => "pending",
        /// Claimed by a worker, under a lease.
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Ended without ordering, for a reason from a closed set.
        Skipped => "skipped",
        /// Ended because its pipeline went away, or its order was
        /// rejected or expired in the approval queue.
        Canceled => "canceled",
        /// Its order waits in the approval queue (no lease: no worker
        /// holds it).
        AwaitingApproval => "awaiting_approval",
    }
}

/// One step of an execution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionStep {
    /// `match`, `sizing`, `risk`, `order`, `approval` or `protect`.
    pub name: String,
    /// `ok`, `rejected`, `skipped`, `failed` or `awaiting_approval`.
    pub result: String,
    pub detail: String,
    pub duration: Duration,
}

/// One run of a pipeline for one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// UUIDv7.
    pub id: String,
    pub pipeline_id: String,
    pub pipeline_name: String,
    pub signal_id: String,
    pub status: ExecutionStatus,
    /// Why it was skipped, from a closed set (e.g. `already_running`).
    pub skip_reason: String,
    pub error: String,
    pub steps: Vec<ExecutionStep>,
    /// The orders it placed: the entry, then its protective orders.
    pub order_ids: Vec<String>,
    /// The entry order's fees, once it has any.
    pub fees: Option<Decimal>,
    /// How many times a worker started it (a resumed one counts again).
    pub attempt: u32,
    pub create_time_ms: i64,
    /// When a worker first started it.
    pub start_time_ms: Option<i64>,
    /// When it ended.
    pub end_time_ms: Option<i64>,
}

impl Execution {
    /// A new execution of a pipeline for a signal, pending, created at
    /// `now` (ms since the epoch).
    pub fn pending(
        id: String,
        pipeline_id: String,
        pipeline_name: String,
        signal_id: String,
        now: i64,
    ) -> Self {
        Self {
            id,
            pipeline_id,
            pipeline_name,
            signal_id,
            status: ExecutionStatus::Pending,
            skip_reason: String::new(),
            error: String::new(),
            steps: Vec::new(),
            order_ids: Vec::new(),
            fees: None,
            attempt: 0,
            create_time_ms: now,
            start_time_ms: None,
            end_time_ms: None,
        }
    }
}

//! Pipeline metrics. The `pipeline` label is the pipeline's name, and the
//! number of pipelines is capped (`pipelines.max_pipelines`), so the label
//! stays bounded.

use std::{
    sync::{Weak, atomic::Ordering},
    time::Duration,
};

use super::{Pipelines, drift::DriftSource};
use crate::{
    model::{
        approval::ApprovalState,
        execution::{Execution, ExecutionStatus},
        order::Order,
    },
    observe::SECONDS_BUCKETS,
};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};
use rust_decimal::prelude::ToPrimitive;

/// The shortest time between two counts of the execution queue.
const QUEUE_COUNT_EVERY_MS: i64 = 1000;

/// The pipeline instruments.
pub struct PipelineMetrics {
    meter: Meter,
    matches: Counter<u64>,
    claims: Counter<u64>,
    executions: Counter<u64>,
    duration: Histogram<f64>,
    step_duration: Histogram<f64>,
    skips: Counter<u64>,
    risk_rejections: Counter<u64>,
    fees: Counter<f64>,
    drifts: Counter<u64>,
    approvals: Counter<u64>,
}

impl PipelineMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        let metrics = Self {
            meter: meter.clone(),
            matches: meter
                .u64_counter("tradeplane.pipeline.matches")
                .with_description("Signals that matched a pipeline")
                .build(),
            claims: meter
                .u64_counter("tradeplane.execution.claims")
                .with_description(
                    "Executions this replica's workers claimed: first runs, and ones \
                     resumed after their lease ran out",
                )
                .build(),
            executions: meter
                .u64_counter("tradeplane.executions")
                .with_description("Finished executions, by pipeline and status")
                .build(),
            duration: meter
                .f64_histogram("tradeplane.execution.duration")
                .with_unit("s")
                .with_description("From claim to the end of an execution")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            step_duration: meter
                .f64_histogram("tradeplane.execution.step.duration")
                .with_unit("s")
                .with_description("Duration of each execution step")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            skips: meter
                .u64_counter("tradeplane.execution.skips")
                .with_description("Skipped executions, by pipeline and reason")
                .build(),
            risk_rejections: meter
                .u64_counter("tradeplane.risk.rejections")
                .with_description("Orders a risk rule refused, by pipeline and rule")
                .build(),
            fees: meter
                .f64_counter("tradeplane.execution.fees")
                .with_description("Fees paid by executions, by pipeline and asset")
                .build(),
            drifts: meter
                .u64_counter("tradeplane.position.drifts")
                .with_description("Position drifts that started, by pipeline and source")
                .build(),
            approvals: meter
                .u64_counter("tradeplane.approvals")
                .with_description(
                    "Orders held for approval and their decisions, by pipeline and state",
                )
                .build(),
        };
        // Both kinds exist from the start, so a replica that never took
        // over an execution shows 0 takeovers rather than nothing.
        for kind in ["first", "resumed"] {
            metrics.claims.add(0, &[KeyValue::new("kind", kind)]);
        }
        metrics
    }

    /// Gauges read at scrape time: pipelines by state, and queue depth.
    pub fn observe_states(&self, pipelines: Weak<Pipelines>) {
        let states = pipelines.clone();
        self.meter
            .u64_observable_gauge("tradeplane.pipelines")
            .with_description("Pipelines by state")
            .with_callback(move |gauge| {
                let Some(pipelines) = states.upgrade() else {
                    return;
                };
                let all = pipelines.list();
                let enabled = all.iter().filter(|c| c.enabled).count() as u64;
                gauge.observe(enabled, &[KeyValue::new("state", "enabled")]);
                gauge.observe(
                    all.len() as u64 - enabled,
                    &[KeyValue::new("state", "paused")],
                );
            })
            .build();
        let drifting = pipelines.clone();
        self.meter
            .u64_observable_gauge("tradeplane.position.drift")
            .with_description(
                "1 while a pipeline's position book disagrees with its venue or its alerts",
            )
            .with_callback(move |gauge| {
                let Some(pipelines) = drifting.upgrade() else {
                    return;
                };
                for compiled in pipelines.list() {
                    for source in DriftSource::ALL {
                        let value = u64::from(pipelines.drifting(&compiled.id, *source));
                        gauge.observe(
                            value,
                            &[
                                KeyValue::new("pipeline", compiled.name.clone()),
                                KeyValue::new("source", source.word()),
                            ],
                        );
                    }
                }
            })
            .build();
        self.meter
            .u64_observable_gauge("tradeplane.execution.queue.depth")
            .with_description("Executions waiting to be claimed")
            .with_callback(move |gauge| {
                if let Some(pipelines) = pipelines.upgrade() {
                    gauge.observe(pipelines.queue_depth(), &[]);
                }
            })
            .build();
    }

    /// A drift of `pipeline`'s book from `source` started.
    pub fn drifted(&self, pipeline: &str, source: &'static str) {
        self.drifts.add(
            1,
            &[
                KeyValue::new("pipeline", pipeline.to_string()),
                KeyValue::new("source", source),
            ],
        );
    }

    /// A signal matched `pipeline`.
    pub fn matched(&self, pipeline: &str) {
        self.matches
            .add(1, &[KeyValue::new("pipeline", pipeline.to_string())]);
    }

    /// A worker claimed `execution` (after its lease ran out, if this is
    /// not its first attempt).
    pub fn claimed(&self, execution: &Execution) {
        let kind = if execution.attempt > 1 {
            "resumed"
        } else {
            "first"
        };
        self.claims.add(1, &[KeyValue::new("kind", kind)]);
    }

    /// An execution ended. One that waits for approval has not: it is
    /// counted once, when the decision ends it (its wait is metered by
    /// `tradeplane_approvals_total{state="pending"}`).
    pub fn finished(&self, execution: &Execution, took: Duration) {
        if execution.status == ExecutionStatus::AwaitingApproval {
            return;
        }
        let pipeline = KeyValue::new("pipeline", execution.pipeline_name.clone());
        let status = execution.status.word();
        self.executions
            .add(1, &[pipeline.clone(), KeyValue::new("status", status)]);
        if execution.status == ExecutionStatus::Skipped {
            self.skips.add(
                1,
                &[
                    pipeline.clone(),
                    KeyValue::new("reason", execution.skip_reason.clone()),
                ],
            );
        }
        if !took.is_zero() {
            self.duration.record(took.as_secs_f64(), &[pipeline]);
        }
        for step in &execution.steps {
            self.step_duration.record(
                step.duration.as_secs_f64(),
                &[KeyValue::new("step", step.name.clone())],
            );
        }
    }

    /// A risk rule refused an order.
    pub fn risk_rejected(&self, pipeline: &str, rule: &'static str) {
        self.risk_rejections.add(
            1,
            &[
                KeyValue::new("pipeline", pipeline.to_string()),
                KeyValue::new("rule", rule),
            ],
        );
    }

    /// An order was held for approval (`pending`) or its approval was
    /// decided (`approved`, `rejected`, `expired`).
    pub fn approval(&self, pipeline: &str, state: ApprovalState) {
        self.approvals.add(
            1,
            &[
                KeyValue::new("pipeline", pipeline.to_string()),
                KeyValue::new("state", state.word()),
            ],
        );
    }

    /// Fees of an execution's order.
    pub fn fees(&self, pipeline: &str, order: &Order) {
        if let Some(fee) = order.fee_total.to_f64() {
            self.fees.add(
                fee,
                &[
                    KeyValue::new("pipeline", pipeline.to_string()),
                    KeyValue::new("asset", order.fee_asset.clone()),
                ],
            );
        }
    }
}

impl Pipelines {
    /// Executions waiting in the queue, as last counted.
    pub fn queue_depth(&self) -> u64 {
        self.queue_depth.load(Ordering::Relaxed)
    }

    /// Recounts the queue when idle workers ask, at most once a second
    /// however many workers are idle.
    pub async fn count_queue(&self) {
        let now = crate::proto_time::now_ms();
        let last = self.queue_counted_ms.load(Ordering::Relaxed);
        if now - last < QUEUE_COUNT_EVERY_MS
            || self
                .queue_counted_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Ok(depth) = self.store.pending_executions().await {
            self.queue_depth.store(depth, Ordering::Relaxed);
        }
    }
}

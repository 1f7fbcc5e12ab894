//! Running a claimed execution: in the trace of the call that queued it,
//! under a lease its worker renews (the heartbeat), so that a lease can be
//! short (another replica takes over a dead one's work within seconds)
//! and still never run out under a live worker; and again, from its first
//! step, while the store cannot be reached.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    Pipelines,
    stop::Stop,
    worker::{Ended, conclude},
};
use crate::{model::execution::Execution, proto_time::now_ms};

/// The first pause before the steps run again on an unreachable store.
const STORE_PAUSE: Duration = Duration::from_millis(200);
/// How long an execution waits for an unreachable store before it fails.
const STORE_PATIENCE: Duration = Duration::from_secs(60);

impl Pipelines {
    /// Runs a claimed execution to its end, continuing the trace
    /// `traceparent` (even after a restart) and keeping its lease of
    /// `lease_ms`.
    pub(super) async fn run_leased(
        &self,
        execution: Execution,
        traceparent: &str,
        lease_ms: i64,
    ) -> Ended {
        let span = tracing::info_span!(
            "execution",
            otel.name = "execution",
            execution = %execution.id,
            pipeline = %execution.pipeline_name,
        );
        let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
        let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
        let trace_id = traceparent.split('-').nth(1).unwrap_or_default();
        let id = execution.id.clone();
        let run = self.run(execution, trace_id).instrument(span);
        self.keeping_lease(&id, lease_ms, run).await
    }

    /// Runs one claimed execution to its end and returns its result, to
    /// be saved with the next claim. While the store cannot be reached, the steps run again from the
    /// start after a pause (the order's request id places it once), for
    /// at most [`STORE_PATIENCE`].
    pub(super) async fn run(&self, execution: Execution, trace_id: &str) -> Ended {
        let started = Instant::now();
        let mut pause = STORE_PAUSE;
        loop {
            let mut attempt = execution.clone();
            match self.steps(&mut attempt, trace_id).await {
                Err(Stop::Unavailable(why)) if started.elapsed() < STORE_PATIENCE => {
                    tracing::warn!(execution = %execution.id, error = %why, "the store is unreachable; running the steps again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STORE_PATIENCE / 8);
                }
                outcome => {
                    conclude(&mut attempt, outcome);
                    return Ended {
                        execution: attempt,
                        took: started.elapsed(),
                    };
                }
            }
        }
    }

    /// Runs `work` while renewing execution `id`'s lease every third of
    /// `lease_ms`: a live worker keeps its execution however long the
    /// venue takes, and one that dies (or whose replica does) loses it
    /// within one lease.
    async fn keeping_lease<T>(&self, id: &str, lease_ms: i64, work: impl Future<Output = T>) -> T {
        let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1).max(1));
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                ended = &mut work => return ended,
                _ = beats.tick() => {
                    if let Err(err) = self.store.renew_lease(id, now_ms() + lease_ms).await {
                        tracing::warn!(error = %err, execution = %id, "cannot renew the execution's lease");
                    }
                }
            }
        }
    }
}

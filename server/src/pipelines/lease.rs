//! Running a claimed execution: in the trace of the call that queued it,
//! under a lease its worker renews (the heartbeat), so that a lease can be
//! short (another replica takes over a dead one's work within seconds)
//! and still never run out under a live worker.

use std::{collections::HashMap, time::Duration};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Pipelines, worker::Ended};
use crate::{model::execution::Execution, proto_time::now_ms};

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

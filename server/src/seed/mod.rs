//! `tradeplane seed`: fills a store with finished history (signals,
//! executions and paper orders) through the [`Store`] operations the
//! server itself uses, so that list latency can be measured at a given
//! table size. Ids are UUIDv7 spread evenly over the past `days`, oldest
//! first. Many writes are kept in flight so that the store's group commit
//! puts hundreds in each transaction.

mod history;

use std::{sync::Arc, time::Instant};

use futures::{StreamExt, TryStreamExt, stream};

use history::{PIPELINES, Slot};

use crate::store::{ExecutionWrite, SignalWrite, Store, StoreError};

/// Writes in flight at once: enough to fill the writer's batches.
const IN_FLIGHT: usize = 2048;

/// How much history to write.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub signals: u64,
    pub executions: u64,
    pub orders: u64,
    /// The history ends now and starts this many days ago.
    pub days: u32,
}

/// What seeding wrote and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct SeedReport {
    pub rows: u64,
    pub seconds: f64,
}

/// Writes `plan`'s history into `store`, ending at `now_ms`. Slot `i`
/// holds signal `i`, execution `i` (of signal `i`, when there is one) and
/// order `i` (placed by execution `i`, when there is one).
pub async fn seed(
    store: Arc<dyn Store>,
    plan: SeedPlan,
    now_ms: i64,
) -> Result<SeedReport, StoreError> {
    let started = Instant::now();
    let slots = plan.signals.max(plan.executions).max(plan.orders);
    let span_ms = i64::from(plan.days.max(1)) * 86_400_000;
    let step_ms = (span_ms / i64::try_from(slots.max(1)).unwrap_or(i64::MAX)).max(1);
    let first_ms = now_ms - step_ms * i64::try_from(slots).unwrap_or(i64::MAX) - 1_000;
    let pipelines: Arc<Vec<String>> = Arc::new(
        (0..PIPELINES)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect(),
    );
    stream::iter(0..slots)
        .map(|index| {
            let store = store.clone();
            let pipelines = pipelines.clone();
            let slot = Slot::new(index, first_ms + step_ms * index as i64);
            async move { write_slot(&*store, &slot, &pipelines, plan).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    Ok(SeedReport {
        rows: plan.signals + plan.executions + plan.orders,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes the rows of one slot, signal first, as the server would.
async fn write_slot(
    store: &dyn Store,
    slot: &Slot,
    pipelines: &[String],
    plan: SeedPlan,
) -> Result<(), StoreError> {
    let has_signal = slot.index < plan.signals;
    let has_execution = slot.index < plan.executions;
    if has_signal {
        store
            .record_signal(SignalWrite::new(&history::signal(slot), None))
            .await?;
    }
    if has_execution {
        let execution = history::execution(slot, pipelines, slot.index < plan.orders);
        store
            .insert_execution(ExecutionWrite {
                execution,
                traceparent: String::new(),
                request_id: None,
                skip_if_running: false,
            })
            .await?;
    }
    if slot.index < plan.orders {
        let execution_id = if has_execution {
            slot.execution_id.as_str()
        } else {
            ""
        };
        store
            .insert_order(&history::order(slot, execution_id), None)
            .await?;
    }
    Ok(())
}

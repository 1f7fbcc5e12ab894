//! Notification metrics: deliveries by channel kind and outcome (both
//! bounded sets), and the outbox's depth, age and dead letters as the
//! dispatcher last read them.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64, Ordering},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};

use crate::{proto_time::now_ms, store::OutboxDepth};

/// The notification instruments.
pub struct NotifyMetrics {
    deliveries: Counter<u64>,
    depth: Arc<Depth>,
}

/// The outbox as last read.
#[derive(Default)]
struct Depth {
    pending: AtomicU64,
    /// ms since the epoch; 0: nothing pending.
    oldest_ms: AtomicI64,
    dead: AtomicU64,
}

impl NotifyMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        let depth = Arc::new(Depth::default());
        let pending = depth.clone();
        meter
            .u64_observable_gauge("tradeplane.notify.outbox.pending")
            .with_description("Notification deliveries waiting to be sent")
            .with_callback(move |gauge| gauge.observe(pending.pending.load(Ordering::Relaxed), &[]))
            .build();
        let oldest = depth.clone();
        meter
            .f64_observable_gauge("tradeplane.notify.outbox.age")
            .with_unit("s")
            .with_description("How long the oldest waiting delivery has waited")
            .with_callback(move |gauge| {
                let since = oldest.oldest_ms.load(Ordering::Relaxed);
                let age = if since == 0 {
                    0
                } else {
                    (now_ms() - since).max(0)
                };
                gauge.observe(age as f64 / 1000.0, &[]);
            })
            .build();
        let dead = depth.clone();
        meter
            .u64_observable_gauge("tradeplane.notify.dead_letters")
            .with_description("Notification deliveries given up on, kept for an operator")
            .with_callback(move |gauge| gauge.observe(dead.dead.load(Ordering::Relaxed), &[]))
            .build();
        Self {
            deliveries: meter
                .u64_counter("tradeplane.notify.deliveries")
                .with_description(
                    "Notification delivery attempts, by channel and outcome (delivered, retry, dead)",
                )
                .build(),
            depth,
        }
    }

    /// Counts one attempt on a `channel` kind ending in `outcome`.
    pub fn attempted(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries.add(
            1,
            &[
                KeyValue::new("channel", channel),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    /// Notes the outbox as just read.
    pub fn observe(&self, depth: OutboxDepth) {
        self.depth.pending.store(depth.pending, Ordering::Relaxed);
        self.depth
            .oldest_ms
            .store(depth.oldest_pending_ms.unwrap_or(0), Ordering::Relaxed);
        self.depth.dead.store(depth.dead, Ordering::Relaxed);
    }
}

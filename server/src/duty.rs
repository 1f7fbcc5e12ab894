//! The upkeep one replica at a time runs: order sync with remote
//! exchanges, the bracket keeper's periodic checks and the approval sweep.
//! On a store several replicas share, the replica holding the store's duty
//! lock runs it; an [`Election`] tries for the lock every [`TRY_EVERY`] and
//! checks, while it holds it, that its connection lives. A replica that
//! dies frees the lock with its connection, and another takes it on its
//! next try. On a store this process alone uses, it is always on duty.
//!
//! Duty is checked before each round, and a round that started on duty
//! finishes: for a moment after a replica's lock connection broke (until
//! its next try sees it), it and the replica that took the lock over may
//! both run a round.

use std::time::Duration;

use opentelemetry::metrics::Meter;
use tokio::sync::watch;

use crate::store::{DutyLock, Lifecycle};

/// How often the lock is tried for, or checked while held.
pub const TRY_EVERY: Duration = Duration::from_secs(1);

/// Whether this replica is on duty, as its [`Election`] last found.
#[derive(Clone)]
pub struct Duty(watch::Receiver<bool>);

impl Duty {
    /// Whether this replica is on duty now.
    pub fn is_on(&self) -> bool {
        *self.0.borrow()
    }
}

/// Keeps trying for the duty lock of a shared store, and says whether it
/// holds it through the [`Duty`] made with it.
pub struct Election {
    lock: DutyLock,
    on: watch::Sender<bool>,
}

/// This replica's duty on `store`, and the election to run (until the
/// server stops) when the store is shared. Duty is metered on `meter` as
/// `tradeplane.replication.duty`.
pub fn elect(store: &dyn Lifecycle, meter: &Meter) -> (Duty, Option<Election>) {
    let lock = store.duty_lock();
    let (on, duty) = watch::channel(lock.is_none());
    let observed = duty.clone();
    meter
        .u64_observable_gauge("tradeplane.replication.duty")
        .with_description(
            "1 while this replica runs the upkeep one replica at a time runs \
             (order sync, the bracket keeper's checks, the approval sweep), else 0",
        )
        .with_callback(move |gauge| gauge.observe(u64::from(*observed.borrow()), &[]))
        .build();
    (Duty(duty), lock.map(|lock| Election { lock, on }))
}

impl Election {
    /// Tries for the lock (or checks the held one) once, and answers
    /// whether this replica is on duty now.
    pub async fn try_now(&mut self) -> bool {
        let held = self.lock.hold().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot hold the duty lock; off duty until the database answers");
            false
        });
        if self.on.send_replace(held) != held {
            tracing::info!(on_duty = held, "this replica's duty changed");
        }
        held
    }

    /// Tries for the lock every [`TRY_EVERY`] until `stopped`, then gives
    /// it up, so that another replica takes over at once.
    pub async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(TRY_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => break,
            }
            self.try_now().await;
        }
        self.on.send_replace(false);
        self.lock.release().await;
    }
}

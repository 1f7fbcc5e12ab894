//! The paper exchange on replicas that share a database. Each replica
//! keeps the paper book in memory; when another replica changes a paper
//! order, this one rebuilds its book, and the paper orders it tracks,
//! from the store: the balances booked there and the open paper orders.
//! Every replica so shows the same balances and resting orders; a resting
//! order that two replicas fill at once is saved once (the store refuses
//! the copy that is behind), and the loser's book is rebuilt.
//!
//! A rebuild must not drop what this replica's own paper operations have
//! done to the book and not recorded yet: it is made only while none is in
//! flight and none started since the store was read.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use super::{OrderDesk, ledger};
use crate::{
    model::order::{Order, OrderStatus, OrderTicket},
    orders::exchanges::{Exchange, ExchangeOrder},
    store::{OrderQuery, Store, StoreError, walk_orders},
};

/// How often a rebuild waits for operations in flight before it gives up
/// until the next change or reload.
const ATTEMPTS: usize = 25;
const PAUSE: Duration = Duration::from_millis(20);
/// The least time between two rebuilds: under load, changes heard
/// meanwhile wait for one rebuild instead of each making one.
const GAP: Duration = Duration::from_millis(200);

/// Counts this replica's paper operations.
#[derive(Default)]
pub(super) struct PaperOps {
    /// Operations in flight.
    active: AtomicUsize,
    /// Operations ever started.
    started: AtomicU64,
}

/// One operation in flight, until dropped.
pub(super) struct PaperOp<'a>(&'a PaperOps);

impl PaperOps {
    /// Marks an operation that may change the paper book and record it.
    pub fn begin(&self) -> PaperOp<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.active.fetch_add(1, Ordering::SeqCst);
        PaperOp(self)
    }
}

impl Drop for PaperOp<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl OrderDesk {
    /// Another replica changed an order (or may have): the paper book is
    /// rebuilt by [`OrderDesk::follow_paper`], once for any number of
    /// changes heard meanwhile.
    pub fn changed_elsewhere(&self) {
        self.paper_changed.notify_one();
    }

    /// Rebuilds the paper book after changes other replicas made, until
    /// `stopped`.
    pub async fn follow_paper(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.paper_changed.notified() => {}
                _ = stopped.changed() => return,
            }
            if let Err(err) = self.rebuild_paper().await {
                tracing::warn!(error = %err, "cannot read the shared paper book; the next change tries again");
            }
            tokio::select! {
                _ = tokio::time::sleep(GAP) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// Rebuilds the paper book and the tracked paper orders from the
    /// store, once no paper operation of this replica is in flight.
    async fn rebuild_paper(&self) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let started = self.paper_ops.started.load(Ordering::SeqCst);
            if self.paper_ops.active.load(Ordering::SeqCst) == 0 {
                let (settled, perps, open) = stored_paper(&*self.store, self.paper.name()).await?;
                let resting = resting(&open);
                let quiet = || {
                    let quiet = self.paper_ops.active.load(Ordering::SeqCst) == 0
                        && self.paper_ops.started.load(Ordering::SeqCst) == started;
                    if quiet {
                        self.retrack_paper(open);
                    }
                    quiet
                };
                if self.paper.restore(&settled, &perps, &resting, quiet) {
                    return Ok(());
                }
            }
            tokio::time::sleep(PAUSE).await;
        }
        tracing::info!(
            "the paper book stayed busy; it follows the other replicas at the next change"
        );
        Ok(())
    }

    /// Tracks exactly the `open` paper orders (and every other exchange's
    /// as before).
    fn retrack_paper(&self, open: Vec<Order>) {
        let paper = self.paper.name();
        if let Ok(mut tracked) = self.open.lock() {
            tracked.retain(|_, order| order.exchange != paper);
            tracked.extend(open.into_iter().map(|o| (o.client_order_id.clone(), o)));
        }
    }
}

/// The paper book as `store` has it: the balances the fills on `paper`
/// moved, its perpetuals, and its open orders.
pub(super) async fn stored_paper(
    store: &dyn Store,
    paper: &str,
) -> Result<(ledger::Settled, ledger::Perps, Vec<Order>), StoreError> {
    let settled = ledger::paper_settled(store).await?;
    let perps = ledger::paper_perps(store).await?;
    let filter = OrderQuery {
        exchange: Some(paper.to_string()),
        statuses: OrderStatus::OPEN.to_vec(),
        ..Default::default()
    };
    Ok((settled, perps, walk_orders(store, filter).await?))
}

/// What rests on the paper book of `open` paper orders: those past `new`
/// (a paper order still new never reached the book; recovery sends it).
pub(super) fn resting(open: &[Order]) -> Vec<(OrderTicket, ExchangeOrder)> {
    open.iter()
        .filter(|o| o.status != OrderStatus::New)
        .map(|o| (o.ticket(), o.exchange_view()))
        .collect()
}

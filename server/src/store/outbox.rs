//! The notification outbox. Every change a trader hears about is
//! reported by an audit event written in the change's own transaction;
//! the audit chain is the outbox's log. A dispatcher reads the chain
//! after its cursor and turns each event into one delivery per matching
//! subscription, advancing the cursor in the same transaction, so that
//! an event is never lost, never reported for a change that did not
//! commit, and never queued twice for one subscription, whichever
//! replica reads it. Deliveries are then claimed under a lease, sent,
//! and settled: delivered, retried later, or dead.

use async_trait::async_trait;

use super::StoreError;
use crate::words::word_enum;

/// A delivery to queue: one audit event (by its sequence) for one
/// subscription (by name), with the message rendered for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub sequence: i64,
    pub subscription: String,
    /// The rendered message (JSON), sent as it is on every attempt.
    pub body: String,
    pub created_ms: i64,
}

word_enum! {
    /// Where a delivery stands.
    pub enum DeliveryState {
        /// Waiting for its (next) attempt.
        Pending => "pending",
        Delivered => "delivered",
        /// Refused for good, or out of attempts: kept for an operator.
        Dead => "dead",
    }
}

/// A queued delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub sequence: i64,
    pub subscription: String,
    pub body: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this (ms since the epoch).
    pub next_attempt_ms: i64,
    /// Why the last attempt failed; empty if none did.
    pub last_error: String,
    pub created_ms: i64,
    /// The end of the lease the delivery is held under (ms); 0 when no
    /// one holds it. A settlement names it, so a holder whose lease ran
    /// out (and which another process may have claimed since) settles
    /// nothing.
    pub lease_until_ms: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    Delivered,
    /// Try again at `next_attempt_ms`.
    Retry {
        next_attempt_ms: i64,
        error: String,
    },
    /// Give up: refused for good, or out of attempts.
    Dead {
        error: String,
    },
}

/// Which deliveries to list: one state, newest (highest sequence) first,
/// then by subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryQuery {
    /// Only those in this state; `None`: every state.
    pub state: Option<DeliveryState>,
    /// Only this subscription's.
    pub subscription: Option<String>,
    /// Only those after this `(sequence, subscription)` in the listing's
    /// order (the page cursor).
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// How deep the outbox is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxDepth {
    /// Deliveries waiting.
    pub pending: u64,
    /// When the oldest waiting one was queued (ms); `None` when none is.
    pub oldest_pending_ms: Option<i64>,
    /// Dead letters kept.
    pub dead: u64,
}

/// Storage of the notification outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// The sequence of the last audit event turned into deliveries (0
    /// before any).
    async fn outbox_cursor(&self) -> Result<i64, StoreError>;
    /// Queues `deliveries` and moves the cursor to `through` (never
    /// back) in one transaction. A delivery already queued for its
    /// sequence and subscription is kept as it is: queuing is idempotent.
    async fn queue_deliveries(
        &self,
        through: i64,
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` pending deliveries due at `now_ms` that no
    /// one holds, oldest first, and holds them until `lease_until_ms`:
    /// of several replicas claiming at once, each delivery goes to one.
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Records how an attempt at `claimed` ended (the attempt counted,
    /// the lease released), if the claim's lease still holds it; false
    /// (and nothing changed) when the delivery is no longer pending or
    /// its lease ran out and was claimed again.
    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        settlement: &Settlement,
    ) -> Result<bool, StoreError>;
    /// Deliveries of one state, newest first, at most `limit`.
    async fn list_deliveries(
        &self,
        state: DeliveryState,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.query_deliveries(&DeliveryQuery {
            state: Some(state),
            subscription: None,
            after: None,
            limit,
        })
        .await
    }
    /// The deliveries `query` names, in its order.
    async fn query_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;
    /// How deep the outbox is.
    async fn outbox_depth(&self) -> Result<OutboxDepth, StoreError>;
}

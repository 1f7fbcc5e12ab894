//! An approval: the order of a pipeline that requires approval, held in
//! the approval queue with everything needed to place it later (the full
//! request and its origin). Its life: pending → approved | rejected |
//! expired, decided once.

use super::order::{OrderOrigin, OrderRequest};
use crate::words::word_enum;

word_enum! {
    /// Where an approval is in its life.
    pub enum ApprovalState {
        /// Waiting for an operator.
        Pending => "pending",
        /// An operator approved it; its order was placed.
        Approved => "approved",
        /// An operator refused it.
        Rejected => "rejected",
        /// Nobody decided before its expiry.
        Expired => "expired",
    }
}

/// A held order and its decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// UUIDv7.
    pub id: String,
    /// The execution whose order step it holds (one approval each).
    pub execution_id: String,
    pub pipeline_name: String,
    /// The order to place; its request id is the execution's order
    /// request id, so placing it twice places it once.
    pub request: OrderRequest,
    /// Pipeline, execution, signal and role of the order.
    pub origin: OrderOrigin,
    pub state: ApprovalState,
    pub create_time_ms: i64,
    /// When a pending approval expires.
    pub expire_time_ms: i64,
    /// Who decided, and when, once decided.
    pub decision: Option<Decision>,
}

/// How an approval was decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `Approved`, `Rejected` or `Expired`.
    pub state: ApprovalState,
    /// The operator's identity, or `system` for an expiry.
    pub by: String,
    /// Why (a rejection's reason; empty for an approval).
    pub reason: String,
    pub time_ms: i64,
}

/// The actor of an expiry.
pub const SYSTEM_ACTOR: &str = "system";

//! The approval queue: orders held for an operator. A backend inserts
//! (one approval per execution), lists, and decides in one conditional
//! write, so that of two operators deciding at once exactly one wins.

use async_trait::async_trait;

use super::{AuditRow, StoreError};
use crate::model::approval::{Approval, ApprovalState, Decision};

/// Filter and page for listing approvals, newest first.
#[derive(Debug, Clone, Default)]
pub struct ApprovalQuery {
    /// Empty: every state.
    pub states: Vec<ApprovalState>,
    pub pipeline_id: Option<String>,
    /// Only approvals that expire at or before this time (ms).
    pub expire_by_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// What holding an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalInsert {
    /// Held, with the audit events that report it (chained).
    Inserted(Vec<AuditRow>),
    /// The execution already holds this approval (a resumed execution):
    /// nothing was written.
    Existing(Box<Approval>),
}

/// What deciding an approval did.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// This decision was recorded; the approval as it now is, and the
    /// audit events appended with it (chained).
    Won(Box<Approval>, Vec<AuditRow>),
    /// Someone decided first: the approval is already in this state.
    AlreadyDecided(ApprovalState),
    /// No approval has that id.
    NotFound,
}

/// Storage of the approval queue.
#[async_trait]
pub trait ApprovalStore: Send + Sync + 'static {
    /// Holds an order and, in the same transaction, appends the audit
    /// events that report it; an execution that already holds one (a
    /// resumed execution) gets the first approval back instead, and no
    /// event is appended.
    async fn insert_approval(
        &self,
        approval: &Approval,
        audit: Vec<AuditRow>,
    ) -> Result<ApprovalInsert, StoreError>;
    /// One approval by id.
    async fn get_approval(&self, id: &str) -> Result<Option<Approval>, StoreError>;
    /// The approval an execution holds.
    async fn approval_of_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<Approval>, StoreError>;
    /// Approvals matching `query`, newest first.
    async fn list_approvals(&self, query: &ApprovalQuery) -> Result<Vec<Approval>, StoreError>;
    /// Records `decision` on approval `id` if, and only if, it is still
    /// pending (one conditional write), and with it, in the same
    /// transaction, appends the audit events that report it; a decision
    /// that loses appends none.
    async fn decide_approval(
        &self,
        id: &str,
        decision: &Decision,
        audit: Vec<AuditRow>,
    ) -> Result<Decided, StoreError>;
}

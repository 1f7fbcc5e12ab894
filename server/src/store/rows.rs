//! Rows read back as records, for any sqlx backend: the columns are
//! named, so a backend's `SELECT` lists them in any order.

use sqlx::{ColumnIndex, Decode, Row, Type};
use tradeplane_api as pb;

use super::{ApiKeyRow, AuditRow, StoreError, query::decode};
use crate::model::approval::{Approval, ApprovalState, Decision};

/// An audit event from its row.
pub fn audit_row<R>(row: &R) -> Result<AuditRow, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i32: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(AuditRow {
        sequence: row.try_get("sequence")?,
        time_ms: row.try_get("time_ms")?,
        actor: row.try_get("actor")?,
        source_address: row.try_get("source_address")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        trace_id: row.try_get("trace_id")?,
        previous_hash: row.try_get("previous_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// An API key from its row.
pub fn api_key_row<R>(row: &R) -> Result<ApiKeyRow, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i32: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        prefix: row.try_get("prefix")?,
        token_hash: row.try_get("token_hash")?,
        create_ms: row.try_get("create_ms")?,
        expire_ms: row.try_get("expire_ms")?,
        last_used_ms: row.try_get("last_used_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
        request_id: row.try_get("request_id")?,
    })
}

/// The approval state stored as `word`; a word no state has is corrupt
/// data.
pub fn approval_state(word: &str) -> Result<ApprovalState, StoreError> {
    ApprovalState::from_word(word)
        .ok_or_else(|| StoreError::Corrupt(format!("approval state `{word}`")))
}

/// An approval from its row (`body, state, decided_by, reason,
/// decide_ms`): the held body, with the decision columns once decided.
pub fn approval_row<R>(row: &R) -> Result<Approval, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let body: Vec<u8> = row.try_get("body")?;
    let mut approval: Approval = decode::<pb::Approval, _>("approval", &body)?;
    let state = approval_state(&row.try_get::<String, _>("state")?)?;
    if state != ApprovalState::Pending {
        approval.state = state;
        approval.decision = Some(Decision {
            state,
            by: row.try_get("decided_by")?,
            reason: row.try_get("reason")?,
            time_ms: row.try_get("decide_ms")?,
        });
    }
    Ok(approval)
}

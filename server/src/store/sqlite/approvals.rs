//! The approval queue. A row's body is the protobuf `Approval` as it was
//! held (pending); the decision is in its columns, written by one
//! conditional `UPDATE … WHERE state = 'pending'`.

use crate::store::lists;
use crate::store::rows::{approval_row, approval_state};
use async_trait::async_trait;
use prost::Message;
use rusqlite::{OptionalExtension, params};
use sqlx::Sqlite;
use tradeplane_api as pb;

use super::SqliteStore;
use crate::store::query::decode;
use crate::{
    model::approval::{Approval, ApprovalState, Decision},
    store::{ApprovalInsert, ApprovalQuery, ApprovalStore, AuditRow, Decided, StoreError},
};

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn insert_approval(
        &self,
        approval: &Approval,
        audit: Vec<AuditRow>,
    ) -> Result<ApprovalInsert, StoreError> {
        let approval = approval.clone();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let existing: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT body FROM approvals WHERE execution_id = ?1",
                    [&approval.execution_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(body) = existing {
                let held = decode::<pb::Approval, _>("approval", &body)?;
                return Ok(ApprovalInsert::Existing(Box::new(held)));
            }
            tx.execute(
                "INSERT INTO approvals (id, execution_id, pipeline_id, state, expire_ms, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    approval.id,
                    approval.execution_id,
                    approval.origin.pipeline_id,
                    approval.state.word(),
                    approval.expire_time_ms,
                    pb::Approval::from(&approval).encode_to_vec(),
                ],
            )?;
            let audit = super::audit::append(&tx, audit)?;
            tx.commit()?;
            Ok(ApprovalInsert::Inserted(audit))
        })
        .await
    }

    async fn get_approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        self.approval_where("id", id).await
    }

    async fn approval_of_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        self.approval_where("execution_id", execution_id).await
    }

    async fn list_approvals(&self, query: &ApprovalQuery) -> Result<Vec<Approval>, StoreError> {
        let rows = lists::approvals::<Sqlite>(query)
            .build()
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(approval_row).collect()
    }

    async fn decide_approval(
        &self,
        id: &str,
        decision: &Decision,
        audit: Vec<AuditRow>,
    ) -> Result<Decided, StoreError> {
        let id = id.to_string();
        let decision = decision.clone();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let decided = tx.execute(
                "UPDATE approvals SET state = ?2, decided_by = ?3, reason = ?4, decide_ms = ?5 \
                 WHERE id = ?1 AND state = ?6",
                params![
                    id,
                    decision.state.word(),
                    decision.by,
                    decision.reason,
                    decision.time_ms,
                    ApprovalState::Pending.word(),
                ],
            )?;
            let body: Option<(Vec<u8>, String)> = tx
                .query_row(
                    "SELECT body, state FROM approvals WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((body, state)) = body else {
                return Ok(Decided::NotFound);
            };
            if decided == 0 {
                return Ok(Decided::AlreadyDecided(approval_state(&state)?));
            }
            let mut approval: Approval = decode::<pb::Approval, _>("approval", &body)?;
            approval.state = decision.state;
            approval.decision = Some(decision);
            let audit = super::audit::append(&tx, audit)?;
            tx.commit()?;
            Ok(Decided::Won(Box::new(approval), audit))
        })
        .await
    }
}

impl SqliteStore {
    /// The approval whose `column` is `value`.
    async fn approval_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let row = lists::approval_where::<Sqlite>(column, value)
            .build()
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(approval_row).transpose()
    }
}

//! The approval queue. A row's body is the protobuf `Approval` as it was
//! held (pending); the decision is in its columns. Both writes are single
//! statements that the database arbitrates between replicas: the unique
//! `execution_id` keeps one approval per execution (the insert appends its
//! audit events in its transaction only when it wins), and a decision is one
//! `UPDATE … WHERE state = 'pending'`, which a concurrent decision waits
//! behind and then no longer matches.

use crate::store::lists::{self, APPROVAL_COLUMNS};
use crate::store::rows::{approval_row, approval_state};
use async_trait::async_trait;
use prost::Message;
use sqlx::Postgres;
use tradeplane_api as pb;

use super::PostgresStore;
use crate::{
    model::approval::{Approval, ApprovalState, Decision},
    store::{ApprovalInsert, ApprovalQuery, ApprovalStore, AuditRow, Decided, StoreError},
};

#[async_trait]
impl ApprovalStore for PostgresStore {
    async fn insert_approval(
        &self,
        approval: &Approval,
        audit: Vec<AuditRow>,
    ) -> Result<ApprovalInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO approvals (id, execution_id, pipeline_id, state, expire_ms, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (execution_id) DO NOTHING",
        )
        .bind(&approval.id)
        .bind(&approval.execution_id)
        .bind(&approval.origin.pipeline_id)
        .bind(approval.state.word())
        .bind(approval.expire_time_ms)
        .bind(pb::Approval::from(approval).encode_to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            let audit = super::audit::append(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(ApprovalInsert::Inserted(audit));
        }
        tx.rollback().await?;
        // The conflicting approval has committed (the insert waited for
        // it), so this later statement sees it.
        let held = self
            .approval_of_execution(&approval.execution_id)
            .await?
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "the approval of execution {} conflicted but cannot be read",
                    approval.execution_id
                ))
            })?;
        Ok(ApprovalInsert::Existing(Box::new(held)))
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
        let rows = lists::approvals::<Postgres>(query)
            .build()
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(approval_row).collect()
    }

    async fn decide_approval(
        &self,
        id: &str,
        decision: &Decision,
        audit: Vec<AuditRow>,
    ) -> Result<Decided, StoreError> {
        let mut tx = self.pool.begin().await?;
        let won = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE approvals SET state = $2, decided_by = $3, reason = $4, decide_ms = $5 \
             WHERE id = $1 AND state = $6 RETURNING {APPROVAL_COLUMNS}"
        )))
        .bind(id)
        .bind(decision.state.word())
        .bind(&decision.by)
        .bind(&decision.reason)
        .bind(decision.time_ms)
        .bind(ApprovalState::Pending.word())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = won {
            let approval = approval_row(&row)?;
            let audit = super::audit::append(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(Decided::Won(Box::new(approval), audit));
        }
        tx.rollback().await?;
        // Not pending, or not there: a decided approval never changes
        // again, so this later read sees the decision that came first.
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM approvals WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match state {
            Some(state) => Decided::AlreadyDecided(approval_state(&state)?),
            None => Decided::NotFound,
        })
    }
}

impl PostgresStore {
    /// The approval whose `column` is `value`.
    async fn approval_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let row = lists::approval_where::<Postgres>(column, value)
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(approval_row).transpose()
    }
}

//! The approval queue. A row's body is the protobuf `Approval` as it was
//! held (pending); the decision is in its columns, written by one
//! conditional `UPDATE … WHERE state = 'pending'`.

use async_trait::async_trait;
use prost::Message;
use rusqlite::{OptionalExtension, params};
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use tradeplane_api as pb;

use super::{SqliteStore, query::decode};
use crate::{
    model::approval::{Approval, ApprovalState, Decision},
    store::{ApprovalQuery, ApprovalStore, Decided, StoreError},
};

/// The columns a read needs.
const COLUMNS: &str = "SELECT body, state, decided_by, reason, decide_ms FROM approvals";

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn insert_approval(&self, approval: &Approval) -> Result<Approval, StoreError> {
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
                return decode::<pb::Approval, _>("approval", &body);
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
            tx.commit()?;
            Ok(approval)
        })
        .await
    }

    async fn get_approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(read).transpose()
    }

    async fn approval_of_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE execution_id = ?"
        )))
        .bind(execution_id)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(read).transpose()
    }

    async fn list_approvals(&self, query: &ApprovalQuery) -> Result<Vec<Approval>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(COLUMNS);
        sql.push(" WHERE 1 = 1");
        if !query.states.is_empty() {
            sql.push(" AND state IN (");
            let mut states = sql.separated(", ");
            for state in &query.states {
                states.push_bind(state.word());
            }
            sql.push(")");
        }
        if let Some(pipeline_id) = &query.pipeline_id {
            sql.push(" AND pipeline_id = ")
                .push_bind(pipeline_id.clone());
        }
        if let Some(expire_by) = query.expire_by_ms {
            sql.push(" AND expire_ms <= ").push_bind(expire_by);
        }
        if let Some(before) = &query.before_id {
            sql.push(" AND id < ").push_bind(before.clone());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.readers).await?;
        rows.iter().map(read).collect()
    }

    async fn decide_approval(&self, id: &str, decision: &Decision) -> Result<Decided, StoreError> {
        let id = id.to_string();
        let decision = decision.clone();
        self.run(move |conn| {
            let decided = conn.execute(
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
            let body: Option<(Vec<u8>, String)> = conn
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
                return Ok(Decided::AlreadyDecided(state_named(&state)?));
            }
            let mut approval: Approval = decode::<pb::Approval, _>("approval", &body)?;
            approval.state = decision.state;
            approval.decision = Some(decision);
            Ok(Decided::Won(Box::new(approval)))
        })
        .await
    }
}

/// The state stored as `word`; a word no state has is corrupt data.
fn state_named(word: &str) -> Result<ApprovalState, StoreError> {
    ApprovalState::from_word(word)
        .ok_or_else(|| StoreError::Corrupt(format!("approval state `{word}`")))
}

/// An approval from its row: the held body, with the decision columns.
fn read(row: &SqliteRow) -> Result<Approval, StoreError> {
    let body: Vec<u8> = row.try_get("body")?;
    let mut approval: Approval = decode::<pb::Approval, _>("approval", &body)?;
    let state = state_named(&row.try_get::<String, _>("state")?)?;
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

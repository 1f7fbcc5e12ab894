//! Pipelines: inserts (idempotent on `request_id`, unique by name, at most
//! `max_pipelines` of them across every replica), updates, deletes and
//! reads. Inserts run one at a time under a transaction-scoped advisory
//! lock, so that a count is still true when the insert commits; names are
//! kept unique by the database's constraint.

use async_trait::async_trait;
use prost::Message;
use sqlx::{Postgres, QueryBuilder};
use tradeplane_api::Pipeline;

use super::PostgresStore;
use crate::store::query::{decode, fetch_bodies};
use crate::store::{PipelineInsert, PipelineStore, StoreError};

/// The advisory lock key that serialises pipeline inserts across replicas.
const PIPELINE_INSERT_LOCK: i64 = 0x7472_6164_6570_6970; // "tradepip"

/// The unique constraint on pipeline names.
const NAME_CONSTRAINT: &str = "pipelines_name_key";

#[async_trait]
impl PipelineStore for PostgresStore {
    /// Under the insert lock: the replay first, then the limit, then the
    /// insert, which a taken name (also by a concurrent rename) skips.
    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
        max_pipelines: usize,
    ) -> Result<PipelineInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PIPELINE_INSERT_LOCK)
            .execute(&mut *tx)
            .await?;
        let seen: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM pipelines WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(body) = seen {
            let first = decode::<Pipeline, _>("pipeline", &body)?;
            return Ok(PipelineInsert::RequestSeen(Box::new(first)));
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pipelines")
            .fetch_one(&mut *tx)
            .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_pipelines {
            return Ok(PipelineInsert::LimitReached);
        }
        let inserted = sqlx::query(
            "INSERT INTO pipelines (id, name, state, exchange, request_id, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&pipeline.id)
        .bind(&pipeline.name)
        .bind(pipeline.state)
        .bind(&pipeline.exchange)
        .bind(request_id)
        .bind(pipeline.encode_to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if inserted > 0 {
            PipelineInsert::Inserted
        } else {
            PipelineInsert::NameTaken
        })
    }

    /// One statement, so a rename onto a taken name fails alone: the
    /// constraint's refusal is the answer.
    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE pipelines SET name = $2, state = $3, exchange = $4, body = $5 WHERE id = $1",
        )
        .bind(&pipeline.id)
        .bind(&pipeline.name)
        .bind(pipeline.state)
        .bind(&pipeline.exchange)
        .bind(pipeline.encode_to_vec())
        .execute(&self.pool)
        .await;
        match updated {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(err))
                if err.is_unique_violation() && err.constraint() == Some(NAME_CONSTRAINT) =>
            {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM pipelines WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// By name in byte order, as SQLite sorts them, whatever the
    /// database's collation.
    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError> {
        let sql =
            QueryBuilder::<Postgres>::new("SELECT body FROM pipelines ORDER BY name COLLATE \"C\"");
        fetch_bodies::<_, Pipeline, _>(sql, &self.pool, "pipeline").await
    }
}

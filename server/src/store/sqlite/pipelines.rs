//! Pipelines: inserts (idempotent on `request_id`, unique by name),
//! updates, deletes and reads.

use async_trait::async_trait;
use prost::Message;
use rusqlite::{OptionalExtension, params};
use sqlx::{QueryBuilder, Sqlite};
use tradeplane_api::Pipeline;

use super::SqliteStore;
use crate::store::query::{decode, fetch_bodies};
use crate::store::{PipelineInsert, PipelineStore, StoreError};

#[async_trait]
impl PipelineStore for SqliteStore {
    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
        max_pipelines: usize,
    ) -> Result<PipelineInsert, StoreError> {
        let pipeline = pipeline.clone();
        let request_id = request_id.map(str::to_string);
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            if let Some(request_id) = &request_id {
                let existing: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT body FROM pipelines WHERE request_id = ?1",
                        [request_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(body) = existing {
                    return Ok(PipelineInsert::RequestSeen(Box::new(decode::<Pipeline, _>(
                        "pipeline", &body,
                    )?)));
                }
            }
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM pipelines", [], |r| r.get(0))?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_pipelines {
                return Ok(PipelineInsert::LimitReached);
            }
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM pipelines WHERE name = ?1)",
                [&pipeline.name],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(PipelineInsert::NameTaken);
            }
            tx.execute(
                "INSERT INTO pipelines (id, name, state, exchange, request_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    pipeline.id,
                    pipeline.name,
                    pipeline.state,
                    pipeline.exchange,
                    request_id,
                    pipeline.encode_to_vec()
                ],
            )?;
            tx.commit()?;
            Ok(PipelineInsert::Inserted)
        })
        .await
    }

    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError> {
        let pipeline = pipeline.clone();
        self.run(move |conn| {
            let taken: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pipelines WHERE name = ?1 AND id != ?2)",
                params![pipeline.name, pipeline.id],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(false);
            }
            conn.execute(
                "UPDATE pipelines SET name = ?2, state = ?3, exchange = ?4, body = ?5 WHERE id = ?1",
                params![
                    pipeline.id,
                    pipeline.name,
                    pipeline.state,
                    pipeline.exchange,
                    pipeline.encode_to_vec()
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.run(move |conn| Ok(conn.execute("DELETE FROM pipelines WHERE id = ?1", [id])? > 0))
            .await
    }

    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError> {
        let sql = QueryBuilder::<Sqlite>::new("SELECT body FROM pipelines ORDER BY name");
        fetch_bodies::<_, Pipeline, _>(sql, &self.readers, "pipeline").await
    }
}

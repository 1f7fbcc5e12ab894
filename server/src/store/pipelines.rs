//! Pipeline definitions, unique by name.

use async_trait::async_trait;
use tradeplane_api::Pipeline;

use super::StoreError;

/// What inserting a pipeline did.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineInsert {
    Inserted,
    /// A pipeline was already created for this `request_id`: here it is.
    RequestSeen(Box<Pipeline>),
    /// Another pipeline has this name.
    NameTaken,
    /// There are `max_pipelines` pipelines already.
    LimitReached,
}

/// Storage of pipelines.
#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    /// Stores a new pipeline, unless its `request_id` was seen (checked
    /// first, so a replay always finds its pipeline), there are
    /// `max_pipelines` already, or its name is taken.
    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
        max_pipelines: usize,
    ) -> Result<PipelineInsert, StoreError>;
    /// Saves a pipeline's new state; false when its name is taken.
    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError>;
    /// Deletes a pipeline; false when there was none.
    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError>;
    /// Every pipeline, by name.
    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError>;
}

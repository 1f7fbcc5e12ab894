//! Pipelines: unique names, idempotent creation, updates and deletes.

use tradeplane_api::Pipeline;

use super::TestBackend;
use crate::store::PipelineInsert;

fn pipeline(id: &str, name: &str) -> Pipeline {
    Pipeline {
        id: id.into(),
        name: name.into(),
        exchange: "paper".into(),
        ..Default::default()
    }
}

pub async fn pipelines_are_unique_by_name_and_request(backend: &impl TestBackend) {
    let store = backend.open().await;
    let beta = pipeline("p1", "beta");
    assert_eq!(
        store.insert_pipeline(&beta, Some("req"), 10).await.unwrap(),
        PipelineInsert::Inserted
    );
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p2", "other"), Some("req"), 10)
            .await
            .unwrap(),
        PipelineInsert::RequestSeen(Box::new(beta.clone())),
    );
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p3", "beta"), None, 10)
            .await
            .unwrap(),
        PipelineInsert::NameTaken,
    );
    let alpha = pipeline("p4", "alpha");
    store.insert_pipeline(&alpha, None, 10).await.unwrap();
    let names = |list: Vec<Pipeline>| list.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_pipelines().await.unwrap()),
        ["alpha", "beta"]
    );
    assert!(
        !store
            .update_pipeline(&pipeline("p4", "beta"))
            .await
            .unwrap(),
        "a rename onto a taken name is refused"
    );
    assert!(
        store
            .update_pipeline(&pipeline("p4", "gamma"))
            .await
            .unwrap()
    );
    assert_eq!(
        names(store.list_pipelines().await.unwrap()),
        ["beta", "gamma"]
    );
    assert!(store.delete_pipeline("p1").await.unwrap());
    assert!(!store.delete_pipeline("p1").await.unwrap(), "deleted once");
    assert_eq!(names(store.list_pipelines().await.unwrap()), ["gamma"]);
}

pub async fn a_replay_is_answered_before_the_pipeline_limit(backend: &impl TestBackend) {
    let store = backend.open().await;
    let first = pipeline("p1", "first");
    store.insert_pipeline(&first, Some("req"), 1).await.unwrap();
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p2", "second"), Some("req"), 1)
            .await
            .unwrap(),
        PipelineInsert::RequestSeen(Box::new(first)),
    );
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p3", "third"), Some("other"), 1)
            .await
            .unwrap(),
        PipelineInsert::LimitReached,
    );
    assert_eq!(store.list_pipelines().await.unwrap().len(), 1);
}

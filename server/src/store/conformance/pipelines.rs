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
        store.insert_pipeline(&beta, Some("req")).await.unwrap(),
        PipelineInsert::Inserted
    );
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p2", "other"), Some("req"))
            .await
            .unwrap(),
        PipelineInsert::RequestSeen(Box::new(beta.clone())),
    );
    assert_eq!(
        store
            .insert_pipeline(&pipeline("p3", "beta"), None)
            .await
            .unwrap(),
        PipelineInsert::NameTaken,
    );
    let alpha = pipeline("p4", "alpha");
    store.insert_pipeline(&alpha, None).await.unwrap();
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

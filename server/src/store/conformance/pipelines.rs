//! Pipelines: unique names, idempotent creation, updates and deletes.

use tradeplane_api::Pipeline;

use super::TestBackend;
use crate::store::PipelineInsert;

fn pipeline(id: &str, name: &str) -> Pipeline {
    Pipeline {
        id: id.into(),
        name: name.into(),
        exchange: "paper".into(),
        // Kept whole, a perpetual's leverage and margin mode included.
        order: Some(tradeplane_api::OrderSettings {
            leverage: 20,
            margin_mode: tradeplane_api::MarginMode::Cross as i32,
            ..Default::default()
        }),
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

pub async fn the_pipeline_limit_holds_across_replicas(backend: &impl TestBackend) {
    const LIMIT: usize = 5;
    let replicas = [backend.open().await, backend.open().await];
    let mut tasks = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for i in 0..2 * LIMIT {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("replica-{r}-{i}");
                store
                    .insert_pipeline(&pipeline(&name, &name), Some(&name), LIMIT)
                    .await
                    .unwrap()
            }));
        }
    }
    let mut inserted = 0;
    for task in tasks {
        match task.await.unwrap() {
            PipelineInsert::Inserted => inserted += 1,
            refused => assert_eq!(refused, PipelineInsert::LimitReached),
        }
    }
    assert_eq!(inserted, LIMIT);
    assert_eq!(replicas[1].list_pipelines().await.unwrap().len(), LIMIT);
}

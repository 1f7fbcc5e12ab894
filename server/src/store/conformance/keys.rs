//! API keys: insert, `request_id` replay, revoking once, last use.

use super::TestBackend;
use crate::store::{ApiKeyInsert, ApiKeyRow};

fn key(id: &str, request_id: Option<&str>) -> ApiKeyRow {
    ApiKeyRow {
        id: id.into(),
        name: format!("key-{id}"),
        role: 2,
        prefix: "tp_".into(),
        token_hash: id.as_bytes().to_vec(),
        create_ms: 5,
        expire_ms: Some(1_000),
        last_used_ms: None,
        revoked_ms: None,
        request_id: request_id.map(str::to_string),
    }
}

pub async fn api_keys_insert_replay_revoke_and_use(backend: &impl TestBackend) {
    let store = backend.open().await;
    let first = key("k2", Some("req"));
    assert_eq!(
        store.insert_api_key(first.clone()).await.unwrap(),
        ApiKeyInsert::Inserted
    );
    assert_eq!(
        store.insert_api_key(key("k3", Some("req"))).await.unwrap(),
        ApiKeyInsert::RequestSeen(Box::new(first.clone())),
    );
    store.insert_api_key(key("k1", None)).await.unwrap();
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    assert_eq!(listed[1], first);

    let revoked = store.revoke_api_key("k2", 50).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_ms, Some(50));
    let again = store.revoke_api_key("k2", 60).await.unwrap().unwrap();
    assert_eq!(again.revoked_ms, Some(50), "revoked once");
    assert_eq!(store.revoke_api_key("missing", 60).await.unwrap(), None);

    store
        .record_key_use(vec![("k1".into(), 70), ("k2".into(), 80)])
        .await
        .unwrap();
    let used: Vec<_> = store
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.last_used_ms)
        .collect();
    assert_eq!(used, [Some(70), Some(80)]);
}

//! API keys: insert, `request_id` replay, revoking once, last use.

use super::{TestBackend, audit::event};
use crate::store::{ApiKeyInsert, ApiKeyRow, AuditQuery, AuditRow};

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

/// The event that reports `action` on key `id`.
fn report(action: &str, id: &str) -> Vec<AuditRow> {
    vec![AuditRow {
        target: id.into(),
        ..event("admin", action, 1, 5)
    }]
}

pub async fn api_keys_insert_replay_revoke_and_use(backend: &impl TestBackend) {
    let store = backend.open().await;
    let first = key("k2", Some("req"));
    let ApiKeyInsert::Inserted(created) = store
        .insert_api_key(first.clone(), report("api_key.create", "k2"))
        .await
        .unwrap()
    else {
        panic!("k2 is new");
    };
    assert_eq!(
        store
            .insert_api_key(key("k3", Some("req")), report("api_key.create", "k3"))
            .await
            .unwrap(),
        ApiKeyInsert::RequestSeen(Box::new(first.clone())),
    );
    store
        .insert_api_key(key("k1", None), Vec::new())
        .await
        .unwrap();
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    assert_eq!(listed[1], first);

    let (revoked, revocation) = store
        .revoke_api_key("k2", 50, report("api_key.revoke", "k2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_ms, Some(50));
    let (again, repeated) = store
        .revoke_api_key("k2", 60, report("api_key.revoke", "k2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_ms, Some(50), "revoked once");
    assert_eq!(repeated, [], "and reported once");
    assert_eq!(
        store
            .revoke_api_key("missing", 60, report("api_key.revoke", "missing"))
            .await
            .unwrap(),
        None
    );
    let reported = store
        .list_audit(&AuditQuery {
            action_prefix: Some("api_key.".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        reported,
        [revocation, created].concat(),
        "each change with its event, newest first; a replay, a repeat and a miss add none"
    );

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

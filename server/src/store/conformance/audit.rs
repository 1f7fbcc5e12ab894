//! The audit log and settings: the chain assigned on append, listing,
//! walking, two writers on one database, appends made once per action
//! and target, and settings written atomically with their events.

use super::TestBackend;
use crate::store::{AuditQuery, AuditRow, verify_chain};

/// An unchained event.
pub(super) fn event(actor: &str, action: &str, outcome: i32, time_ms: i64) -> AuditRow {
    AuditRow {
        time_ms,
        actor: actor.into(),
        action: action.into(),
        target: "t".into(),
        outcome,
        ..Default::default()
    }
}

pub async fn audit_events_chain_list_and_walk(backend: &impl TestBackend) {
    let store = backend.open().await;
    let stored = store
        .append_audit(vec![
            event("alice", "order.place", 1, 10),
            event("bob", "order.cancel", 2, 20),
        ])
        .await
        .unwrap();
    assert_eq!(
        stored.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(stored[0].previous_hash, "");
    assert_eq!(stored[1].previous_hash, stored[0].hash);
    store
        .append_audit(vec![event("alice", "pipeline.run", 1, 30)])
        .await
        .unwrap();
    let sequences = |rows: Vec<AuditRow>| rows.into_iter().map(|e| e.sequence).collect::<Vec<_>>();
    let all = |limit| AuditQuery {
        limit,
        ..Default::default()
    };
    let listed = store.list_audit(&all(10)).await.unwrap();
    assert_eq!(listed[2], stored[0], "stored as returned");
    assert_eq!(sequences(listed), [3, 2, 1], "newest first");
    let query = AuditQuery {
        before_sequence: Some(3),
        ..all(1)
    };
    assert_eq!(sequences(store.list_audit(&query).await.unwrap()), [2]);
    let query = AuditQuery {
        actor: Some("alice".into()),
        action_prefix: Some("order.".into()),
        ..all(10)
    };
    assert_eq!(sequences(store.list_audit(&query).await.unwrap()), [1]);
    let query = AuditQuery {
        outcome: Some(1),
        start_ms: Some(10),
        end_ms: Some(30),
        ..all(10)
    };
    assert_eq!(sequences(store.list_audit(&query).await.unwrap()), [1]);
    assert_eq!(sequences(store.audit_after(1, 10).await.unwrap()), [2, 3]);
    assert_eq!(sequences(store.audit_after(0, 1).await.unwrap()), [1]);
    let verification = verify_chain(&*store).await.unwrap();
    assert_eq!(
        (verification.events_checked, verification.first_broken),
        (3, None)
    );
}

pub async fn two_writers_form_one_audit_chain(backend: &impl TestBackend) {
    let writers = [backend.open().await, backend.open().await];
    let mut tasks = Vec::new();
    for (w, store) in writers.iter().enumerate() {
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let actor = format!("writer-{w}");
                if i % 4 == 0 {
                    store
                        .put_setting(
                            &format!("{actor}.{i}"),
                            "1".into(),
                            vec![event(&actor, "setting.put", 1, i)],
                        )
                        .await
                        .unwrap();
                } else {
                    store
                        .append_audit(vec![event(&actor, "x", 1, i), event(&actor, "y", 1, i)])
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verification = verify_chain(&*writers[0]).await.unwrap();
    assert_eq!(verification.first_broken, None, "one chain");
    assert_eq!(verification.events_checked, 2 * (5 + 15 * 2));
}

pub async fn an_event_is_appended_once_per_action_and_target(backend: &impl TestBackend) {
    let writers = [backend.open().await, backend.open().await];
    writers[0]
        .append_audit(vec![event("system", "x", 1, 1)])
        .await
        .unwrap();
    let report = |target: &str| AuditRow {
        target: target.into(),
        ..event("system", "report.daily_pnl", 1, 2)
    };
    let tries = writers.iter().flat_map(|store| {
        (0..4).map(|_| {
            let (store, row) = (store.clone(), report("day-1"));
            tokio::spawn(async move { store.append_audit_once(row).await.unwrap() })
        })
    });
    let mut appended = Vec::new();
    for task in tries.collect::<Vec<_>>() {
        appended.extend(task.await.unwrap());
    }
    assert_eq!(
        appended.len(),
        1,
        "one of the writers appends: {appended:?}"
    );
    assert_eq!(
        appended[0].sequence, 2,
        "chained after the log's last event"
    );
    assert_eq!(
        writers[1].append_audit_once(report("day-1")).await.unwrap(),
        None,
        "a later try finds it"
    );
    let next = writers[1].append_audit_once(report("day-2")).await.unwrap();
    assert_eq!(
        next.map(|row| row.sequence),
        Some(3),
        "another target appends"
    );
    let listed = writers[0]
        .list_audit(&AuditQuery {
            action_prefix: Some("report.".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1], appended[0], "stored as returned");
    let verification = verify_chain(&*writers[0]).await.unwrap();
    assert_eq!(
        (verification.events_checked, verification.first_broken),
        (3, None)
    );
}

pub async fn a_setting_commits_with_its_audit_events(backend: &impl TestBackend) {
    let store = backend.open().await;
    assert_eq!(store.get_setting("limits").await.unwrap(), None);
    store
        .append_audit(vec![event("system", "x", 1, 1)])
        .await
        .unwrap();
    let stored = store
        .put_setting(
            "limits",
            r#"{"rate":1}"#.into(),
            vec![event("admin", "rate_limits.update", 1, 2)],
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sequence, 2, "chained after the log's last event");
    assert_eq!(
        store.get_setting("limits").await.unwrap().as_deref(),
        Some(r#"{"rate":1}"#)
    );
    store
        .put_setting("limits", r#"{"rate":2}"#.into(), Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("limits").await.unwrap().as_deref(),
        Some(r#"{"rate":2}"#),
        "a later value replaces the first"
    );
    let listed = store
        .list_audit(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed[0], stored[0]);
    store.close().await;
    assert!(
        store
            .put_setting("limits", "3".into(), vec![event("admin", "x", 1, 3)])
            .await
            .is_err()
    );
    let reopened = backend.open().await;
    assert_eq!(
        reopened.get_setting("limits").await.unwrap().as_deref(),
        Some(r#"{"rate":2}"#)
    );
    assert_eq!(verify_chain(&*reopened).await.unwrap().events_checked, 2);
}

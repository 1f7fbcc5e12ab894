//! The execution queue: claims under caller-given rules (skip, queue,
//! resume after a lease), idempotent inserts, leases of updated
//! executions, ends saved with their audit events, paging and filters,
//! and claims and inserts that replicas make at once.

use std::{sync::Arc, time::Duration};

use super::{TestBackend, event, id_at, queued};
use crate::{
    model::execution::{Execution, ExecutionStatus},
    store::{
        AuditQuery, AuditRow, Claim, ClaimRules, ExecutionQuery, ExecutionWrite, Store,
        verify_chain,
    },
};

const LEASE: i64 = 1_000;

/// Rules of a claim at `now_ms`, as a domain would give them: PENDING
/// waits, RUNNING holds a lease; starting counts an attempt, skipping
/// gives a reason and reports it.
fn rules(now_ms: i64) -> ClaimRules {
    ClaimRules {
        now_ms,
        lease_ms: LEASE,
        queued: ExecutionStatus::Pending,
        running: ExecutionStatus::Running,
        start: |execution, _| {
            execution.status = ExecutionStatus::Running;
            execution.attempt += 1;
        },
        skip: |execution, now_ms| {
            execution.status = ExecutionStatus::Skipped;
            execution.skip_reason = "already_running".into();
            vec![reported("execution.skip", &execution.id, now_ms)]
        },
    }
}

/// An unchained event that reports `action` on execution `id`.
fn reported(action: &str, id: &str, time_ms: i64) -> AuditRow {
    AuditRow {
        target: id.into(),
        ..event("system", action, 2, time_ms)
    }
}

/// What a claim at `now_ms` that finishes nothing finds.
async fn claim(store: &Arc<dyn Store>, now_ms: i64) -> Claim {
    let claimed = store
        .claim_execution(rules(now_ms), None, Vec::new())
        .await
        .unwrap();
    claimed.claim
}

/// The action and target of each event.
fn reports(events: &[AuditRow]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect()
}

fn skipping(id: &str, pipeline: &str) -> ExecutionWrite {
    ExecutionWrite {
        skip_if_running: true,
        ..queued(id, pipeline, "")
    }
}

pub async fn claims_skip_or_queue_behind_a_running_execution_and_resume_expired_leases(
    backend: &impl TestBackend,
) {
    let store = backend.open().await;
    for write in [
        skipping("e1", "skip"),
        skipping("e2", "skip"),
        queued("e3", "queue", ""),
        queued("e4", "queue", ""),
    ] {
        store.insert_execution(write).await.unwrap();
    }
    let Claim::Run {
        execution,
        traceparent,
    } = claim(&store, 0).await
    else {
        panic!("e1 runs")
    };
    assert_eq!((execution.id.as_str(), execution.attempt), ("e1", 1));
    assert_eq!(traceparent, "trace-of-e1");
    let Claim::Skipped(skipped) = claim(&store, 1).await else {
        panic!("e2 skips: e1 is running")
    };
    assert_eq!(
        (skipped.id.as_str(), skipped.skip_reason.as_str()),
        ("e2", "already_running")
    );
    let Claim::Run { execution, .. } = claim(&store, 2).await else {
        panic!("e3 runs")
    };
    assert_eq!(execution.id, "e3");
    assert_eq!(claim(&store, 3).await, Claim::Idle, "e4 waits behind e3");
    assert_eq!(store.pending_executions().await.unwrap(), 1);
    // e1's worker died: after its lease, it is resumed.
    let Claim::Run { execution, .. } = claim(&store, 1_500).await else {
        panic!("e1 resumes")
    };
    assert_eq!((execution.id.as_str(), execution.attempt), ("e1", 2));
    let stored = store.get_execution("e2").await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Skipped, "the skip is saved");
}

pub async fn executions_are_inserted_once_and_page(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut ids = Vec::new();
    for i in 0..4u16 {
        let id = id_at(1_000 * u64::from(i + 1), i);
        let mut write = queued(&id, if i < 2 { "p" } else { "q" }, &format!("s{}", i % 2));
        write.request_id = Some(format!("run-{i}"));
        store.insert_execution(write).await.unwrap();
        ids.push(id);
    }
    let mut retry = queued("other", "p", "");
    retry.request_id = Some("run-0".into());
    let first = store.insert_execution(retry).await.unwrap();
    assert_eq!(first.id, ids[0], "a repeated request_id returns the first");
    assert_eq!(store.get_execution("other").await.unwrap(), None);

    let mut done = store.get_execution(ids[1].as_str()).await.unwrap().unwrap();
    done.status = ExecutionStatus::Succeeded;
    store.update_execution(&done, Vec::new()).await.unwrap();
    assert_eq!(
        store.get_execution(ids[1].as_str()).await.unwrap(),
        Some(done)
    );

    let page = |q: ExecutionQuery| {
        let store = store.clone();
        async move {
            let found = store.list_executions(&q).await.unwrap();
            found.into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    let all = |limit| ExecutionQuery {
        limit,
        ..Default::default()
    };
    assert_eq!(page(all(2)).await, [ids[3].as_str(), ids[2].as_str()]);
    let next = ExecutionQuery {
        before_id: Some(ids[2].clone()),
        ..all(10)
    };
    assert_eq!(page(next).await, [ids[1].as_str(), ids[0].as_str()]);
    let filtered = ExecutionQuery {
        pipeline_id: Some("p".into()),
        statuses: vec![ExecutionStatus::Pending],
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[0].as_str()]);
    let filtered = ExecutionQuery {
        signal_id: Some("s1".into()),
        end_ms: Some(4_000),
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[1].as_str()]);
    assert_eq!(store.pending_executions().await.unwrap(), 3);
}

pub async fn a_finished_execution_drops_its_lease(backend: &impl TestBackend) {
    let store = backend.open().await;
    store.insert_execution(queued("a", "p", "")).await.unwrap();
    store.insert_execution(queued("b", "p", "")).await.unwrap();
    let Claim::Run { execution, .. } = claim(&store, 0).await else {
        panic!("a runs")
    };
    let mut progressed: Execution = *execution;
    progressed.steps.push(Default::default());
    store
        .update_execution(&progressed, Vec::new())
        .await
        .unwrap();
    assert_eq!(
        claim(&store, 10).await,
        Claim::Idle,
        "a running execution keeps its lease when updated"
    );
    progressed.status = ExecutionStatus::Succeeded;
    let Claim::Run { execution, .. } = store
        .claim_execution(rules(20), Some(progressed.clone()), Vec::new())
        .await
        .unwrap()
        .claim
    else {
        panic!("b runs once a has finished, saved by the same claim")
    };
    assert_eq!(execution.id, "b");
    assert_eq!(
        store.get_execution("a").await.unwrap(),
        Some(progressed),
        "the finished execution was saved with the claim"
    );
}

/// A renewed lease keeps a running execution from being resumed after
/// its first lease would have run out; an ended one has none to renew.
pub async fn a_renewed_lease_keeps_the_execution(backend: &impl TestBackend) {
    let store = backend.open().await;
    store.insert_execution(queued("a", "p", "")).await.unwrap();
    let Claim::Run { execution, .. } = claim(&store, 0).await else {
        panic!("a runs")
    };
    assert!(store.renew_lease("a", 3 * LEASE).await.unwrap());
    assert_eq!(
        claim(&store, 2 * LEASE).await,
        Claim::Idle,
        "the renewed lease has not run out"
    );
    let Claim::Run {
        execution: resumed, ..
    } = claim(&store, 3 * LEASE + 1).await
    else {
        panic!("a lease that is no longer renewed runs out")
    };
    assert_eq!(resumed.id, execution.id);
    let mut ended = *resumed;
    ended.status = ExecutionStatus::Succeeded;
    store.update_execution(&ended, Vec::new()).await.unwrap();
    assert!(
        !store.renew_lease("a", 10 * LEASE).await.unwrap(),
        "an ended execution holds no lease"
    );
    assert!(!store.renew_lease("missing", 10 * LEASE).await.unwrap());
}

/// Replicas (two stores on one database, two workers each) that claim at
/// once, each finishing its execution with its next claim, never take one
/// execution twice, nor run two executions of one pipeline at once.
pub async fn replicas_never_run_two_executions_of_one_pipeline_at_once(backend: &impl TestBackend) {
    let replicas = [backend.open().await, backend.open().await];
    let mut ids = Vec::new();
    for i in 0..24u16 {
        let id = id_at(1_000 + u64::from(i), i);
        let write = queued(&id, &format!("p{}", i % 3), "");
        replicas[0].insert_execution(write).await.unwrap();
        ids.push(id);
    }
    // A worker's failure ends the check (and aborts the others, which
    // would wait behind its execution forever).
    let mut workers = tokio::task::JoinSet::new();
    for store in replicas.iter().chain(&replicas) {
        let store = store.clone();
        workers.spawn(async move {
            let mut ran = Vec::new();
            let mut held: Option<Execution> = None;
            loop {
                let finished = held.take().map(|mut execution| {
                    execution.status = ExecutionStatus::Succeeded;
                    execution
                });
                let report = finished
                    .iter()
                    .map(|e| reported("execution.end", &e.id, 0))
                    .collect();
                let claimed = store.claim_execution(rules(0), finished, report);
                match claimed.await.unwrap().claim {
                    Claim::Run { execution, .. } => {
                        let running = ExecutionQuery {
                            pipeline_id: Some(execution.pipeline_id.clone()),
                            statuses: vec![ExecutionStatus::Running],
                            limit: 10,
                            ..Default::default()
                        };
                        let running = store.list_executions(&running).await.unwrap();
                        assert_eq!(
                            running.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                            [execution.id.as_str()],
                            "one execution of a pipeline runs at a time"
                        );
                        ran.push(execution.id.clone());
                        held = Some(*execution);
                    }
                    Claim::Skipped(execution) => panic!("{} is not to skip", execution.id),
                    Claim::Idle if store.pending_executions().await.unwrap() == 0 => {
                        return ran;
                    }
                    Claim::Idle => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        });
    }
    let mut ran = Vec::new();
    while let Some(worker) = workers.join_next().await {
        ran.extend(worker.unwrap());
    }
    ran.sort();
    assert_eq!(ran, ids, "every execution ran once");
    let all = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    let events = replicas[0].list_audit(&all).await.unwrap();
    let mut ended: Vec<_> = reports(&events).into_iter().map(|(_, id)| id).collect();
    ended.sort();
    assert_eq!(ended, ids, "each end was reported once, with its save");
    let verified = verify_chain(&*replicas[1]).await.unwrap();
    assert_eq!((verified.events_checked, verified.first_broken), (24, None));
    for id in &ids {
        let stored = replicas[1].get_execution(id).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.attempt),
            (ExecutionStatus::Succeeded, 1)
        );
    }
}

/// Replicas that receive one run request at once create one execution,
/// and every one of them answers with it.
pub async fn concurrent_runs_of_one_request_insert_one_execution(backend: &impl TestBackend) {
    let replicas = [backend.open().await, backend.open().await];
    let mut tasks = Vec::new();
    for i in 0..20u16 {
        let store = replicas[usize::from(i % 2)].clone();
        let mut write = queued(&id_at(1_000, i), "p", "");
        write.request_id = Some("run".into());
        tasks.push(tokio::spawn(async move {
            store.insert_execution(write).await.unwrap().id
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let query = ExecutionQuery {
        limit: 100,
        ..Default::default()
    };
    let stored = replicas[0].list_executions(&query).await.unwrap();
    assert_eq!(stored.len(), 1, "one execution per request");
    assert!(
        answers.iter().all(|id| *id == stored[0].id),
        "every replica answers with the first"
    );
}

/// An execution's end commits with the events that report it: a skip
/// with the claim that skips it, a failure with the claim that saves it or
/// with its update, each chained; a write that does not commit leaves no
/// event.
pub async fn an_executions_end_commits_with_its_audit_events(backend: &impl TestBackend) {
    let store = backend.open().await;
    for write in [skipping("a", "p"), skipping("b", "p"), queued("c", "q", "")] {
        store.insert_execution(write).await.unwrap();
    }
    let started = store
        .claim_execution(rules(0), None, Vec::new())
        .await
        .unwrap();
    let Claim::Run { execution: a, .. } = started.claim else {
        panic!("a runs")
    };
    assert_eq!(started.audit, [], "a start reports nothing");
    let skipped = store
        .claim_execution(rules(1), None, Vec::new())
        .await
        .unwrap();
    assert!(matches!(&skipped.claim, Claim::Skipped(b) if b.id == "b"));
    assert_eq!(reports(&skipped.audit), [("execution.skip", "b")]);
    assert_eq!(skipped.audit[0].sequence, 1);

    let mut failed = *a;
    failed.status = ExecutionStatus::Failed;
    let finished = store
        .claim_execution(
            rules(2),
            Some(failed.clone()),
            vec![reported("execution.fail", "a", 2)],
        )
        .await
        .unwrap();
    let Claim::Run { execution: c, .. } = finished.claim else {
        panic!("c runs")
    };
    assert_eq!(reports(&finished.audit), [("execution.fail", "a")]);
    assert_eq!(
        (finished.audit[0].sequence, &finished.audit[0].previous_hash),
        (2, &skipped.audit[0].hash),
        "chained after the skip"
    );
    let mut failed_alone = *c;
    failed_alone.status = ExecutionStatus::Failed;
    let updated = store
        .update_execution(&failed_alone, vec![reported("execution.fail", "c", 3)])
        .await
        .unwrap();
    assert_eq!(reports(&updated), [("execution.fail", "c")]);
    assert_eq!(updated[0].sequence, 3);

    store.close().await;
    let mut later = failed_alone.clone();
    later.error = "not saved".into();
    assert!(
        store
            .update_execution(&later, vec![reported("execution.fail", "c", 4)])
            .await
            .is_err()
    );
    let reopened = backend.open().await;
    let all = AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let events = reopened.list_audit(&all).await.unwrap();
    assert_eq!(
        reports(&events),
        [
            ("execution.fail", "c"),
            ("execution.fail", "a"),
            ("execution.skip", "b")
        ],
        "each event committed with its change, and only those"
    );
    for (id, status) in [
        ("a", ExecutionStatus::Failed),
        ("b", ExecutionStatus::Skipped),
        ("c", ExecutionStatus::Failed),
    ] {
        let stored = reopened.get_execution(id).await.unwrap().unwrap();
        assert_eq!(stored.status, status, "{id}");
    }
    assert_eq!(
        reopened.get_execution("c").await.unwrap(),
        Some(failed_alone)
    );
    assert_eq!(verify_chain(&*reopened).await.unwrap().events_checked, 3);
}

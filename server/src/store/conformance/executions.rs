//! The execution queue: claims under caller-given rules (skip, queue,
//! resume after a lease), idempotent inserts, leases of updated
//! executions, paging and filters.

use super::{TestBackend, id_at, queued};
use crate::{
    model::execution::{Execution, ExecutionStatus},
    store::{Claim, ClaimRules, ExecutionQuery, ExecutionWrite},
};

const LEASE: i64 = 1_000;

/// Rules of a claim at `now_ms`, as a domain would give them: PENDING
/// waits, RUNNING holds a lease; starting counts an attempt, skipping
/// gives a reason.
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
        skip: |execution, _| {
            execution.status = ExecutionStatus::Skipped;
            execution.skip_reason = "already_running".into();
        },
    }
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
    } = store.claim_execution(rules(0), None).await.unwrap()
    else {
        panic!("e1 runs")
    };
    assert_eq!((execution.id.as_str(), execution.attempt), ("e1", 1));
    assert_eq!(traceparent, "trace-of-e1");
    let Claim::Skipped(skipped) = store.claim_execution(rules(1), None).await.unwrap() else {
        panic!("e2 skips: e1 is running")
    };
    assert_eq!(
        (skipped.id.as_str(), skipped.skip_reason.as_str()),
        ("e2", "already_running")
    );
    let Claim::Run { execution, .. } = store.claim_execution(rules(2), None).await.unwrap() else {
        panic!("e3 runs")
    };
    assert_eq!(execution.id, "e3");
    assert_eq!(
        store.claim_execution(rules(3), None).await.unwrap(),
        Claim::Idle,
        "e4 waits behind e3"
    );
    assert_eq!(store.pending_executions().await.unwrap(), 1);
    // e1's worker died: after its lease, it is resumed.
    let Claim::Run { execution, .. } = store.claim_execution(rules(1_500), None).await.unwrap()
    else {
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
    store.update_execution(&done).await.unwrap();
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
    let Claim::Run { execution, .. } = store.claim_execution(rules(0), None).await.unwrap() else {
        panic!("a runs")
    };
    let mut progressed: Execution = *execution;
    progressed.steps.push(Default::default());
    store.update_execution(&progressed).await.unwrap();
    assert_eq!(
        store.claim_execution(rules(10), None).await.unwrap(),
        Claim::Idle,
        "a running execution keeps its lease when updated"
    );
    progressed.status = ExecutionStatus::Succeeded;
    let Claim::Run { execution, .. } = store
        .claim_execution(rules(20), Some(progressed.clone()))
        .await
        .unwrap()
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

//! The approval queue: one approval per execution, held with its audit
//! event (a replay appends none, even when two stores hold at once),
//! filters, and decisions taken once even when two stores decide at the
//! same moment.

use rust_decimal::Decimal;

use super::{TestBackend, event, id_at};
use crate::{
    market::side::Side,
    model::{
        approval::{Approval, ApprovalState, Decision},
        order::{OrderOrigin, OrderRequest, OrderRole, OrderType, TimeInForce},
    },
    store::{ApprovalInsert, ApprovalQuery, AuditQuery, AuditRow, Decided, Store, verify_chain},
};

fn held(id: &str, execution: &str, pipeline: &str, expire_ms: i64) -> Approval {
    Approval {
        id: id.into(),
        execution_id: execution.into(),
        pipeline_name: format!("{pipeline}-name"),
        request: OrderRequest {
            request_id: format!("execution:{execution}"),
            exchange: "paper".into(),
            account: "default".into(),
            symbol: "BTC/USDT".into(),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            quantity: Decimal::new(1, 3),
            price: None,
            stop_price: None,
            reference_price: Some(Decimal::new(60000, 0)),
            trailing_delta_bips: None,
            // Every field of a held order comes back.
            reduce_only: true,
            attachment: None,
        },
        origin: OrderOrigin {
            pipeline_id: pipeline.into(),
            execution_id: execution.into(),
            signal_id: "s".into(),
            role: Some(OrderRole::Entry),
            ..Default::default()
        },
        state: ApprovalState::Pending,
        create_time_ms: 1_000,
        expire_time_ms: expire_ms,
        decision: None,
    }
}

/// The unchained event that reports holding `approval`.
fn hold_event(approval: &Approval) -> Vec<AuditRow> {
    vec![AuditRow {
        target: approval.id.clone(),
        ..event("system", "approval.hold", 1, approval.create_time_ms)
    }]
}

/// The event that reports `by`'s decision on `approval`.
fn decision_event(approval: &Approval, by: &str) -> Vec<AuditRow> {
    vec![AuditRow {
        target: approval.id.clone(),
        ..event(by, "approval.approve", 1, approval.create_time_ms + 1)
    }]
}

/// The targets of the stored approval.hold events, newest first.
async fn holds_reported(store: &dyn Store) -> Vec<String> {
    reported(store, "approval.hold")
        .await
        .into_iter()
        .map(|e| e.target)
        .collect()
}

/// The stored events of `action`, newest first.
async fn reported(store: &dyn Store, action: &str) -> Vec<AuditRow> {
    let holds = AuditQuery {
        action_prefix: Some(action.into()),
        limit: 100,
        ..Default::default()
    };
    store.list_audit(&holds).await.unwrap()
}

fn decision(state: ApprovalState, by: &str) -> Decision {
    Decision {
        state,
        by: by.into(),
        reason: format!("{by} says so"),
        time_ms: 2_000,
    }
}

pub async fn approvals_are_held_once_per_execution_and_filter(backend: &impl TestBackend) {
    let store = backend.open().await;
    let first = held(&id_at(1_000, 1), "e1", "p1", 10_000);
    let ApprovalInsert::Inserted(reported) = store
        .insert_approval(&first, hold_event(&first))
        .await
        .unwrap()
    else {
        panic!("the first approval of e1 is held")
    };
    assert_eq!(
        (
            reported.len(),
            reported[0].sequence,
            reported[0].target.as_str()
        ),
        (1, 1, first.id.as_str()),
        "held with its event, chained"
    );
    let again = held(&id_at(1_000, 2), "e1", "p1", 10_000);
    assert_eq!(
        store
            .insert_approval(&again, hold_event(&again))
            .await
            .unwrap(),
        ApprovalInsert::Existing(Box::new(first.clone())),
        "a resumed execution finds its first approval"
    );
    assert_eq!(
        holds_reported(&*store).await,
        [first.id.as_str()],
        "a replay reports nothing"
    );
    let second = held(&id_at(2_000, 1), "e2", "p2", 5_000);
    store
        .insert_approval(&second, hold_event(&second))
        .await
        .unwrap();
    let ids = |list: Vec<Approval>| list.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = ApprovalQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_approvals(&all).await.unwrap()),
        [second.id.clone(), first.id.clone()]
    );
    let of_p1 = ApprovalQuery {
        pipeline_id: Some("p1".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_approvals(&of_p1).await.unwrap()),
        [first.id.as_str()]
    );
    let due = ApprovalQuery {
        expire_by_ms: Some(6_000),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_approvals(&due).await.unwrap()),
        [second.id.as_str()]
    );
    let page = ApprovalQuery {
        before_id: Some(second.id.clone()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_approvals(&page).await.unwrap()),
        [first.id.as_str()]
    );
    assert_eq!(
        store.approval_of_execution("e2").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.get_approval("missing").await.unwrap(), None);

    let rejected = decision(ApprovalState::Rejected, "ops");
    store
        .decide_approval(&second.id, &rejected, Vec::new())
        .await
        .unwrap();
    let pending = ApprovalQuery {
        states: vec![ApprovalState::Pending],
        ..all
    };
    assert_eq!(
        ids(store.list_approvals(&pending).await.unwrap()),
        [first.id]
    );
    let read = store.get_approval(&second.id).await.unwrap().unwrap();
    assert_eq!(read.state, ApprovalState::Rejected);
    assert_eq!(read.decision, Some(rejected));
}

pub async fn an_approval_is_decided_once_under_concurrent_decisions(backend: &impl TestBackend) {
    let one = backend.open().await;
    let two = backend.open().await;
    let approval = held(&id_at(3_000, 1), "e3", "p1", 10_000);
    one.insert_approval(&approval, Vec::new()).await.unwrap();
    let (alice, bob) = (
        decision(ApprovalState::Approved, "alice"),
        decision(ApprovalState::Approved, "bob"),
    );
    let (a, b) = tokio::join!(
        one.decide_approval(&approval.id, &alice, decision_event(&approval, "alice")),
        two.decide_approval(&approval.id, &bob, decision_event(&approval, "bob")),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let won: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Decided::Won(approval, audit) => Some((approval.clone(), audit.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    let (won, audit) = &won[0];
    let approvals = reported(&*one, "approval.approve").await;
    assert_eq!(
        &approvals, audit,
        "the winner's event alone, stored with it"
    );
    assert_eq!(approvals[0].actor, won.decision.as_ref().unwrap().by);
    assert!(
        outcomes.contains(&Decided::AlreadyDecided(ApprovalState::Approved)),
        "{outcomes:?}"
    );
    let stored = one.get_approval(&approval.id).await.unwrap().unwrap();
    assert_eq!(stored, **won, "the winner's decision is the stored one");
    assert_eq!(
        one.decide_approval(
            &approval.id,
            &decision(ApprovalState::Expired, "system"),
            decision_event(&approval, "system"),
        )
        .await
        .unwrap(),
        Decided::AlreadyDecided(ApprovalState::Approved),
        "an expiry after a decision changes nothing"
    );
    assert_eq!(
        one.decide_approval(
            "missing",
            &decision(ApprovalState::Rejected, "ops"),
            decision_event(&approval, "ops"),
        )
        .await
        .unwrap(),
        Decided::NotFound
    );
    assert_eq!(
        reported(&*one, "approval.").await.len(),
        1,
        "decisions that lost appended nothing"
    );
}

/// Stores that hold an order for one execution at once keep one approval
/// and append one event, for it: the others find it and append none.
pub async fn a_held_order_is_audited_once_under_concurrent_holds(backend: &impl TestBackend) {
    let replicas = [backend.open().await, backend.open().await];
    let mut holds = tokio::task::JoinSet::new();
    for n in 0..10u16 {
        let store = replicas[usize::from(n % 2)].clone();
        let approval = held(&id_at(4_000, n), "e4", "p1", 10_000);
        holds.spawn(async move {
            let report = hold_event(&approval);
            store.insert_approval(&approval, report).await.unwrap()
        });
    }
    let mut inserted = 0;
    let mut found = Vec::new();
    while let Some(hold) = holds.join_next().await {
        match hold.unwrap() {
            ApprovalInsert::Inserted(events) => {
                assert_eq!(events.len(), 1);
                inserted += 1;
            }
            ApprovalInsert::Existing(approval) => found.push(approval.id),
        }
    }
    assert_eq!(inserted, 1, "one hold wins");
    let winner = replicas[1]
        .approval_of_execution("e4")
        .await
        .unwrap()
        .unwrap();
    assert!(found.iter().all(|id| *id == winner.id), "{found:?}");
    assert_eq!(
        holds_reported(&*replicas[0]).await,
        [winner.id],
        "only the winner is reported"
    );
    assert_eq!(verify_chain(&*replicas[0]).await.unwrap().events_checked, 1);
}

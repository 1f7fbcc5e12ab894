//! Approvals end to end: a pipeline that requires approval holds its
//! orders in the approval queue; approving places the order exactly once
//! (even when two operators approve at the same moment), rejecting and
//! expiring cancel the execution, every decision is audited, and tpctl
//! lists, watches and approves.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    ADMIN_KEY, TestServer, audit_events, binary, create_pipeline, error_reason, list_orders,
    mock_binance::MockBinance, run_pipeline, settled, workspace_root,
};

/// A BTC pipeline on `exchange` whose orders wait `expiry` for approval.
fn held_pipeline(name: &str, exchange: &str, expiry: Duration) -> Pipeline {
    Pipeline {
        name: name.into(),
        exchange: exchange.into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                symbol_glob: "BTC/*".into(),
                ..Default::default()
            })),
        }),
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.001".into())),
        }),
        approval: Some(ApprovalPolicy {
            required: true,
            expiry: prost_types::Duration::try_from(expiry).ok(),
        }),
        ..Default::default()
    }
}

fn status(execution: &Execution) -> ExecutionStatus {
    ExecutionStatus::try_from(execution.status).expect("a status")
}

/// Runs `pipeline` with a buy and checks that it waits for approval.
async fn held_run(client: &Client, pipeline: &Pipeline) -> Execution {
    let execution = run_pipeline(client, pipeline, "buy", "50000", "").await;
    assert_eq!(
        status(&execution),
        ExecutionStatus::AwaitingApproval,
        "{execution:?}"
    );
    assert!(execution.order_ids.is_empty(), "{execution:?}");
    execution
}

/// The one approval that holds `execution`'s order.
async fn approval_of(client: &Client, execution: &Execution) -> Approval {
    let approvals = client
        .pipelines()
        .list_approvals(ListApprovalsRequest {
            pipeline_id: execution.pipeline_id.clone(),
            ..Default::default()
        })
        .await
        .expect("ListApprovals answers")
        .into_inner()
        .approvals;
    let mine: Vec<_> = approvals
        .into_iter()
        .filter(|a| a.execution_id == execution.id)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    mine[0].clone()
}

async fn approve(client: &Client, id: &str) -> Result<ApproveOrderResponse, tonic::Status> {
    client
        .pipelines()
        .approve_order(ApproveOrderRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

async fn reject(
    client: &Client,
    id: &str,
    reason: &str,
) -> Result<RejectOrderResponse, tonic::Status> {
    client
        .pipelines()
        .reject_order(RejectOrderRequest {
            id: id.into(),
            reason: reason.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Two operators approve the same held order at the same moment: one
/// wins, the other is told it is already approved, and the exchange sees
/// one order. Both attempts are audited under each operator's name.
#[tokio::test]
async fn two_operators_approving_at_once_place_the_order_once() {
    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let admin = server.client().await;
    let pipeline = create_pipeline(
        &admin,
        held_pipeline("held-binance", "binance", Duration::from_secs(600)),
    )
    .await;
    let execution = held_run(&admin, &pipeline).await;
    assert!(
        mock.orders().is_empty(),
        "nothing reaches the exchange before approval"
    );
    let approval = approval_of(&admin, &execution).await;
    assert_eq!(approval.state, ApprovalState::Pending as i32);
    let order = approval.order.clone().expect("the held order");
    assert_eq!(
        (order.symbol.as_str(), order.quantity.as_str(), order.side),
        ("BTC/USDT", "0.001", Side::Buy as i32)
    );

    let viewer = server
        .client_with_key(Some(&server.create_key("watcher", Role::Viewer).await))
        .await;
    let refused = approve(&viewer, &approval.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let alice = server
        .client_with_key(Some(&server.create_key("alice", Role::Trader).await))
        .await;
    let bob = server
        .client_with_key(Some(&server.create_key("bob", Role::Trader).await))
        .await;
    let (a, b) = tokio::join!(approve(&alice, &approval.id), approve(&bob, &approval.id));
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one approval must win: {other:?}"),
    };
    assert_eq!(lost.code(), Code::FailedPrecondition, "{lost:?}");
    assert_eq!(error_reason(&lost), "APPROVAL_DECIDED");
    assert!(lost.message().contains("already approved"), "{lost:?}");

    let decided = won.approval.expect("the approval");
    assert_eq!(decided.state, ApprovalState::Approved as i32);
    let winner = decided.decided_by.clone();
    assert!(["alice", "bob"].contains(&winner.as_str()), "{decided:?}");
    let finished = won.execution.expect("the execution");
    assert_eq!(
        status(&finished),
        ExecutionStatus::Succeeded,
        "{finished:?}"
    );
    assert_eq!(finished.order_ids.len(), 1, "{finished:?}");
    assert_eq!(
        status(&settled(&admin, &execution.id).await),
        ExecutionStatus::Succeeded
    );
    let sent = mock.orders();
    assert_eq!(sent.len(), 1, "one order at the exchange: {sent:?}");
    assert_eq!(mock.orders_with_client_id(&sent[0].client_order_id), 1);

    let again = approve(&alice, &approval.id).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(mock.orders().len(), 1, "a late approval sends nothing");

    let events = audit_events(&admin, "approval.approve").await;
    let outcome_of = |actor: &str| {
        events
            .iter()
            .filter(|e| e.actor == actor && e.target == approval.id)
            .map(|e| e.outcome)
            .collect::<Vec<_>>()
    };
    let loser = if winner == "alice" { "bob" } else { "alice" };
    // (Alice's late approval above is a failure of hers too.)
    let successes = |actor: &str| {
        outcome_of(actor)
            .into_iter()
            .filter(|o| *o == AuditOutcome::Success as i32)
            .count()
    };
    assert_eq!((successes(&winner), successes(loser)), (1, 0), "{events:?}");
    assert!(
        outcome_of(loser).contains(&(AuditOutcome::Failure as i32)),
        "{events:?}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics
            .contains(r#"tradeplane_approvals_total{pipeline="held-binance",state="approved"} 1"#),
        "{metrics}"
    );
    // One execution, counted once: when the decision ended it, not also
    // when it began to wait.
    let counted: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tradeplane_executions_total{") && l.contains("held-binance"))
        .collect();
    assert_eq!(
        counted,
        [r#"tradeplane_executions_total{pipeline="held-binance",status="succeeded"} 1"#],
        "{metrics}"
    );
}

/// A rejected order never reaches the exchange and its execution ends
/// CANCELED with the operator's reason; an order nobody decides expires
/// and cancels its execution too. Each decision is audited.
#[tokio::test]
async fn rejected_and_expired_orders_are_never_sent() {
    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let admin = server.client().await;
    let pipeline = create_pipeline(
        &admin,
        held_pipeline("held-reject", "binance", Duration::from_secs(600)),
    )
    .await;
    let execution = held_run(&admin, &pipeline).await;
    let approval = approval_of(&admin, &execution).await;

    let missing = reject(&admin, &approval.id, "").await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");
    let unknown = reject(&admin, "no-such-approval", "no").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    let rejected = reject(&admin, &approval.id, "too big for tonight")
        .await
        .expect("RejectOrder answers");
    let canceled = rejected.execution.expect("the execution");
    assert_eq!(status(&canceled), ExecutionStatus::Canceled);
    assert!(
        canceled.error.contains("too big for tonight"),
        "{canceled:?}"
    );
    assert_eq!(
        rejected.approval.expect("the approval").reason,
        "too big for tonight"
    );
    let late = approve(&admin, &approval.id).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("already rejected"), "{late:?}");
    let rejections = audit_events(&admin, "approval.reject").await;
    assert!(
        rejections.iter().any(|e| e.target == approval.id
            && e.outcome == AuditOutcome::Success as i32
            && e.detail.contains("rejected")),
        "{rejections:?}"
    );

    let hurried = create_pipeline(
        &admin,
        held_pipeline("held-expiry", "binance", Duration::from_secs(1)),
    )
    .await;
    let waiting = held_run(&admin, &hurried).await;
    let expired = settled(&admin, &waiting.id).await;
    assert_eq!(status(&expired), ExecutionStatus::Canceled, "{expired:?}");
    assert_eq!(expired.error, "approval expired");
    let approval = approval_of(&admin, &waiting).await;
    assert_eq!(approval.state, ApprovalState::Expired as i32);
    assert_eq!(approval.decided_by, "system");
    let expiries = audit_events(&admin, "approval.expire").await;
    assert!(
        expiries
            .iter()
            .any(|e| e.target == approval.id && e.actor == "system"),
        "{expiries:?}"
    );
    assert!(mock.orders().is_empty(), "no order reached the exchange");
}

/// `tpctl approvals list --watch` shows an order as it is held, `tpctl
/// approvals list` lists it, and `tpctl approvals approve` places it.
#[tokio::test]
async fn tpctl_watches_lists_and_approves() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let pipeline = create_pipeline(
        &admin,
        held_pipeline("held-paper", "paper", Duration::from_secs(600)),
    )
    .await;

    let mut watcher = tokio::process::Command::new(binary("tpctl"))
        .args(["--server", &server.grpc_url(), "--api-key", ADMIN_KEY])
        .args(["approvals", "list", "--watch", "-o", "json"])
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tpctl runs");
    let mut lines = BufReader::new(watcher.stdout.take().expect("stdout")).lines();
    // The watch is open once a held order shows up on it: run until then.
    let watched = loop {
        held_run(&admin, &pipeline).await;
        if let Ok(line) = tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await {
            let line = line.expect("reads").expect("a line");
            break serde_json::from_str::<serde_json::Value>(&line).expect("JSON");
        }
    };
    watcher.kill().await.expect("watch stops");
    assert_eq!(watched["state"], "pending", "{watched}");
    assert_eq!(watched["pipeline"], "held-paper", "{watched}");
    let execution = Execution {
        id: watched["execution_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        pipeline_id: pipeline.id.clone(),
        ..Default::default()
    };
    let approval = approval_of(&admin, &execution).await;
    assert_eq!(watched["id"], approval.id.as_str());

    // By the pipeline's name, as every tpctl command takes it.
    let listed = server
        .tpctl(&[
            "approvals",
            "list",
            "--state",
            "pending",
            "--pipeline",
            "held-paper",
            "-o",
            "json",
        ])
        .await;
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert!(
        listed["approvals"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|a| a["id"] == approval.id.as_str() && a["symbol"] == "BTC/USDT"),
        "{listed}"
    );

    let answer = server
        .tpctl(&["approvals", "approve", &approval.id, "-o", "json"])
        .await;
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["approval"]["state"], "approved", "{answer}");
    assert_eq!(answer["execution"]["status"], "succeeded", "{answer}");
    let orders: Vec<_> = list_orders(&admin)
        .await
        .into_iter()
        .filter(|o| o.execution_id == execution.id)
        .collect();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].status, OrderStatus::Filled as i32);
}

/// A decision recorded by a process that stopped before placing the order
/// (written here straight into the store, as that process left it) is
/// finished by the sweep: the order is placed once and the execution ends.
#[tokio::test]
async fn the_sweep_finishes_an_approval_a_stop_cut_short() {
    use tradeplane_server::{
        model::approval::{ApprovalState as State, Decision},
        store::Decided,
    };

    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let admin = server.client().await;
    let pipeline = create_pipeline(
        &admin,
        held_pipeline("held-cut-short", "binance", Duration::from_secs(600)),
    )
    .await;
    let execution = held_run(&admin, &pipeline).await;
    let approval = approval_of(&admin, &execution).await;
    let long_ago = chrono::Utc::now().timestamp_millis() - 600_000;
    let decided = server
        .store()
        .decide_approval(
            &approval.id,
            &Decision {
                state: State::Approved,
                by: "alice".into(),
                reason: String::new(),
                time_ms: long_ago,
            },
            Vec::new(),
        )
        .await
        .expect("the store decides");
    assert!(matches!(decided, Decided::Won(..)), "{decided:?}");

    let finished = settled(&admin, &execution.id).await;
    assert_eq!(
        status(&finished),
        ExecutionStatus::Succeeded,
        "{finished:?}"
    );
    assert_eq!(finished.order_ids.len(), 1, "{finished:?}");
    let sent = mock.orders();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(mock.orders_with_client_id(&sent[0].client_order_id), 1);
}

/// An approval whose execution ended without it (a run resumed after a
/// crash stopped before holding its order again) can place nothing:
/// deciding it says so, and it expires instead of staying pending for
/// good. Nothing reaches the exchange.
#[tokio::test]
async fn an_approval_whose_execution_ended_without_it_is_void() {
    let server = TestServer::start().await;
    let admin = server.client().await;
    let pipeline = create_pipeline(
        &admin,
        held_pipeline("held-void", "paper", Duration::from_secs(600)),
    )
    .await;
    let execution = held_run(&admin, &pipeline).await;
    let approval = approval_of(&admin, &execution).await;

    // What the resumed run left: the execution ended, skipped.
    let store = server.store();
    let mut ended = store
        .get_execution(&execution.id)
        .await
        .expect("the store answers")
        .expect("the execution");
    ended.status = tradeplane_server::model::execution::ExecutionStatus::Skipped;
    ended.skip_reason = "cooldown".into();
    store
        .update_execution(&ended, Vec::new())
        .await
        .expect("saved");

    let refused = approve(&admin, &approval.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(error_reason(&refused), "EXECUTION_ENDED");
    assert!(refused.message().contains("ended skipped"), "{refused:?}");
    let voided = approval_of(&admin, &execution).await;
    assert_eq!(voided.state, ApprovalState::Expired as i32, "{voided:?}");
    assert_eq!(voided.decided_by, "system", "{voided:?}");
    let again = approve(&admin, &approval.id).await.unwrap_err();
    assert_eq!(error_reason(&again), "APPROVAL_DECIDED");
    assert!(
        list_orders(&admin)
            .await
            .iter()
            .all(|o| o.execution_id != execution.id),
        "nothing placed"
    );
    let expired = audit_events(&admin, "approval.expire").await;
    assert!(
        expired
            .iter()
            .any(|e| e.target == approval.id && e.actor == "system"),
        "{expired:?}"
    );
}

//! Several tradeplane replicas (real binaries) on one PostgreSQL database,
//! trading on one venue (mock Binance on loopback), as they would behind a
//! load balancer: a TradingView retry that reaches two replicas is one
//! signal and one order, a pipeline's executions never overlap whichever
//! replica runs them, and the audit log is one chain.

use std::time::Duration;

use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, Served, all_executions, any_signal_pipeline, create_pipeline, eventually,
    fresh_postgres_database, halt_trading, list_signals,
    mock_binance::{API_KEY, API_SECRET, Fault, MockBinance, Route},
    post_webhook, serve_async, settled,
};

/// Two replicas on the database `url`, both trading on `mock`; `dir`
/// holds their data directories. They share the webhook passphrase and,
/// through the database, the admin key the first one created.
async fn two_replicas(url: &str, mock: &MockBinance, dir: &std::path::Path) -> [Served; 2] {
    let first = replica(url, mock, &dir.join("a"), None).await;
    let second = replica(url, mock, &dir.join("b"), Some(&first.api_key)).await;
    [first, second]
}

/// A replica on the database `url` with its data in `data_dir`, trading on
/// `mock`, with a 2 s lease; it joins replicas already running when given
/// their admin key.
async fn replica(
    url: &str,
    mock: &MockBinance,
    data_dir: &std::path::Path,
    admin_key: Option<&str>,
) -> Served {
    let env = [
        ("TRADEPLANE_DATABASE_URL", url),
        ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
        ("TRADEPLANE_PIPELINES__LEASE", "2s"),
        ("TRADEPLANE_PIPELINES__WORKERS", "4"),
        ("TRADEPLANE_EXCHANGES__BINANCE__ENABLED", "true"),
        ("TRADEPLANE_EXCHANGES__BINANCE__BASE_URL", mock.url.as_str()),
        ("TRADEPLANE_BINANCE_API_KEY", API_KEY),
        ("TRADEPLANE_BINANCE_API_SECRET", API_SECRET),
    ];
    if let Some(key) = admin_key {
        std::fs::create_dir_all(data_dir).expect("a data directory");
        std::fs::write(data_dir.join("admin.key"), key).expect("the admin key");
    }
    serve_async(data_dir, &env).await
}

/// Creates `pipeline` through `one` and waits until `other` matches
/// signals against it (replicas re-read the pipelines every second).
async fn create_on_both(one: &Client, other: &Client, pipeline: Pipeline) {
    let name = pipeline.name.clone();
    create_pipeline(one, pipeline).await;
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let listed = other
                .pipelines()
                .list_pipelines(ListPipelinesRequest::default())
                .await
                .expect("ListPipelines answers")
                .into_inner()
                .pipelines;
            if listed.iter().any(|p| p.name == name) {
                Ok(())
            } else {
                Err(format!("the other replica does not know `{name}` yet"))
            }
        },
    )
    .await;
}

async fn admin(served: &Served) -> Client {
    Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects")
}

/// A pipeline on mock Binance whose executions wait for each other.
fn on_binance(name: &str) -> Pipeline {
    Pipeline {
        exchange: "binance".into(),
        concurrency: ConcurrencyPolicy::Queue as i32,
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.001".into())),
        }),
        ..any_signal_pipeline(name)
    }
}

fn alert(order_id: &str) -> serde_json::Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": "buy",
        "price": "50000",
        "order_id": order_id,
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_reaches_both_replicas_is_one_signal_and_one_order() {
    let Some(url) = fresh_postgres_database("two replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let [a, b] = two_replicas(&url, &mock, dir.path()).await;
    let (to_a, to_b) = (admin(&a).await, admin(&b).await);
    create_on_both(&to_a, &to_b, on_binance("replicated")).await;

    // TradingView resends after a timeout; a load balancer sends the two
    // copies to different replicas, at the same moment.
    let body = alert("retried").to_string();
    let (url_a, url_b) = (a.webhook_url(), b.webhook_url());
    let (first, second) = tokio::join!(
        post_webhook(&url_a, body.clone(), &[]),
        post_webhook(&url_b, body, &[]),
    );
    let mut answers = [first.status().as_u16(), second.status().as_u16()];
    answers.sort_unstable();
    assert_eq!(answers, [200, 202], "accepted once, and a duplicate");

    let signals = list_signals(&to_b, SignalFilter::default()).await;
    assert_eq!(signals.len(), 1, "one signal: {signals:#?}");
    let executions = all_executions(&to_a, ExecutionFilter::default()).await;
    assert_eq!(executions.len(), 1, "one execution: {executions:#?}");
    let execution = settled(&to_b, &executions[0].id).await;
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:#?}"
    );
    assert_eq!(mock.orders().len(), 1, "one order at the venue");
    a.kill();
    b.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelines_executions_never_overlap_across_replicas_and_audit_is_one_chain() {
    let Some(url) = fresh_postgres_database("two replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let [a, b] = two_replicas(&url, &mock, dir.path()).await;
    let (to_a, to_b) = (admin(&a).await, admin(&b).await);
    create_on_both(&to_a, &to_b, on_binance("one-at-a-time")).await;

    // Slow venue answers keep each execution running for a while, so that
    // two replicas claiming the pipeline at once would overlap.
    const ALERTS: usize = 8;
    for _ in 0..ALERTS {
        mock.fail_next(
            Route::PlaceOrder,
            Fault::SlowAnswer(Duration::from_millis(300)),
        );
    }
    for n in 0..ALERTS {
        let replica = if n % 2 == 0 { &a } else { &b };
        let reply = post_webhook(
            &replica.webhook_url(),
            alert(&format!("alert-{n}")).to_string(),
            &[],
        )
        .await;
        assert_eq!(reply.status(), 202);
    }
    let executions = eventually(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let all = all_executions(&to_b, ExecutionFilter::default()).await;
            let done = all
                .iter()
                .filter(|e| e.status() == ExecutionStatus::Succeeded)
                .count();
            if done == ALERTS {
                Ok(all)
            } else {
                Err(format!("{done} of {ALERTS} succeeded: {all:#?}"))
            }
        },
    )
    .await;
    let ms = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
            .unwrap_or_default()
    };
    let mut spans: Vec<(i64, i64)> = executions
        .iter()
        .map(|e| (ms(&e.start_time), ms(&e.end_time)))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two executions of one pipeline overlapped: {spans:?}"
        );
    }
    assert_eq!(mock.orders().len(), ALERTS, "one order per execution");

    // Both replicas wrote audit events (the pipeline, the orders); the
    // chain verifies from either.
    for client in [&to_a, &to_b] {
        let verified = client
            .security()
            .verify_audit_log(VerifyAuditLogRequest {})
            .await
            .expect("VerifyAuditLog answers")
            .into_inner();
        assert!(
            verified.intact && verified.events_checked > 0,
            "{verified:?}"
        );
    }
    a.kill();
    b.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_takes_over_the_execution_of_one_that_died_without_a_second_order() {
    let Some(url) = fresh_postgres_database("two replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let dying = replica(&url, &mock, &dir.path().join("a"), None).await;
    let client = admin(&dying).await;
    create_pipeline(&client, on_binance("failover")).await;
    // The venue takes the order and never answers: the replica dies with
    // the execution running and the order's outcome unknown.
    mock.fail_next(Route::PlaceOrder, Fault::Hang);
    let reply = post_webhook(
        &dying.webhook_url(),
        alert("before the crash").to_string(),
        &[],
    )
    .await;
    assert_eq!(reply.status(), 202);
    mock.wait_for_orders(1, Duration::from_secs(20)).await;
    let executions = all_executions(&client, ExecutionFilter::default()).await;
    let id = executions[0].id.clone();
    let key = dying.api_key.clone();
    dying.kill();

    let survivor = replica(&url, &mock, &dir.path().join("b"), Some(&key)).await;
    let execution = settled(&admin(&survivor).await, &id).await;
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:#?}"
    );
    assert_eq!(execution.attempt, 2, "resumed once, by the survivor");
    assert_eq!(
        mock.orders().len(),
        1,
        "the order the dead replica sent, found, not sent again"
    );
    survivor.kill();
}

/// Whether `token` opens `replica` (a read any role may make).
async fn opens(replica: &Served, token: &str) -> bool {
    let client = Client::connect(&replica.grpc, Some(token))
        .await
        .expect("client connects");
    client
        .signals()
        .list_signals(ListSignalsRequest::default())
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_through_one_replica_holds_on_the_other() {
    let Some(url) = fresh_postgres_database("two replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let [a, b] = two_replicas(&url, &mock, dir.path()).await;
    let (to_a, to_b) = (admin(&a).await, admin(&b).await);
    let within = Duration::from_secs(10);
    let every = Duration::from_millis(100);

    // A pipeline created through A matches alerts that reach B.
    create_pipeline(&to_a, on_binance("made-on-a")).await;
    let reply = eventually(within, every, || async {
        let reply = post_webhook(
            &b.webhook_url(),
            alert(&format!("{:?}", std::time::Instant::now())).to_string(),
            &[],
        )
        .await;
        let executions = all_executions(&to_b, ExecutionFilter::default()).await;
        if executions.is_empty() {
            Err(format!("B matched nothing yet ({})", reply.status()))
        } else {
            Ok(executions)
        }
    })
    .await;
    assert!(!reply.is_empty());

    // A key created through A opens B; revoked through A, it stops there.
    let created = to_a
        .security()
        .create_api_key(CreateApiKeyRequest {
            name: "made-on-a".into(),
            role: Role::Viewer as i32,
            ..Default::default()
        })
        .await
        .expect("CreateApiKey answers")
        .into_inner();
    eventually(within, every, || async {
        if opens(&b, &created.token).await {
            Ok(())
        } else {
            Err("B does not know the key yet".to_string())
        }
    })
    .await;
    to_a.security()
        .revoke_api_key(RevokeApiKeyRequest {
            id: created.api_key.expect("the key").id,
            ..Default::default()
        })
        .await
        .expect("RevokeApiKey answers");
    eventually(within, every, || async {
        if opens(&b, &created.token).await {
            Err("B still takes the revoked key".to_string())
        } else {
            Ok(())
        }
    })
    .await;

    // The halt set through A stops trading on B.
    halt_trading(&to_a).await;
    eventually(within, every, || async {
        let status = to_b
            .security()
            .get_trading_status(GetTradingStatusRequest {})
            .await
            .expect("GetTradingStatus answers")
            .into_inner()
            .status
            .expect("a status");
        if status.halted {
            Ok(())
        } else {
            Err("B is not halted yet".to_string())
        }
    })
    .await;
    a.kill();
    b.kill();
}

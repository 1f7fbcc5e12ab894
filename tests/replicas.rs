//! Several tradeplane replicas (real binaries) on one PostgreSQL database,
//! trading on one venue (mock Binance on loopback), as they would behind a
//! load balancer: a TradingView retry that reaches two replicas is one
//! signal and one order, a pipeline's executions never overlap whichever
//! replica runs them, its risk limits hold across them, changes made on
//! one hold on the others (through the database's notices alone), and the
//! audit log is one chain.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    Served, all_executions, create_pipeline, eventually, fresh_postgres_database, halt_trading,
    list_signals,
    mock_binance::{Fault, MockBinance, Route},
    post_webhook,
    replicas::{
        Pair, admin, alert, audit_verifies, create_on_all, next_where, on_binance, pair, replica,
        replicas,
    },
    reset_breaker, settled, trading_halted, trip_breaker,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_reaches_both_replicas_is_one_signal_and_one_order() {
    let Some(Pair {
        mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
        ..
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    create_on_all(&to_a, &[&to_b], on_binance("replicated")).await;

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
    let Some(Pair {
        mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
        ..
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    create_on_all(&to_a, &[&to_b], on_binance("one-at-a-time")).await;

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
        assert!(audit_verifies(client).await, "the audit chain verifies");
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
    let dying = replica(&url, &mock, dir.path().join("a")).await;
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
    dying.kill();

    let survivor = replica(&url, &mock, dir.path().join("b")).await;
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

/// The state of `exchange`'s breaker as `client`'s replica has it.
async fn breaker_on(client: &Client, exchange: &str) -> CircuitBreakerState {
    client
        .security()
        .list_circuit_breakers(ListCircuitBreakersRequest {})
        .await
        .expect("ListCircuitBreakers answers")
        .into_inner()
        .breakers
        .into_iter()
        .find(|b| b.exchange == exchange)
        .expect("the exchange's breaker")
        .state()
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
    let Some(Pair {
        mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
        ..
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    // The replicas re-read shared state only once an hour: what holds
    // within these seconds, the database's notices carried.
    let within = Duration::from_secs(5);
    let every = Duration::from_millis(20);

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

    // A breaker tripped through A is open on B; reset through A, closed.
    for (change, state) in [
        (true, CircuitBreakerState::Open),
        (false, CircuitBreakerState::Closed),
    ] {
        if change {
            trip_breaker(&to_a, "binance").await;
        } else {
            reset_breaker(&to_a, "binance").await;
        }
        eventually(within, every, || async {
            let on_b = breaker_on(&to_b, "binance").await;
            if on_b == state {
                Ok(())
            } else {
                Err(format!("B's breaker is {on_b:?}, not {state:?}"))
            }
        })
        .await;
    }

    // The halt set through A stops orders placed through B.
    for execution in all_executions(&to_b, ExecutionFilter::default()).await {
        settled(&to_b, &execution.id).await;
    }
    let orders_before = mock.orders().len();
    let halted_at = std::time::Instant::now();
    halt_trading(&to_a).await;
    eventually(within, every, || async {
        if trading_halted(&to_b).await {
            Ok(())
        } else {
            Err("B is not halted yet".to_string())
        }
    })
    .await;
    println!("B halted {:?} after A was", halted_at.elapsed());
    let reply = post_webhook(&b.webhook_url(), alert("after the halt").to_string(), &[]).await;
    assert_eq!(reply.status(), 202);
    let executions = all_executions(&to_b, ExecutionFilter::default()).await;
    let last = settled(&to_b, &executions[0].id).await;
    assert_ne!(last.status(), ExecutionStatus::Succeeded, "{last:#?}");
    assert_eq!(
        mock.orders().len(),
        orders_before,
        "no order after the halt"
    );
    a.kill();
    b.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risk_limit_holds_for_a_burst_spread_over_three_replicas() {
    let Some(url) = fresh_postgres_database("three replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let all = replicas(&url, &mock, dir.path(), 3).await;
    let mut clients = Vec::new();
    for served in &all {
        clients.push(admin(served).await);
    }
    let mut pipeline = on_binance("five-a-minute");
    pipeline.risk = Some(RiskRules {
        max_orders_per_minute: 5,
        ..Default::default()
    });
    create_on_all(&clients[0], &[&clients[1], &clients[2]], pipeline).await;

    // Twelve alerts at once, four through each replica.
    const ALERTS: usize = 12;
    let replies = futures::future::join_all((0..ALERTS).map(|n| {
        let url = all[n % all.len()].webhook_url();
        async move { post_webhook(&url, alert(&format!("burst-{n}")).to_string(), &[]).await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.status() == 202));
    let executions = eventually(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let all = all_executions(&clients[1], ExecutionFilter::default()).await;
            let ended = all.iter().filter(|e| e.end_time.is_some()).count();
            if all.len() == ALERTS && ended == ALERTS {
                Ok(all)
            } else {
                Err(format!("{ended} of {ALERTS} ended: {all:#?}"))
            }
        },
    )
    .await;
    let succeeded = executions
        .iter()
        .filter(|e| e.status() == ExecutionStatus::Succeeded)
        .count();
    assert_eq!(succeeded, 5, "{executions:#?}");
    assert_eq!(
        mock.orders().len(),
        5,
        "exactly the limit reached the venue"
    );
    for served in all {
        served.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_shared_among_the_live_replicas() {
    let Some(Pair {
        mock: _mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
        ..
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    // Ten webhooks per address, hardly refilled: five on each replica.
    let limits = RateLimits {
        per_api_key: Some(RateLimit {
            rate_per_second: 0.0,
            burst: 0,
        }),
        per_client_ip: Some(RateLimit {
            rate_per_second: 0.001,
            burst: 10,
        }),
    };
    to_a.security()
        .update_rate_limits(UpdateRateLimitsRequest {
            limits: Some(limits),
            ..Default::default()
        })
        .await
        .expect("UpdateRateLimits answers");
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(20),
        || async {
            let on_b = to_b
                .security()
                .get_rate_limits(GetRateLimitsRequest {})
                .await
                .expect("GetRateLimits answers")
                .into_inner()
                .limits;
            if on_b == Some(limits) {
                Ok(())
            } else {
                Err(format!("B has {on_b:?}"))
            }
        },
    )
    .await;
    // B counts the replicas in the same reload that applied the limits.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut admitted = 0;
    for n in 0..16 {
        let replica = if n % 2 == 0 { &a } else { &b };
        let reply = post_webhook(
            &replica.webhook_url(),
            alert(&format!("limited-{n}")).to_string(),
            &[],
        )
        .await;
        match reply.status().as_u16() {
            202 => admitted += 1,
            429 => {}
            other => panic!("webhook answered {other}"),
        }
    }
    assert_eq!(
        admitted, 10,
        "the two replicas together admit the burst once"
    );
    a.kill();
    b.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_show_changes_made_through_another_replica() {
    let Some(Pair {
        mock: _mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
        ..
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    let mut signals = to_b
        .signals()
        .watch_signals(WatchSignalsRequest::default())
        .await
        .expect("WatchSignals answers")
        .into_inner();
    let mut executions = to_b
        .pipelines()
        .watch_executions(WatchExecutionsRequest::default())
        .await
        .expect("WatchExecutions answers")
        .into_inner();
    let mut orders = to_b
        .orders()
        .watch_orders(WatchOrdersRequest::default())
        .await
        .expect("WatchOrders answers")
        .into_inner();
    let mut audit = to_b
        .security()
        .watch_audit_events(WatchAuditEventsRequest::default())
        .await
        .expect("WatchAuditEvents answers")
        .into_inner();

    // Made through A: a pipeline (audited), an alert it matches (a signal
    // and its execution, recorded by A), and an order placed directly.
    create_on_all(&to_a, &[&to_b], on_binance("watched")).await;
    next_where(&mut audit, "the pipeline's audit event", |e| {
        e.event
            .as_ref()
            .is_some_and(|e| e.action == "pipeline.create")
    })
    .await;
    let reply = post_webhook(&a.webhook_url(), alert("watched").to_string(), &[]).await;
    assert_eq!(reply.status(), 202);
    let signal = next_where(&mut signals, "the alert's signal", |s| s.signal.is_some()).await;
    let signal_id = signal.signal.expect("a signal").id;
    next_where(&mut executions, "the signal's execution", |e| {
        e.execution
            .as_ref()
            .is_some_and(|e| e.signal_id == signal_id)
    })
    .await;
    let placed = to_a
        .orders()
        .place_order(PlaceOrderRequest {
            exchange: "binance".into(),
            symbol: "BTC/USDT".into(),
            side: Side::Buy as i32,
            r#type: OrderType::Market as i32,
            quantity: "0.001".into(),
            ..Default::default()
        })
        .await
        .expect("PlaceOrder answers")
        .into_inner()
        .order
        .expect("an order");
    next_where(&mut orders, "the order placed through A", |o| {
        o.order.as_ref().is_some_and(|o| o.id == placed.id)
    })
    .await;
    a.kill();
    b.kill();
}

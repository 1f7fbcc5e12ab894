//! One replica at a time runs the upkeep (order sync with the venue, the
//! bracket keeper's checks, the approval sweep), under PostgreSQL's
//! advisory lock: of two replicas exactly one is on duty, it syncs the
//! orders the other placed, and when it is SIGKILLed the survivor takes
//! duty over within seconds and syncs the dead replica's orders. The lock
//! itself: one store holds it at a time, and loses it with its
//! connection. And a WatchApprovals stream shows the approvals held and
//! decided through another replica.

use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::Connection;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    Served, eventually, fresh_postgres_database, get_order,
    replicas::{Pair, admin, create_on_all, next_where, on_binance, pair},
    run_pipeline,
};
use tradeplane_server::store::{self, StoreConfig};

/// How long the survivor may take to be on duty after a kill: the lock is
/// tried every second.
const TAKEOVER: Duration = Duration::from_secs(5);

/// Whether `served` says it is on duty (`tradeplane_replication_duty`);
/// `None` when it does not answer or does not say.
async fn on_duty(served: &Served) -> Option<bool> {
    let text = reqwest::get(format!("{}/metrics", served.http))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("tradeplane_replication_duty")?;
        if !rest.starts_with([' ', '{']) {
            return None;
        }
        Some(rest.rsplit(' ').next()? == "1")
    })
}

/// Which of `a` and `b` is on duty (`true`: `a`), once exactly one is.
async fn the_one_on_duty(a: &Served, b: &Served) -> bool {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            match (on_duty(a).await, on_duty(b).await) {
                (Some(on_a), Some(on_b)) if on_a != on_b => Ok(on_a),
                duties => Err(format!("duty of (a, b): {duties:?}")),
            }
        },
    )
    .await
}

/// A buy of 0.001 BTC on mock Binance that rests at `price`.
async fn rest_buy(client: &Client, price: &str) -> Order {
    let order = client
        .orders()
        .place_order(PlaceOrderRequest {
            exchange: "binance".into(),
            symbol: "BTC/USDT".into(),
            side: Side::Buy as i32,
            r#type: OrderType::Limit as i32,
            quantity: "0.001".into(),
            price: price.into(),
            ..Default::default()
        })
        .await
        .expect("PlaceOrder answers")
        .into_inner()
        .order
        .expect("an order");
    assert_eq!(order.status(), OrderStatus::Submitted, "{order:#?}");
    order
}

/// Waits until the stored order `id`, read through `client`, is filled.
async fn filled(client: &Client, id: &str) {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let order = get_order(client, id).await;
            match order.status() {
                OrderStatus::Filled => Ok(()),
                status => Err(format!("order {id} is {status:?}, not synced as filled")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_at_a_time_holds_the_duty_lock_and_loses_it_with_its_connection() {
    let Some(url) = fresh_postgres_database("the duty lock").await else {
        return;
    };
    let meter = opentelemetry::global::meter("test");
    let config = StoreConfig::default();
    let (one, other) = (
        store::open(&url, &config, &meter).await.expect("a store"),
        store::open(&url, &config, &meter)
            .await
            .expect("another store"),
    );
    let mut first = one.duty_lock().expect("a shared store has a duty lock");
    let mut second = other.duty_lock().expect("a shared store has a duty lock");
    assert!(first.hold().await.expect("the lock is tried"));
    assert!(!second.hold().await.expect("the lock is tried"));
    assert!(first.hold().await.expect("the lock is checked"), "kept");

    // Given up (a stop): the other takes it at once.
    first.release().await;
    assert!(second.hold().await.expect("the lock is tried"));
    assert!(!first.hold().await.expect("the lock is tried"));

    // The holder's connection ends (as when its process dies; the call
    // waits until its session is gone): it is off duty at its next check,
    // and the lock is free for the other.
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("connects");
    let ended: bool = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks \
         WHERE locktype = 'advisory' AND classid = 29808 AND objid = 1685419129 AND granted",
    )
    .fetch_one(&mut admin)
    .await
    .expect("the holder's session is found");
    assert!(ended);
    assert!(
        second.hold().await.is_err(),
        "the broken connection is seen"
    );
    assert!(first.hold().await.expect("the lock is tried"));
    assert!(!second.hold().await.expect("reconnects and tries"));

    // A store this process alone uses has no lock: always on duty.
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("alone.db").display());
    let alone = store::open(&sqlite, &config, &meter).await.expect("SQLite");
    assert!(alone.duty_lock().is_none());
    for store in [one, other, alone] {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_at_a_time_syncs_orders_and_the_survivor_takes_over() {
    let Some(Pair {
        mock,
        dir: _dir,
        a,
        b,
        to_a: _to_a,
        to_b: _to_b,
    }) = pair("two replicas on one database").await
    else {
        return;
    };

    // Exactly one is on duty, and stays so over several tries of the lock.
    let a_on_duty = the_one_on_duty(&a, &b).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(the_one_on_duty(&a, &b).await, a_on_duty, "duty moved");
    }
    let (duty, other) = if a_on_duty { (a, b) } else { (b, a) };
    let (to_duty, to_other) = (admin(&duty).await, admin(&other).await);

    // Placed through the replica off duty; the venue fills it; the
    // replica on duty syncs it.
    let first = rest_buy(&to_other, "49000").await;
    mock.set_price("BTCUSDT", Decimal::from(48_000));
    filled(&to_other, &first.id).await;

    // Placed through the replica on duty, which dies; the survivor takes
    // duty over and syncs the order, which the venue fills after the kill.
    let second = rest_buy(&to_duty, "47000").await;
    duty.kill();
    eventually(TAKEOVER, Duration::from_millis(100), || async {
        match on_duty(&other).await {
            Some(true) => Ok(()),
            duty => Err(format!("the survivor's duty: {duty:?}")),
        }
    })
    .await;
    mock.set_price("BTCUSDT", Decimal::from(46_000));
    filled(&to_other, &second.id).await;
    other.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_approvals_shows_approvals_held_and_decided_through_another_replica() {
    let Some(Pair {
        mock: _mock,
        dir: _dir,
        a,
        b,
        to_a,
        to_b,
    }) = pair("two replicas on one database").await
    else {
        return;
    };
    let requiring = Pipeline {
        approval: Some(ApprovalPolicy {
            required: true,
            expiry: prost_types::Duration::try_from(Duration::from_secs(300)).ok(),
        }),
        ..on_binance("held")
    };
    let pipeline = create_on_all(&to_a, &[&to_b], requiring).await;
    let watch = |client: &Client| {
        let mut approvals = client.pipelines();
        async move {
            approvals
                .watch_approvals(WatchApprovalsRequest::default())
                .await
                .expect("WatchApprovals answers")
                .into_inner()
        }
    };
    let (mut on_a, mut on_b) = (watch(&to_a).await, watch(&to_b).await);

    // Held through A (by whichever replica's worker runs the execution):
    // both streams show it, one of them relayed.
    let execution = run_pipeline(&to_a, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status(),
        ExecutionStatus::AwaitingApproval,
        "{execution:#?}"
    );
    let mut held = Vec::new();
    for stream in [&mut on_a, &mut on_b] {
        let shown = next_where(stream, "the approval held", |w| {
            w.approval.as_ref().is_some_and(|a| {
                a.execution_id == execution.id && a.state() == ApprovalState::Pending
            })
        })
        .await;
        held.extend(shown.approval.map(|a| a.id));
    }
    assert!(held.len() == 2 && held[0] == held[1], "{held:?}");

    // Approved through B: both streams show the decision, A's relayed.
    to_b.pipelines()
        .approve_order(ApproveOrderRequest {
            id: held[0].clone(),
        })
        .await
        .expect("ApproveOrder answers");
    for stream in [&mut on_b, &mut on_a] {
        next_where(stream, "the approval decided through B", |w| {
            w.approval
                .as_ref()
                .is_some_and(|a| a.id == held[0] && a.state() == ApprovalState::Approved)
        })
        .await;
    }
    a.kill();
    b.kill();
}

//! One replica at a time runs the upkeep (order sync with the venue, the
//! bracket keeper's checks, the approval sweep), under PostgreSQL's
//! advisory lock: of two replicas exactly one is on duty, it syncs the
//! orders the other placed, and when it is SIGKILLed the survivor takes
//! duty over within seconds and syncs the dead replica's orders. The lock
//! itself: one store holds it at a time, and loses it with its
//! connection. What stopped replicas left half placed is settled by the
//! replica on duty, once no replica can still be placing it; a replica
//! that starts off duty leaves it alone. And a WatchApprovals stream shows
//! the approvals held and decided through another replica.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use sqlx::Connection;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    Served, balances, dec, eventually, fresh_postgres_database, get_order,
    replicas::{Pair, admin, create_on_all, next_where, on_binance, pair, replica},
    run_pipeline,
};
use tradeplane_server::{
    market::side::Side as StoredSide,
    model::order::{Order as StoredOrder, OrderOrigin, OrderTicket},
    store::{self, StoreConfig},
};

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
        ..
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

/// Paper's acceptance window: a paper order stored as new for longer was
/// never placed.
const PAPER_WINDOW: Duration = Duration::from_secs(10);

/// Stores a paper market buy of 0.001 BTC as `new`, last changed `age`
/// ago, as a replica leaves it between storing an order and recording
/// its placement: stopped there, or still placing it. Returns its id.
async fn leave_new_paper_buy(url: &str, age: Duration) -> String {
    let store = store::open(
        url,
        &StoreConfig::default(),
        &opentelemetry::global::meter("test"),
    )
    .await
    .expect("a store");
    let mut ticket = OrderTicket::market(StoredSide::Buy, "BTC", "USDT", dec("0.001"));
    ticket.client_order_id = format!("left{}", uuid::Uuid::now_v7().simple());
    ticket.reference_price = Some(dec("50000"));
    let changed = chrono::Utc::now().timestamp_millis()
        - i64::try_from(age.as_millis()).expect("a short age");
    let order = StoredOrder::new(
        &ticket,
        ("paper", "default"),
        OrderOrigin::default(),
        changed,
    );
    store.insert_order(&order, None).await.expect("stored");
    store.close().await;
    order.id
}

/// The BTC a filled paper buy added to the balance: its fill, less a fee
/// taken in BTC.
fn bought(order: &Order) -> Decimal {
    assert_eq!(order.status(), OrderStatus::Filled, "{order:#?}");
    assert_eq!(order.fills.len(), 1, "filled once: {order:#?}");
    let fee = if order.fee_asset == "BTC" {
        dec(&order.fee_total)
    } else {
        Decimal::ZERO
    };
    dec(&order.filled_quantity) - fee
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_left_new_are_settled_by_the_replica_on_duty_once_none_can_still_be_placing_them() {
    let Some(Pair {
        url,
        mock,
        dir,
        a,
        b,
        to_a,
        to_b,
    }) = pair("orders left half placed on two replicas").await
    else {
        return;
    };
    let a_on_duty = the_one_on_duty(&a, &b).await;
    let (duty, other, to_duty, other_dir) = if a_on_duty {
        (a, b, to_a, dir.path().join("r1"))
    } else {
        (b, a, to_b, dir.path().join("r0"))
    };
    let btc = |balances: std::collections::HashMap<String, (Decimal, Decimal)>| {
        balances.get("BTC").map_or(Decimal::ZERO, |(free, _)| *free)
    };
    let before = btc(balances(&to_duty, "paper").await);

    // One left by a replica that stopped past paper's acceptance window,
    // one a replica may still be placing. The replica off duty restarts:
    // settling either is not its job.
    let left = leave_new_paper_buy(&url, PAPER_WINDOW + Duration::from_secs(1)).await;
    let placing = leave_new_paper_buy(&url, Duration::ZERO).await;
    let placing_since = Instant::now();
    other.kill();
    let other = replica(&url, &mock, &other_dir).await;

    // The replica on duty sends the stale one (once); the one that may
    // still be placed stays as it is, through the restart.
    filled(&to_duty, &left).await;
    let still = get_order(&to_duty, &placing).await;
    assert!(
        placing_since.elapsed() < PAPER_WINDOW,
        "the restart took longer than paper's acceptance window; the test cannot tell"
    );
    assert_eq!(
        still.status(),
        OrderStatus::New,
        "an order another replica may still be placing was sent: {still:#?}"
    );

    // Once no replica can still be placing it, the replica on duty sends it.
    eventually(
        PAPER_WINDOW + Duration::from_secs(10),
        Duration::from_millis(200),
        || async {
            match get_order(&to_duty, &placing).await.status() {
                OrderStatus::Filled => Ok(()),
                status => Err(format!("the order left new is {status:?}")),
            }
        },
    )
    .await;
    let added =
        bought(&get_order(&to_duty, &left).await) + bought(&get_order(&to_duty, &placing).await);
    assert_eq!(
        btc(balances(&to_duty, "paper").await) - before,
        added,
        "each order bought once"
    );
    duty.kill();
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
        ..
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

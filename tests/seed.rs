//! `tradeplane seed` writes finished history that a server started on the
//! same data directory serves: the counts of each list filter are the
//! ones the seed's pattern gives, and paper balances are untouched.

use std::{collections::HashMap, process::Command};

use rust_decimal::Decimal;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{balances, binary, list_signals_page, serve_async};

/// Seeded rows of each kind.
const ROWS: &str = "200";

async fn orders(client: &Client, filter: OrderFilter) -> Vec<Order> {
    client
        .orders()
        .list_orders(ListOrdersRequest {
            page_size: 1000,
            filter: Some(filter),
            ..Default::default()
        })
        .await
        .expect("ListOrders succeeds")
        .into_inner()
        .orders
}

async fn signals(client: &Client, filter: SignalFilter) -> Vec<Signal> {
    list_signals_page(client, filter, 1000).await
}

async fn executions(client: &Client, filter: ExecutionFilter) -> Vec<Execution> {
    client
        .pipelines()
        .list_executions(ListExecutionsRequest {
            page_size: 1000,
            filter: Some(filter),
            ..Default::default()
        })
        .await
        .expect("ListExecutions succeeds")
        .into_inner()
        .executions
}

/// Balances without the assets at zero.
async fn held(client: &Client) -> HashMap<String, (Decimal, Decimal)> {
    balances(client, "paper")
        .await
        .into_iter()
        .filter(|(_, (free, locked))| !free.is_zero() || !locked.is_zero())
        .collect()
}

#[tokio::test]
async fn a_seeded_store_serves_its_history_through_every_filter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let seeded = Command::new(binary("tradeplane"))
        .args([
            "seed",
            "--orders",
            ROWS,
            "--signals",
            ROWS,
            "--executions",
            ROWS,
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("TRADEPLANE_DATABASE_URL")
        .output()
        .expect("tradeplane seed runs");
    assert!(
        seeded.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    assert!(String::from_utf8_lossy(&seeded.stdout).contains("seeded 600 rows"));

    let served = serve_async(&data_dir, &[]).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("connects");

    // Orders come in buy/sell pairs; pair k is BTC, ETH or SOL by k % 3 and
    // filled (k % 10 < 7), canceled (7, 9) or rejected (8).
    let all = orders(&client, OrderFilter::default()).await;
    assert_eq!(all.len(), 200);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let status = |s: OrderStatus| OrderFilter {
        statuses: vec![s as i32],
        ..Default::default()
    };
    assert_eq!(
        orders(&client, status(OrderStatus::Filled)).await.len(),
        140
    );
    assert_eq!(
        orders(&client, status(OrderStatus::Rejected)).await.len(),
        20
    );
    let finished = OrderFilter {
        statuses: vec![OrderStatus::Canceled as i32, OrderStatus::Rejected as i32],
        ..Default::default()
    };
    let finished = orders(&client, finished).await;
    assert_eq!(finished.len(), 60);
    assert!(
        finished.windows(2).all(|w| w[0].id > w[1].id),
        "merged newest first"
    );
    let open = OrderFilter {
        statuses: vec![
            OrderStatus::New as i32,
            OrderStatus::Submitted as i32,
            OrderStatus::PartiallyFilled as i32,
        ],
        ..Default::default()
    };
    assert!(orders(&client, open).await.is_empty(), "nothing left open");
    let btc = OrderFilter {
        symbol: "BTC/USDT".into(),
        ..Default::default()
    };
    assert_eq!(orders(&client, btc.clone()).await.len(), 68);
    let btc_sells = OrderFilter {
        exchange: "paper".into(),
        side: Side::Sell as i32,
        statuses: vec![OrderStatus::Filled as i32],
        ..btc
    };
    // BTC pairs are k = 0, 3, …, 99; those with k % 10 < 7 filled.
    let filled_btc = (0..100).step_by(3).filter(|k| k % 10 < 7).count();
    assert_eq!(orders(&client, btc_sells).await.len(), filled_btc);
    // A skipped execution placed no order: its slot's order is manual.
    let manual = all.iter().filter(|o| o.execution_id.is_empty()).count();
    assert_eq!(manual, 20);
    let placed = all
        .iter()
        .find(|o| !o.execution_id.is_empty())
        .expect("orders placed by executions");
    let by_execution = OrderFilter {
        execution_id: placed.execution_id.clone(),
        ..Default::default()
    };
    assert_eq!(orders(&client, by_execution).await.len(), 1);

    // Signal i: source by i % 2, strategy by (i / 2) % 5, one in ten rejected.
    assert_eq!(signals(&client, SignalFilter::default()).await.len(), 200);
    let grpc = SignalFilter {
        source: "grpc".into(),
        ..Default::default()
    };
    assert_eq!(signals(&client, grpc).await.len(), 100);
    let momentum = SignalFilter {
        strategy: "momentum".into(),
        ..Default::default()
    };
    assert_eq!(signals(&client, momentum).await.len(), 40);
    let rejected = SignalFilter {
        outcome: SignalOutcome::Rejected as i32,
        ..Default::default()
    };
    assert_eq!(signals(&client, rejected).await.len(), 20);
    let doge = SignalFilter {
        symbol: "DOGE/USDT".into(),
        ..Default::default()
    };
    // Slots 12k + 8 and 12k + 9 are DOGE: 32, of which the four rejected
    // ones (k = 0, 5, 10, 15) have no canonical symbol.
    assert_eq!(signals(&client, doge).await.len(), 28);
    let long_ago = SignalFilter {
        start_time: Some(prost_types::Timestamp {
            seconds: 1_000_000_000,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 1_000_086_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    assert!(signals(&client, long_ago).await.is_empty());

    // Execution i: of pipeline i % 8 and signal i; failed or skipped by
    // its pair's fate.
    let all = executions(&client, ExecutionFilter::default()).await;
    assert_eq!(all.len(), 200);
    let status = |s: ExecutionStatus| ExecutionFilter {
        statuses: vec![s as i32],
        ..Default::default()
    };
    assert_eq!(
        executions(&client, status(ExecutionStatus::Succeeded))
            .await
            .len(),
        160
    );
    assert_eq!(
        executions(&client, status(ExecutionStatus::Failed))
            .await
            .len(),
        20
    );
    assert_eq!(
        executions(&client, status(ExecutionStatus::Skipped))
            .await
            .len(),
        20
    );
    let waiting = ExecutionFilter {
        statuses: vec![
            ExecutionStatus::Pending as i32,
            ExecutionStatus::Running as i32,
        ],
        ..Default::default()
    };
    assert!(
        executions(&client, waiting).await.is_empty(),
        "nothing to run"
    );
    let pipeline = ExecutionFilter {
        pipeline_id: all[0].pipeline_id.clone(),
        ..Default::default()
    };
    assert_eq!(executions(&client, pipeline).await.len(), 25);
    let of_signal = ExecutionFilter {
        signal_id: all[0].signal_id.clone(),
        ..Default::default()
    };
    assert_eq!(executions(&client, of_signal).await.len(), 1);
    let seeded_balances = held(&client).await;
    served.kill();

    let fresh_dir = dir.path().join("fresh");
    let fresh = serve_async(&fresh_dir, &[]).await;
    let fresh_client = Client::connect(&fresh.grpc, Some(&fresh.api_key))
        .await
        .expect("connects");
    assert_eq!(
        seeded_balances,
        held(&fresh_client).await,
        "replayed fills leave paper balances as they were"
    );
    fresh.kill();
}

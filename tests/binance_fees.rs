//! Binance takes its fee in the asset bought (without BNB): a buy of
//! 0.0123 BTC leaves 0.0122877 in the account. The pipeline's book holds
//! what the account holds, so an exit sells what is there (down to the
//! lot), the dust under the lot reads flat, and the venue never looks short
//! of the book. The mock's account holds no BTC of its own and, like
//! Binance, refuses a sell beyond its free balance.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, audit_events, create_pipeline, dec, mock_binance::MockBinance, orders_of,
    run_pipeline, strategy_pipeline,
};

/// The Binance mock's lot: 0.00001 BTC.
const BOUGHT: &str = "0.0123";
/// 0.0123 less the 0.1 % fee in BTC (0.0000123).
const HELD: &str = "0.0122877";
/// What an exit can sell of it: down to the lot.
const SOLD: &str = "0.01228";
/// What stays: under the lot, it can be neither sold nor protected.
const DUST: &str = "0.0000077";

/// A server trading on the mock, reconciling positions every 100 ms.
async fn start(mock: &MockBinance) -> TestServer {
    start_in(mock, tempfile::tempdir().expect("a data directory")).await
}

/// [`start`] on an existing data directory.
async fn start_in(mock: &MockBinance, data_dir: tempfile::TempDir) -> TestServer {
    TestServer::start_in(data_dir, |config| {
        mock.configure(config);
        config.exchanges.sync_interval = Duration::from_millis(200);
        config.pipelines.reconcile_every = Duration::from_millis(100);
    })
    .await
}

/// A server on a mock account holding no BTC, with the fees pipeline
/// (BOUGHT a run on Binance, refusing entries on a drift) after one buy.
async fn bought() -> (MockBinance, TestServer, Pipeline) {
    let mock = MockBinance::start_without("BTC").await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        Pipeline {
            exchange: "binance".into(),
            // Refuse: a book that looked longer than the venue would skip
            // the next entry.
            drift_policy: DriftPolicy::Refuse as i32,
            ..strategy_pipeline("fees", sizing::Method::FixedQuantity(BOUGHT.into()))
        },
    )
    .await;
    let entry = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(entry.status, ExecutionStatus::Succeeded as i32, "{entry:?}");
    assert_eq!(mock.balance("BTC"), dec(HELD));
    (mock, server, pipeline)
}

/// Lets reconciliation rounds go by and checks the book agreed with the
/// venue (no drift), then exits: the sell is what the account holds down
/// to the lot, and the dust stays.
async fn exits_with_no_drift(
    mock: &MockBinance,
    client: &tradeplane_client::Client,
    pipeline: &Pipeline,
) {
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(audit_events(client, "position.drift").await, Vec::new());
    let exit = run_pipeline(client, pipeline, "exit", "50000", "").await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    let [sell] = orders_of(client, &exit)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(sell.status, OrderStatus::Filled as i32, "{sell:?}");
    assert_eq!(dec(&sell.filled_quantity), dec(SOLD));
    assert_eq!(mock.balance("BTC"), dec(DUST));
}

#[tokio::test]
async fn a_round_trip_sells_what_the_fee_left_and_reads_flat_after() {
    let (mock, server, pipeline) = bought().await;
    let client = server.client().await;
    // Reconciliation rounds go by: the book agrees with the venue.
    exits_with_no_drift(&mock, &client, &pipeline).await;

    // The dust is no position: a second exit has nothing to sell, and a
    // new entry is not refused for a drift.
    let again = run_pipeline(&client, &pipeline, "exit", "50000", "").await;
    assert_eq!(
        (again.status, again.skip_reason.as_str()),
        (ExecutionStatus::Skipped as i32, "no_position"),
        "{again:?}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let next = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(next.status, ExecutionStatus::Succeeded as i32, "{next:?}");
    assert_eq!(audit_events(&client, "position.drift").await, Vec::new());
    server.stop().await;
}

/// A database whose ledger an earlier version built, booking the buy
/// gross (0.0123 where the account holds 0.0122877), is rebuilt from the
/// order history once (migration 0009): the exit then sells what the
/// account holds, and no drift is reported.
#[tokio::test]
async fn a_ledger_booked_gross_before_the_upgrade_is_rebuilt_net() {
    let (mock, server, pipeline) = bought().await;
    let data_dir = server.stop().await;

    // What the earlier version left: the position booked gross, and the
    // migration that rebuilds the ledger not applied yet.
    let db = rusqlite::Connection::open(data_dir.path().join("tradeplane.db")).expect("the db");
    let gross = db
        .execute(
            "UPDATE snapshots SET body = replace(body, ?1, ?2) WHERE scope = 'pipeline.position'",
            [format!("\"{HELD}\""), format!("\"{BOUGHT}\"")],
        )
        .expect("booked gross");
    assert_eq!(gross, 1, "one position row");
    db.execute("DELETE FROM _sqlx_migrations WHERE version = 9", [])
        .expect("before the migration");
    drop(db);

    let server = start_in(&mock, data_dir).await;
    let client = server.client().await;
    exits_with_no_drift(&mock, &client, &pipeline).await;
    server.stop().await;
}

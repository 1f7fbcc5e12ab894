//! Perpetuals end to end on OKX, through its mock: TradingView
//! `BTCUSDT.P` alerts through the futures pipeline of
//! `examples/perp-futures.yaml` (5x isolated) pointed at `okx`. The
//! leverage is set at the venue before the entry, the position opens in
//! contracts of `BTC-USDT-SWAP`, the stop-loss (a conditional algo order)
//! and take-profit (a limit) are reduce-only, and an exit closes flat and
//! takes the bracket with it; long and short.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, create_pipeline, dec, deliver, mock_okx::MockOkx, resting_orders,
};

const SWAP: &str = "BTC-USDT-SWAP";

/// `examples/perp-futures.yaml`, trading on `okx`.
fn futures_on_okx() -> Pipeline {
    let path = tradeplane_e2e::workspace_root().join("examples/perp-futures.yaml");
    let file = tradeplane_client::pipeline_file::PipelineFile::read(&path).expect("the example");
    Pipeline {
        exchange: "okx".into(),
        ..file.to_proto().expect("a pipeline")
    }
}

/// A TradingView alert for the perpetual `BTCUSDT.P`.
fn alert(action: &str, price: &str) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT.P",
        "exchange": "OKX",
        "action": action,
        "price": price,
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

fn succeeded(execution: &Execution) {
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
}

/// Opens with `open` at 50,000 and exits at `exit_price`: the venue holds
/// `contracts` between, a reduce-only stop at `stop` and target at
/// `target`, and nothing after.
async fn round_trip(open: &str, contracts: i64, (stop, target): (&str, &str), exit_price: &str) {
    let okx = MockOkx::start().await;
    let server = TestServer::start_with(|config| okx.configure(config)).await;
    let client = server.client().await;
    create_pipeline(&client, futures_on_okx()).await;

    let entry = deliver(&server, &client, &alert(open, "50000")).await;
    succeeded(&entry);
    assert_eq!(
        okx.leverage(SWAP),
        Some((5, "isolated".to_string())),
        "set from the pipeline before the entry"
    );
    assert_eq!(okx.position(SWAP).contracts, Decimal::from(contracts));
    let [algo] = okx.algos().try_into().expect("one stop at the venue");
    assert!(algo.reduce_only, "{algo:?}");
    assert_eq!((algo.trigger, algo.state), (dec(stop), "live"));
    let target_leg = okx
        .orders()
        .into_iter()
        .find(|o| o.price == Some(dec(target)))
        .expect("the take-profit at the venue");
    assert!(target_leg.reduce_only, "{target_leg:?}");
    assert_eq!(target_leg.td_mode, "isolated");

    okx.set_price(SWAP, dec(exit_price));
    let exit = deliver(&server, &client, &alert("exit", exit_price)).await;
    succeeded(&exit);
    assert!(okx.position(SWAP).contracts.is_zero(), "flat at the venue");
    let closing = okx.orders().pop().expect("the exit");
    assert!(closing.reduce_only, "{closing:?}");
    assert_eq!(okx.algos()[0].state, "canceled", "the stop went");
    assert!(resting_orders(&client).await.is_empty(), "the bracket went");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_opens_at_the_pipelines_leverage_with_reduce_only_protection_and_exits_flat() {
    // 2000 USDT at 50,000 is 0.04 BTC: 4 contracts of 0.01 BTC.
    round_trip("buy", 4, ("48500", "53000"), "51000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sell_with_no_position_opens_a_short_that_an_exit_buys_back() {
    round_trip("sell", -4, ("51500", "47000"), "49000").await;
}

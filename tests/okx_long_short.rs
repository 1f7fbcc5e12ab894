//! OKX in long/short position mode (`long_short_mode = true`, or read
//! from the account's `posMode`), through the real server and an OKX mock in that mode, which refuses a swap
//! order without `posSide` or with `reduceOnly`, and a spot order with
//! `posSide`: the futures pipeline's long and short each trade their own
//! side, protected and closed by `posSide`, and end flat; spot orders
//! carry no `posSide`.

use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer,
    conformance::{VenueUnderTest, order_on},
    create_pipeline, deliver, example_pipeline,
    mock_okx::MockOkx,
    perpetual_alert, place_order,
};

const SWAP: &str = "BTC-USDT-SWAP";

async fn run(server: &TestServer, client: &tradeplane_client::Client, action: &str) {
    let execution = deliver(server, client, &perpetual_alert(action, "50000")).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{action}: {execution:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_side_trades_its_own_position_by_pos_side_when_configured() {
    each_side_by_pos_side(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_side_trades_its_own_position_by_pos_side_read_from_the_account() {
    each_side_by_pos_side(false).await;
}

/// The futures pipeline's long and short on an account in long/short
/// mode, `configured` as such or not.
async fn each_side_by_pos_side(configured: bool) {
    let okx = MockOkx::start().await;
    okx.set_long_short_mode();
    let server = TestServer::start_with(|config| {
        VenueUnderTest::configure(&okx, config);
        config.exchanges.okx.long_short_mode = configured;
    })
    .await;
    let client = server.client().await;
    create_pipeline(
        &client,
        Pipeline {
            exchange: "okx".into(),
            ..example_pipeline("perp-futures.yaml")
        },
    )
    .await;

    for (open, side, contracts, closing) in
        [("buy", "long", 4, "sell"), ("sell", "short", -4, "buy")]
    {
        run(&server, &client, open).await;
        assert_eq!(
            okx.position_on(SWAP, side).contracts,
            contracts.into(),
            "{open}"
        );
        let [stop] = okx
            .algos()
            .into_iter()
            .filter(|a| a.state == "live")
            .collect::<Vec<_>>()
            .try_into()
            .expect("one live stop");
        let target = okx.orders().pop().expect("the take-profit");
        for (leg_side, leg_pos) in [
            (&stop.side, &stop.pos_side),
            (&target.side, &target.pos_side),
        ] {
            assert_eq!(
                (leg_side.as_str(), leg_pos.as_str()),
                (closing, side),
                "{open}"
            );
        }
        run(&server, &client, "exit").await;
        let exit = okx.orders().pop().expect("the exit");
        assert_eq!(
            (exit.side.as_str(), exit.pos_side.as_str()),
            (closing, side)
        );
        assert!(
            okx.position_on(SWAP, side).contracts.is_zero(),
            "{open}: flat"
        );
    }

    let spot = place_order(
        &client,
        order_on::<MockOkx>("spot", Side::Buy, "0.001", None),
    )
    .await;
    assert_eq!(spot.status, OrderStatus::Filled as i32, "{spot:?}");
    server.stop().await;
}

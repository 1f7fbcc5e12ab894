//! Binance USDⓈ-M futures end to end: TradingView `BTCUSDT.P` alerts
//! through `examples/perp-futures.yaml` pointed at `binance_usdm` (the
//! mock in `support/mock_binance_futures`), beyond what the kit's
//! perpetual checks (tests/conformance_binance_usdm.rs) cover: a stop
//! triggered at the mark closes the position and Binance expires the
//! take-profit, and hedge mode trades by `positionSide`.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer,
    conformance::VenueUnderTest,
    create_pipeline, dec, deliver_ok, example_pipeline,
    mock_binance_futures::{FuturesOrder, MockBinanceFutures},
    order_reaches, orders_of, perpetual_alert as alert,
};

/// A server on the mock, with `examples/perp-futures.yaml` (5x isolated,
/// 2000 USDT a trade, stop 3 %, target 6 %) trading on `binance_usdm`.
async fn futures_pipeline_on(mock: &MockBinanceFutures, hedge: bool) -> (TestServer, Client) {
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.binance_usdm.hedge_mode = hedge;
    })
    .await;
    let client = server.client().await;
    create_pipeline(
        &client,
        Pipeline {
            exchange: "binance_usdm".into(),
            ..example_pipeline("perp-futures.yaml")
        },
    )
    .await;
    (server, client)
}

async fn run(server: &TestServer, client: &Client, action: &str) -> Execution {
    deliver_ok(server, client, &alert(action, "50000")).await
}

/// The execution's orders as Binance holds them: (type and side, quantity
/// (`close` for a close-position order) and trigger or limit, position
/// side, reduce-only).
fn at_binance(mock: &MockBinanceFutures, orders: &[Order]) -> Vec<(String, String, String, bool)> {
    orders
        .iter()
        .map(|order| {
            let held: FuturesOrder = mock
                .order(&order.client_order_id)
                .unwrap_or_else(|| panic!("{} is at Binance", order.client_order_id));
            let price = held.stop_price.or(held.price).unwrap_or_default();
            let size = if held.close_position {
                "close".to_string()
            } else {
                held.quantity.normalize().to_string()
            };
            (
                format!("{} {}", held.kind, held.side),
                format!("{size} @ {price}"),
                held.position_side,
                held.reduce_only,
            )
        })
        .collect()
}

fn row(
    kind: &str,
    size: &str,
    position_side: &str,
    reduce: bool,
) -> (String, String, String, bool) {
    (kind.into(), size.into(), position_side.into(), reduce)
}

#[tokio::test]
async fn a_stop_triggered_at_the_mark_closes_the_position_and_binance_expires_the_target() {
    let mock = MockBinanceFutures::start().await;
    let (server, client) = futures_pipeline_on(&mock, false).await;
    let long = run(&server, &client, "buy").await;
    let [_, stop, target]: [Order; 3] = orders_of(&client, &long)
        .await
        .try_into()
        .expect("an entry and two legs");

    mock.set_price("BTCUSDT", dec("48400"));
    let stopped = order_reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(dec(&stopped.filled_quantity), dec("0.04"));
    assert!(mock.position("BTCUSDT").amount.is_zero());
    assert_eq!(
        mock.order(&target.client_order_id).map(|o| o.status),
        Some("EXPIRED"),
        "Binance expires a flat position's reduce-only orders"
    );
    let gone = order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert!(dec(&gone.filled_quantity).is_zero());
    // Realized: 0.04 × (48400 − 50000), less 4 bps on each fill.
    let fees = dec("0.04") * (dec("50000") + dec("48400")) * dec("0.0004");
    assert_eq!(mock.wallet(), dec("100000") - dec("64") - fees);
    server.stop().await;
}

#[tokio::test]
async fn hedge_mode_trades_by_position_side_without_reduce_only() {
    let mock = MockBinanceFutures::start().await;
    let (server, client) = futures_pipeline_on(&mock, true).await;
    let long = run(&server, &client, "buy").await;
    assert!(mock.hedge_mode(), "set before the first order");
    assert_eq!(mock.position_on("BTCUSDT", "LONG").amount, dec("0.04"));
    // In hedge mode Binance takes no reduceOnly: the position side and
    // the order's side say what reduces (the mock marks those reduce-only).
    assert_eq!(
        at_binance(&mock, &orders_of(&client, &long).await),
        [
            row("MARKET BUY", "0.04 @ 0", "LONG", false),
            row("STOP_MARKET SELL", "close @ 48500", "LONG", true),
            row("LIMIT SELL", "0.04 @ 53000", "LONG", true),
        ]
    );
    let exit = run(&server, &client, "exit").await;
    assert_eq!(
        at_binance(&mock, &orders_of(&client, &exit).await),
        [row("MARKET SELL", "0.04 @ 0", "LONG", true)]
    );
    assert!(mock.position_on("BTCUSDT", "LONG").amount.is_zero());
    server.stop().await;
}

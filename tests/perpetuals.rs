//! Perpetuals end to end on the paper exchange: TradingView `BTCUSDT.P`
//! alerts through the futures pipeline of `examples/perp-futures.yaml`
//! (5x isolated), long and short, with reduce-only brackets and exits; a
//! leveraged position liquidated when the paper price moves through its
//! liquidation price; reduce-only refusals; and a spot venue that refuses
//! a perpetual.

use std::time::Duration;

use serde_json::Value;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, bad_request_field, create_pipeline, dec, deliver, error_reason, eventually,
    example_pipeline, get_order, list_orders, mock_binance::MockBinance, place_order,
    resting_orders, start_on_mock_binance, submit, try_create_pipeline,
};

const PERP: &str = "BTC/USDT:PERP";

/// `examples/perp-futures.yaml` as the README loads it.
fn futures_example() -> Pipeline {
    example_pipeline("perp-futures.yaml")
}

/// A server whose paper market fills at the price asked (no slippage).
async fn exact_paper() -> TestServer {
    TestServer::start_with(|config| {
        config.exchanges.paper.slippage_bps = dec("0");
    })
    .await
}

use tradeplane_e2e::perpetual_alert as alert;

/// Moves the paper market of the perpetual: a signal no pipeline matches.
async fn perp_market_at(client: &Client, price: &str) {
    submit(
        client,
        SubmitSignalRequest {
            source: "ticker".into(),
            symbol: "BTCUSDT.P".into(),
            action: "buy".into(),
            price: price.into(),
            ..Default::default()
        },
    )
    .await;
}

/// The paper exchange's open perpetual positions.
async fn positions(client: &Client) -> Vec<Position> {
    client
        .orders()
        .get_positions(GetPositionsRequest::default())
        .await
        .expect("GetPositions answers")
        .into_inner()
        .positions
}

/// The execution's orders as (role, side, quantity, reduce-only, stop
/// price, limit price).
async fn legs(client: &Client, execution: &Execution) -> Vec<(OrderRole, Side, String, bool)> {
    let mut legs = Vec::new();
    for id in &execution.order_ids {
        let order = get_order(client, id).await;
        let kind = order.instrument.as_ref().map(|i| i.kind);
        assert_eq!(kind, Some(InstrumentKind::Perpetual as i32), "{order:?}");
        let price = if order.stop_price.is_empty() {
            order.price.clone()
        } else {
            order.stop_price.clone()
        };
        legs.push((
            OrderRole::try_from(order.role).expect("a known role"),
            Side::try_from(order.side).expect("a known side"),
            format!("{} @ {price}", order.quantity),
            order.reduce_only,
        ));
    }
    legs
}

fn succeeded(execution: &Execution) {
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
}

use OrderRole::{Entry, Exit, StopLoss, TakeProfit};
use Side::{Buy, Sell};

#[tokio::test]
async fn a_long_opens_at_the_pipelines_leverage_with_reduce_only_protection_and_exits_flat() {
    let server = exact_paper().await;
    let client = server.client().await;
    create_pipeline(&client, futures_example()).await;

    let entry = deliver(&server, &client, &alert("buy", "50000")).await;
    succeeded(&entry);
    // 2000 USDT of notional is 0.04 BTC; the stop 3 % under, the target
    // 6 % over, both reduce-only sells.
    assert_eq!(
        legs(&client, &entry).await,
        [
            (Entry, Buy, "0.04 @ ".into(), false),
            (StopLoss, Sell, "0.04 @ 48500".into(), true),
            (TakeProfit, Sell, "0.04 @ 53000".into(), true),
        ]
    );
    let [held] = positions(&client).await.try_into().expect("one position");
    assert_eq!(
        (
            held.symbol.as_str(),
            dec(&held.quantity),
            dec(&held.entry_price)
        ),
        (PERP, dec("0.04"), dec("50000"))
    );
    assert_eq!(held.leverage, 5, "set from the pipeline before the entry");
    assert_eq!(held.margin_mode, MarginMode::Isolated as i32);
    assert_eq!(dec(&held.margin), dec("400"));
    // 400 + 0.04 (p - 50000) = 0.005 × 0.04 p.
    assert_eq!(dec(&held.liquidation_price), dec("40201.00502513"));
    let shown = server.tpctl(&["positions", "-o", "json"]).await;
    let shown: Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(shown["positions"][0]["symbol"], PERP, "{shown}");
    assert_eq!(shown["positions"][0]["margin_mode"], "isolated", "{shown}");

    let exit = deliver(&server, &client, &alert("exit", "51000")).await;
    succeeded(&exit);
    assert_eq!(
        legs(&client, &exit).await,
        [(Exit, Sell, "0.04 @ ".into(), true)]
    );
    assert!(positions(&client).await.is_empty(), "flat");
    assert!(resting_orders(&client).await.is_empty(), "the bracket went");
}

#[tokio::test]
async fn a_sell_with_no_position_opens_a_short_that_an_exit_buys_back() {
    let server = exact_paper().await;
    let client = server.client().await;
    create_pipeline(&client, futures_example()).await;

    let short = deliver(&server, &client, &alert("sell", "50000")).await;
    succeeded(&short);
    // A short's stop is a buy above the fill, its target a buy below.
    assert_eq!(
        legs(&client, &short).await,
        [
            (Entry, Sell, "0.04 @ ".into(), false),
            (StopLoss, Buy, "0.04 @ 51500".into(), true),
            (TakeProfit, Buy, "0.04 @ 47000".into(), true),
        ]
    );
    let [held] = positions(&client).await.try_into().expect("one position");
    assert_eq!(dec(&held.quantity), dec("-0.04"));

    perp_market_at(&client, "49000").await;
    let marked = eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            match positions(&client).await.as_slice() {
                [p] if !p.unrealized_pnl.is_empty() && dec(&p.unrealized_pnl) == dec("40") => {
                    Ok(())
                }
                other => Err(format!("not marked at 49000: {other:?}")),
            }
        },
    );
    marked.await;

    let exit = deliver(&server, &client, &alert("exit", "49000")).await;
    succeeded(&exit);
    assert_eq!(
        legs(&client, &exit).await,
        [(Exit, Buy, "0.04 @ ".into(), true)]
    );
    assert!(positions(&client).await.is_empty(), "flat");
    assert!(resting_orders(&client).await.is_empty());
}

#[tokio::test]
async fn a_position_and_its_leverage_survive_a_restart() {
    let server = exact_paper().await;
    let client = server.client().await;
    create_pipeline(&client, futures_example()).await;
    succeeded(&deliver(&server, &client, &alert("sell", "50000")).await);
    let before = positions(&client).await;
    assert_eq!(before.len(), 1, "{before:?}");

    let data_dir = server.stop().await;
    let server = TestServer::start_in(data_dir, |config| {
        config.exchanges.paper.slippage_bps = dec("0");
    })
    .await;
    let client = server.client().await;
    // The mark is the last price seen: a restart has seen none yet.
    let unmarked: Vec<Position> = before
        .into_iter()
        .map(|p| Position {
            mark_price: String::new(),
            ..p
        })
        .collect();
    assert_eq!(
        positions(&client).await,
        unmarked,
        "rebuilt from the ledger"
    );
    let exit = deliver(&server, &client, &alert("exit", "50000")).await;
    succeeded(&exit);
    assert_eq!(
        legs(&client, &exit).await,
        [(Exit, Buy, "0.04 @ ".into(), true)]
    );
    assert!(positions(&client).await.is_empty());
}

#[tokio::test]
async fn a_leveraged_long_is_liquidated_when_the_price_moves_through_its_liquidation_price() {
    let server = exact_paper().await;
    let client = server.client().await;
    let mut pipeline = futures_example();
    let order = pipeline.order.as_mut().expect("order settings");
    order.leverage = 20;
    order.stop_loss = None;
    order.take_profit = None;
    let pipeline = create_pipeline(&client, pipeline).await;

    succeeded(&deliver(&server, &client, &alert("buy", "50000")).await);
    let [held] = positions(&client).await.try_into().expect("one position");
    // Margin 100: 100 + 0.04 (p - 50000) = 0.0002 p.
    assert_eq!(dec(&held.liquidation_price), dec("47738.69346734"));

    perp_market_at(&client, "47800").await;
    perp_market_at(&client, "47700").await;
    let liquidation = eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            list_orders(&client)
                .await
                .into_iter()
                .find(|o| o.status_reason.starts_with("liquidated"))
                .ok_or_else(|| "no liquidation yet".to_string())
        },
    )
    .await;
    assert_eq!(liquidation.pipeline_id, pipeline.id, "{liquidation:?}");
    assert_eq!(liquidation.side, Sell as i32);
    assert_eq!(dec(&liquidation.filled_quantity), dec("0.04"));
    assert_eq!(dec(&liquidation.average_fill_price), dec("47700"));
    assert!(liquidation.reduce_only);
    assert!(positions(&client).await.is_empty(), "liquidated flat");
    // Only the liquidation at 47700 (not the mark at 47800) took it.
    let wallet = client
        .orders()
        .get_balances(GetBalancesRequest::default())
        .await
        .expect("balances")
        .into_inner()
        .balances
        .into_iter()
        .find(|b| b.asset == "USDT")
        .expect("USDT");
    // 100000 - 2 (entry fee) - 92 (0.04 × 2300) - 1.908 (exit fee).
    assert_eq!(dec(&wallet.free), dec("99904.092"));

    // The pipeline's book is flat too: an exit has nothing to close.
    let exit = deliver(&server, &client, &alert("exit", "47700")).await;
    assert_eq!(exit.skip_reason, "no_position", "{exit:?}");
}

#[tokio::test]
async fn reduce_only_orders_that_would_increase_or_flip_a_position_are_refused() {
    let server = exact_paper().await;
    let client = server.client().await;
    let order = |side: Side, quantity: &str, reduce_only| PlaceOrderRequest {
        symbol: "BTCUSDT.P".into(),
        side: side as i32,
        r#type: OrderType::Market as i32,
        quantity: quantity.into(),
        reference_price: "50000".into(),
        reduce_only,
        ..Default::default()
    };
    let refused = place_order(&client, order(Sell, "0.01", true)).await;
    assert_eq!(refused.status, OrderStatus::Rejected as i32, "{refused:?}");
    assert!(refused.status_reason.contains("reduce_only"), "{refused:?}");
    let long = place_order(&client, order(Buy, "0.02", false)).await;
    assert_eq!(long.status, OrderStatus::Filled as i32, "{long:?}");
    let flip = place_order(&client, order(Sell, "0.03", true)).await;
    assert_eq!(flip.status, OrderStatus::Rejected as i32, "{flip:?}");
    let close = place_order(&client, order(Sell, "0.02", true)).await;
    assert_eq!(close.status, OrderStatus::Filled as i32, "{close:?}");
    assert!(close.reduce_only);
    assert!(positions(&client).await.is_empty());

    // Spot has no position to reduce: the field is refused by name.
    let spot = client
        .orders()
        .place_order(PlaceOrderRequest {
            symbol: "BTC/USDT".into(),
            ..order(Sell, "0.01", true)
        })
        .await
        .expect_err("refused");
    assert_eq!(bad_request_field(&spot), "reduce_only");
}

#[tokio::test]
async fn a_pipelines_leverage_is_checked_by_field() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut pipeline = futures_example();
    pipeline.order.as_mut().expect("order").leverage = 126;
    let refused = try_create_pipeline(&client, pipeline)
        .await
        .expect_err("refused");
    assert_eq!(bad_request_field(&refused), "pipeline.order.leverage");
    let mut pipeline = futures_example();
    pipeline.order.as_mut().expect("order").margin_mode = 0;
    let refused = try_create_pipeline(&client, pipeline)
        .await
        .expect_err("refused");
    assert_eq!(bad_request_field(&refused), "pipeline.order.margin_mode");
}

#[tokio::test]
async fn a_spot_venue_refuses_a_perpetual_by_name() {
    let mock = MockBinance::start().await;
    let server = start_on_mock_binance(&mock).await;
    let client = server.client().await;
    let mut pipeline = futures_example();
    pipeline.exchange = "binance".into();
    let refused = try_create_pipeline(&client, pipeline.clone())
        .await
        .expect_err("a perpetual pipeline on a spot venue");
    assert_eq!(bad_request_field(&refused), "pipeline.trigger");
    assert!(
        refused.message().contains("unsupported_instrument"),
        "{refused:?}"
    );
    // A pipeline for any BTC symbol is created, and skips the perpetual.
    if let Some(trigger::Kind::Signal(signal)) =
        pipeline.trigger.as_mut().and_then(|t| t.kind.as_mut())
    {
        signal.symbol_glob = "BTC/*".into();
    }
    create_pipeline(&client, pipeline).await;
    let execution = deliver(&server, &client, &alert("buy", "50000")).await;
    assert_eq!(
        (execution.status, execution.skip_reason.as_str()),
        (ExecutionStatus::Skipped as i32, "unsupported_instrument"),
        "{execution:?}"
    );
    let refused = client
        .orders()
        .place_order(PlaceOrderRequest {
            exchange: "binance".into(),
            symbol: "BTCUSDT.P".into(),
            side: Buy as i32,
            r#type: OrderType::Market as i32,
            quantity: "0.01".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(error_reason(&refused), "UNSUPPORTED_INSTRUMENT");
    assert!(mock.orders().is_empty(), "nothing reached the venue");
}

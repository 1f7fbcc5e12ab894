//! Alpaca's own end-to-end checks, through the real server and the Alpaca
//! mock, with the pipeline of `examples/alpaca-equities.yaml`: a
//! TradingView stock alert (`NASDAQ:AAPL`) buys 5 shares that fill, its
//! stop-loss and take-profit are one OCO order at Alpaca, and an exit
//! cancels them and sells; while the market is closed a signal is refused
//! as `market_closed` (the default) or, queued, held by Alpaca until the
//! open and then filled.

use tradeplane_api::*;
use tradeplane_e2e::{
    dec, deliver, example_pipeline, get_order,
    mock_alpaca::{on_mock_alpaca, stock_alert as alert},
    order_reaches, resting_orders,
};

fn with_outside_hours(rule: OutsideMarketHours) -> Pipeline {
    let mut pipeline = example_pipeline("alpaca-equities.yaml");
    if let Some(order) = pipeline.order.as_mut() {
        order.outside_market_hours = rule as i32;
    }
    pipeline
}

fn status(execution: &Execution, expected: ExecutionStatus) {
    assert_eq!(execution.status, expected as i32, "{execution:?}");
}

#[tokio::test]
async fn a_stock_alert_fills_with_one_oco_bracket_and_an_exit_sells() {
    let (mock, server, client) = on_mock_alpaca(example_pipeline("alpaca-equities.yaml")).await;
    let entry = deliver(&server, &client, &alert("NASDAQ:AAPL", "buy")).await;
    status(&entry, ExecutionStatus::Succeeded);
    let [entry_id, stop_id, target_id] = &entry.order_ids[..] else {
        panic!("an entry and two legs: {entry:?}");
    };
    let filled = get_order(&client, entry_id).await;
    assert_eq!(filled.status, OrderStatus::Filled as i32, "{filled:?}");
    assert_eq!(filled.exchange, "alpaca");
    assert_eq!(dec(&filled.filled_quantity), dec("5"));
    let instrument = filled.instrument.clone().expect("an instrument");
    assert_eq!(
        (instrument.symbol.as_str(), instrument.kind),
        ("AAPL", InstrumentKind::Equity as i32)
    );
    assert_eq!(mock.shares("AAPL"), dec("15"), "10 held, 5 bought");

    // The bracket is one OCO order at Alpaca: a take-profit limit whose
    // leg is the stop.
    let stop = get_order(&client, stop_id).await;
    let target = get_order(&client, target_id).await;
    assert_eq!(stop.oco_group, target.oco_group);
    let parents: Vec<_> = mock
        .orders()
        .into_iter()
        .filter(|o| o.order_class == "oco" && o.parent.is_none())
        .collect();
    let [parent] = &parents[..] else {
        panic!("one OCO order: {parents:?}");
    };
    assert_eq!(
        parent.client_order_id,
        format!("{}_{}", target.client_order_id, stop.client_order_id)
    );
    assert_eq!((parent.qty, parent.limit), (dec("5"), Some(dec("2120"))));
    let leg = mock
        .orders()
        .into_iter()
        .find(|o| parent.legs.contains(&o.id))
        .expect("the stop leg");
    assert_eq!((leg.kind.as_str(), leg.stop), ("stop", Some(dec("1940"))));
    for order in [&stop, &target] {
        assert_eq!(order.status, OrderStatus::Submitted as i32, "{order:?}");
    }

    let exit = deliver(&server, &client, &alert("AAPL", "exit")).await;
    status(&exit, ExecutionStatus::Succeeded);
    assert_eq!(mock.shares("AAPL"), dec("10"), "the 5 shares sold");
    assert!(resting_orders(&client).await.is_empty(), "the bracket went");
    let parent = mock.order(&parent.client_order_id).expect("still known");
    assert_eq!(parent.status, "canceled", "{parent:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_signal_while_the_market_is_closed_is_refused_by_name() {
    let (mock, server, client) =
        on_mock_alpaca(with_outside_hours(OutsideMarketHours::Refuse)).await;
    mock.close_market();
    let refused = deliver(&server, &client, &alert("NASDAQ:AAPL", "buy")).await;
    status(&refused, ExecutionStatus::Skipped);
    assert_eq!(refused.skip_reason, "market_closed", "{refused:?}");
    assert!(refused.error.contains("closed until"), "{refused:?}");
    assert!(mock.orders().is_empty(), "nothing reached Alpaca");
    server.stop().await;
}

#[tokio::test]
async fn a_queued_signal_waits_for_the_open_and_fills() {
    let (mock, server, client) =
        on_mock_alpaca(with_outside_hours(OutsideMarketHours::Queue)).await;
    mock.close_market();
    let queued = deliver(&server, &client, &alert("NASDAQ:AAPL", "buy")).await;
    status(&queued, ExecutionStatus::Succeeded);
    let entry = get_order(&client, &queued.order_ids[0]).await;
    assert_eq!(entry.status, OrderStatus::Submitted as i32, "{entry:?}");
    let held = mock.order(&entry.client_order_id).expect("at Alpaca");
    assert_eq!(
        (held.status, held.time_in_force.as_str()),
        ("accepted", "day")
    );

    mock.open_market();
    let filled = order_reaches(&client, &entry.id, OrderStatus::Filled).await;
    assert_eq!(dec(&filled.filled_quantity), dec("5"));
    assert_eq!(mock.shares("AAPL"), dec("15"));
    server.stop().await;
}

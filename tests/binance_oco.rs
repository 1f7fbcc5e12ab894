//! Brackets on Binance: the real server, configured with the mock Binance,
//! places a filled entry's stop-loss and take-profit as one native OCO
//! order list. When one leg executes, Binance expires the other and the
//! sync brings both into tradeplane; canceling one leg cancels the list;
//! an exit cancels the bracket before it closes the position.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    all_orders_of, bracketed, cancel_order, create_pipeline, dec, get_order,
    mock_binance::{Fault, MockBinance, MockOrderList, Route},
    order_reaches as reaches, orders_of, role, run_pipeline, start_on_mock_binance as start,
};

/// A pipeline on Binance buying 1000 USDT of BTC a run, with a stop 2 %
/// under the fill and a take-profit for the whole position 4 % over it.
async fn bracket_on_binance(client: &Client, name: &str) -> Pipeline {
    create_pipeline(
        client,
        Pipeline {
            exchange: "binance".into(),
            ..bracketed(name, &[("400", "100")])
        },
    )
    .await
}

/// Runs the pipeline's entry at the mock's price (50,000) and returns the
/// entry, the stop and the take-profit, checked to be one native order
/// list at the mock.
async fn enter(client: &Client, mock: &MockBinance, pipeline: &Pipeline) -> [Order; 3] {
    let lists_before = mock.order_lists().len();
    let execution = run_pipeline(client, pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let orders: [Order; 3] = orders_of(client, &execution)
        .await
        .try_into()
        .expect("an entry and two legs");
    let [entry, stop, target] = &orders;
    assert_eq!(role(entry), OrderRole::Entry);
    assert_eq!(entry.status, OrderStatus::Filled as i32, "{entry:?}");
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"), "1000 / 50000");
    assert_eq!(role(stop), OrderRole::StopLoss);
    assert_eq!(role(target), OrderRole::TakeProfit);
    for leg in [stop, target] {
        assert_eq!(leg.status, OrderStatus::Submitted as i32, "{leg:?}");
        assert_eq!(leg.exchange, "binance");
        assert_eq!(leg.oco_group, stop.oco_group);
    }

    // What Binance received: one order list, the take-profit above the
    // market as a maker-only limit, the stop below it, each leg under the
    // desk's client order id.
    let lists = mock.order_lists();
    assert_eq!(lists.len(), lists_before + 1, "one order list: {lists:#?}");
    let list: &MockOrderList = lists.last().expect("the new list");
    let param = |name: &str| list.params.get(name).map(String::as_str);
    for (name, expected) in [
        ("symbol", "BTCUSDT"),
        ("side", "SELL"),
        ("quantity", "0.02"),
        ("listClientOrderId", stop.oco_group.as_str()),
        ("aboveType", "LIMIT_MAKER"),
        ("aboveClientOrderId", target.client_order_id.as_str()),
        ("abovePrice", "52000"),
        ("belowType", "STOP_LOSS"),
        ("belowClientOrderId", stop.client_order_id.as_str()),
        ("belowStopPrice", "49000"),
    ] {
        assert_eq!(param(name), Some(expected), "{name} of {list:#?}");
    }
    for leg in [stop, target] {
        let held = mock
            .order(&leg.client_order_id)
            .expect("the leg is at Binance");
        assert_eq!(held.order_list_id, list.order_list_id);
        assert_eq!(held.status, "NEW");
        assert_eq!(leg.exchange_order_id, held.order_id.to_string());
    }
    orders
}

#[tokio::test]
async fn the_take_profit_fills_and_binance_expires_the_stop() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-target").await;
    let [_, stop, target] = enter(&client, &mock, &pipeline).await;

    mock.set_price("BTCUSDT", dec("52100"));
    let filled = reaches(&client, &target.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills.len(), 1, "{filled:?}");
    assert_eq!(filled.fills[0].price, "52000");
    let expired = reaches(&client, &stop.id, OrderStatus::Canceled).await;
    assert_eq!(expired.status_reason, "expired at Binance", "{expired:?}");
    assert_eq!(
        mock.order(&stop.client_order_id).map(|o| o.status),
        Some("EXPIRED")
    );

    // Nothing was sent twice, and a later fall does not sell again.
    mock.set_price("BTCUSDT", dec("48000"));
    assert_eq!(mock.orders_with_client_id(&stop.client_order_id), 1);
    assert_eq!(
        mock.order(&stop.client_order_id).map(|o| o.executed),
        Some(dec("0"))
    );
    server.stop().await;
}

#[tokio::test]
async fn the_stop_fills_and_binance_expires_the_take_profit() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-stop").await;
    let [_, stop, target] = enter(&client, &mock, &pipeline).await;

    // The market falls through the stop: a STOP_LOSS sells at the market.
    mock.set_price("BTCUSDT", dec("48900"));
    let filled = reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills[0].price, "48900");
    assert_eq!(dec(&filled.filled_quantity), dec("0.02"));
    reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert_eq!(
        mock.order(&target.client_order_id).map(|o| o.status),
        Some("EXPIRED")
    );
    mock.set_price("BTCUSDT", dec("55000"));
    assert_eq!(
        get_order(&client, &target.id).await.status,
        OrderStatus::Canceled as i32,
        "an expired take-profit never fills later"
    );
    server.stop().await;
}

#[tokio::test]
async fn canceling_one_leg_cancels_both() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.trader().await;
    let pipeline = bracket_on_binance(&client, "oco-cancel").await;
    let [_, stop, target] = enter(&client, &mock, &pipeline).await;

    let canceled = cancel_order(&client, &target.id)
        .await
        .expect("CancelOrder answers");
    assert_eq!(
        canceled.status,
        OrderStatus::Canceled as i32,
        "{canceled:?}"
    );
    // Binance canceled the whole list; tradeplane knows the stop is gone
    // too (canceled, not unknown).
    for leg in [&stop, &target] {
        assert_eq!(
            mock.order(&leg.client_order_id).map(|o| o.status),
            Some("CANCELED")
        );
    }
    let sibling = reaches(&client, &stop.id, OrderStatus::Canceled).await;
    let statuses: Vec<_> = sibling.transitions.iter().map(|t| t.status).collect();
    assert!(
        !statuses.contains(&(OrderStatus::Unknown as i32)),
        "{sibling:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_exit_cancels_the_order_list_then_sells_the_position() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-exit").await;
    let [entry, stop, target] = enter(&client, &mock, &pipeline).await;

    mock.set_price("BTCUSDT", dec("50500"));
    let exit = run_pipeline(&client, &pipeline, "exit", "50500", "").await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    let steps: Vec<_> = exit.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["match", "cancel", "sizing", "risk", "order"]);
    for leg in [&stop, &target] {
        assert_eq!(
            get_order(&client, &leg.id).await.status,
            OrderStatus::Canceled as i32,
            "{leg:?}"
        );
        assert_eq!(
            mock.order(&leg.client_order_id).map(|o| o.status),
            Some("CANCELED")
        );
    }
    // Then one market sell of the position, with no bracket of its own.
    let [close] = orders_of(&client, &exit)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(role(&close), OrderRole::Exit);
    assert_eq!(close.side, Side::Sell as i32);
    assert_eq!(close.quantity, entry.filled_quantity);
    assert_eq!(close.status, OrderStatus::Filled as i32, "{close:?}");
    let sold = mock
        .order(&close.client_order_id)
        .expect("the exit reached Binance");
    assert_eq!((sold.kind.as_str(), sold.status), ("MARKET", "FILLED"));
    assert_eq!(mock.order_lists().len(), 1, "the exit got no order list");
    server.stop().await;
}

#[tokio::test]
async fn binance_refuses_a_list_whose_prices_are_on_the_wrong_side_of_the_market() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    // The take-profit of a long at a fixed 49,500, under the market of
    // 50,000: a maker-only sell there would trade at once.
    let mut pipeline = Pipeline {
        exchange: "binance".into(),
        ..bracketed("oco-refused", &[("400", "100")])
    };
    let order = pipeline.order.as_mut().expect("order settings");
    order.take_profits[0].level = Some(ProtectiveOrder {
        level: Some(protective_order::Level::Price("49500".into())),
    });
    let pipeline = create_pipeline(&client, pipeline).await;

    // A refused bracket fails the execution with the refusal: the entry
    // is not protected.
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Failed as i32,
        "{execution:?}"
    );
    assert!(execution.error.contains("-2010"), "{execution:?}");
    let orders = all_orders_of(&client, &execution.id).await;
    let [_, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {execution:#?} {orders:#?}");
    };
    for leg in [stop, target] {
        assert_eq!(leg.status, OrderStatus::Rejected as i32, "{leg:?}");
        assert!(
            leg.status_reason
                .contains("The relationship of the prices for the orders is not correct")
                && leg.status_reason.contains("-2010"),
            "{}",
            leg.status_reason
        );
        assert_eq!(mock.order(&leg.client_order_id), None);
    }
    assert!(mock.order_lists().is_empty());
    server.stop().await;
}

/// Runs the pipeline's entry while the mock answers the order list with
/// `fault`; returns the two legs once the sync has settled them as
/// resting at Binance.
async fn enter_through(
    client: &Client,
    mock: &MockBinance,
    pipeline: &Pipeline,
    fault: Fault,
) -> [Order; 2] {
    mock.fail_next(Route::PlaceOrderList, fault);
    let execution = run_pipeline(client, pipeline, "buy", "50000", "").await;
    let orders = orders_of(client, &execution).await;
    let [_, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {execution:#?} {orders:#?}");
    };
    [
        reaches(client, &stop.id, OrderStatus::Submitted).await,
        reaches(client, &target.id, OrderStatus::Submitted).await,
    ]
}

#[tokio::test]
async fn an_order_list_whose_answer_was_lost_is_found_not_sent_again() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-lost").await;

    // Binance placed the list, but the answer never came back.
    let [stop, target] = enter_through(&client, &mock, &pipeline, Fault::LoseAnswer).await;
    assert_eq!(mock.order_lists().len(), 1, "never sent twice");
    for leg in [&stop, &target] {
        assert_eq!(mock.orders_with_client_id(&leg.client_order_id), 1);
        let statuses: Vec<_> = leg.transitions.iter().map(|t| t.status).collect();
        assert!(
            statuses.contains(&(OrderStatus::Unknown as i32)),
            "the outcome was unknown first: {leg:?}"
        );
    }
    // And the list works: the take-profit executes, the stop expires.
    mock.set_price("BTCUSDT", dec("52000"));
    reaches(&client, &target.id, OrderStatus::Filled).await;
    reaches(&client, &stop.id, OrderStatus::Canceled).await;
    server.stop().await;
}

#[tokio::test]
async fn an_order_list_binance_never_created_is_sent_again_as_one_list() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-resent").await;

    // A 500 before Binance created anything: the legs are unknown until
    // Binance can no longer accept the request, then sent again together.
    let [stop, target] = enter_through(&client, &mock, &pipeline, Fault::ServerError).await;
    let lists = mock.order_lists();
    assert_eq!(lists.len(), 1, "one list at Binance: {lists:#?}");
    for leg in [&stop, &target] {
        assert_eq!(mock.orders_with_client_id(&leg.client_order_id), 1);
        let held = mock
            .order(&leg.client_order_id)
            .expect("the leg is at Binance");
        assert_eq!(held.order_list_id, lists[0].order_list_id, "{held:?}");
    }
    mock.set_price("BTCUSDT", dec("48000"));
    reaches(&client, &stop.id, OrderStatus::Filled).await;
    reaches(&client, &target.id, OrderStatus::Canceled).await;
    server.stop().await;
}

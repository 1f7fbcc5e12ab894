//! Brackets on Binance: the real server, configured with the mock Binance,
//! places a filled entry's stop-loss and take-profit as one native OCO
//! order list. When one leg executes, Binance expires the other and the
//! sync brings both into tradeplane; canceling one leg cancels the list;
//! an exit cancels the bracket before it closes the position. A partial
//! take-profit expires the stop at Binance, and tradeplane resizes the
//! bracket to what is left.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    all_orders_of, audit_events, bracketed, cancel_order, create_pipeline, dec, eventually,
    get_order,
    mock_binance::{Fault, MockBinance, MockOrderList, Route},
    order_reaches as reaches, orders_of, restart_on_mock_binance as restart, resting_orders, role,
    run_pipeline, start_on_mock_binance as start,
};

/// What a run's 0.02 BTC buy leaves in the account: Binance takes its
/// 0.1 % fee in the BTC bought (0.00002). The account holds no BTC of its
/// own, so every leg and exit must sell exactly this, no more.
const HELD: &str = "0.01998";

/// What is left of [`HELD`] once 0.008 of it sold.
const LEFT: &str = "0.01198";

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
        ("quantity", HELD),
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
    let mock = MockBinance::start_without("BTC").await;
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
    let mock = MockBinance::start_without("BTC").await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-stop").await;
    let [_, stop, target] = enter(&client, &mock, &pipeline).await;

    // The market falls through the stop: a STOP_LOSS sells at the market.
    mock.set_price("BTCUSDT", dec("48900"));
    let filled = reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills[0].price, "48900");
    assert_eq!(dec(&filled.filled_quantity), dec(HELD));
    assert_eq!(mock.balance("BTC"), dec("0"), "the account is flat");
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
    let mock = MockBinance::start_without("BTC").await;
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
    let mock = MockBinance::start_without("BTC").await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-exit").await;
    let [_, stop, target] = enter(&client, &mock, &pipeline).await;

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
    assert_eq!(dec(&close.quantity), dec(HELD), "bought less the fee");
    assert_eq!(close.status, OrderStatus::Filled as i32, "{close:?}");
    let sold = mock
        .order(&close.client_order_id)
        .expect("the exit reached Binance");
    assert_eq!((sold.kind.as_str(), sold.status), ("MARKET", "FILLED"));
    assert_eq!(mock.balance("BTC"), dec("0"), "the account is flat");
    assert_eq!(mock.order_lists().len(), 1, "the exit got no order list");
    server.stop().await;
}

#[tokio::test]
async fn binance_refuses_a_list_whose_prices_are_on_the_wrong_side_of_the_market() {
    let mock = MockBinance::start_without("BTC").await;
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
    let mock = MockBinance::start_without("BTC").await;
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
    let mock = MockBinance::start_without("BTC").await;
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

/// Fills 40 % of the take-profit at Binance: 0.008 of HELD sold at
/// 52,000. Like Binance, the mock expires the stop on that first fill,
/// and the list executes on with the take-profit's remainder.
fn fill_two_fifths(mock: &MockBinance, stop: &Order, target: &Order) {
    mock.fill_part(&target.client_order_id, dec("0.008"));
    let held = |leg: &Order| mock.order(&leg.client_order_id).expect("at Binance");
    assert_eq!(held(target).status, "PARTIALLY_FILLED");
    assert_eq!(held(target).executed, dec("0.008"));
    assert_eq!(held(stop).status, "EXPIRED");
    let list = mock.order_lists().pop().expect("the bracket's list");
    assert_eq!(
        (list.list_status_type, list.list_order_status),
        ("EXEC_STARTED", "EXECUTING")
    );
}

/// Waits for the bracket of `entry` to be resized after `target` executed
/// 0.008 of HELD, and checks it: the take-profit's remainder is canceled
/// (its fill kept), the expired stop is canceled, and one new order list
/// protects the HELD - 0.008 = LEFT, at the same stop (49,000) and
/// take-profit (52,000). Returns the new stop and take-profit.
async fn resized(
    client: &Client,
    mock: &MockBinance,
    entry: &Order,
    [stop, target]: [&Order; 2],
) -> [Order; 2] {
    let mut fresh = eventually(
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            let orders = all_orders_of(client, &entry.execution_id).await;
            let fresh: Vec<Order> = orders
                .iter()
                .filter(|o| o.replaces == target.id && o.status == OrderStatus::Submitted as i32)
                .cloned()
                .collect();
            match fresh.len() {
                2 => Ok(fresh),
                _ => Err(format!("no resized bracket yet: {orders:#?}")),
            }
        },
    )
    .await;
    fresh.sort_by_key(|o| role(o) != OrderRole::StopLoss);
    let [new_stop, new_target]: [Order; 2] = fresh.try_into().expect("a stop and a take-profit");

    let old_target = reaches(client, &target.id, OrderStatus::Canceled).await;
    assert_eq!(
        dec(&old_target.filled_quantity),
        dec("0.008"),
        "{old_target:?}"
    );
    assert_eq!(old_target.fills.len(), 1);
    assert_eq!(old_target.fills[0].price, "52000");
    let old_stop = reaches(client, &stop.id, OrderStatus::Canceled).await;
    assert_eq!(old_stop.status_reason, "expired at Binance", "{old_stop:?}");
    assert_eq!(dec(&old_stop.filled_quantity), dec("0"));

    assert_eq!(role(&new_stop), OrderRole::StopLoss);
    assert_eq!(role(&new_target), OrderRole::TakeProfit);
    for leg in [&new_stop, &new_target] {
        assert_eq!(dec(&leg.quantity), dec(LEFT), "{leg:?}");
        assert_eq!(leg.oco_group, new_stop.oco_group);
        assert_eq!(leg.bracket_id, entry.id);
    }
    assert_ne!(new_stop.oco_group, stop.oco_group);
    assert_eq!(new_stop.stop_price, "49000");
    assert_eq!(new_target.price, "52000");

    // Binance got exactly one new list, for the remainder; the first one
    // is done (its take-profit's remainder canceled).
    let lists = mock.order_lists();
    let [first, second] = lists.as_slice() else {
        panic!("the bracket's list and one resized list: {lists:#?}");
    };
    assert_eq!(first.list_order_status, "ALL_DONE");
    assert_eq!(
        mock.order(&target.client_order_id).map(|o| o.status),
        Some("CANCELED")
    );
    let param = |name: &str| second.params.get(name).map(String::as_str);
    for (name, expected) in [
        ("side", "SELL"),
        ("quantity", LEFT),
        ("listClientOrderId", new_stop.oco_group.as_str()),
        ("aboveClientOrderId", new_target.client_order_id.as_str()),
        ("abovePrice", "52000"),
        ("belowClientOrderId", new_stop.client_order_id.as_str()),
        ("belowStopPrice", "49000"),
    ] {
        assert_eq!(param(name), Some(expected), "{name} of {second:#?}");
    }
    assert_eq!(second.list_order_status, "EXECUTING");

    // The resize is audited with its reason.
    let placed = audit_events(client, "order.place").await;
    let audited = placed
        .iter()
        .find(|e| e.target == new_stop.id)
        .expect("the new stop's placement is audited");
    assert!(
        audited.detail.contains(&format!(
            "take-profit {} executed 0.008 of {HELD}",
            target.id
        )) && audited.detail.contains("(resize)"),
        "{audited:?}"
    );
    [new_stop, new_target]
}

#[tokio::test]
async fn a_partial_take_profit_resizes_the_stop() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-partial").await;
    let [entry, stop, target] = enter(&client, &mock, &pipeline).await;

    fill_two_fifths(&mock, &stop, &target);
    let [new_stop, new_target] = resized(&client, &mock, &entry, [&stop, &target]).await;

    // The market falls through the stop: the rest of the position is
    // sold, and Binance expires the take-profit's remainder.
    mock.set_price("BTCUSDT", dec("48900"));
    let sold = reaches(&client, &new_stop.id, OrderStatus::Filled).await;
    assert_eq!(dec(&sold.filled_quantity), dec(LEFT));
    assert_eq!(sold.fills[0].price, "48900");
    let expired = reaches(&client, &new_target.id, OrderStatus::Canceled).await;
    assert_eq!(dec(&expired.filled_quantity), dec("0"), "{expired:?}");

    // Flat: 0.008 + LEFT sold of the HELD bought, nothing left resting
    // here or at Binance, and nothing placed twice.
    assert_eq!(dec("0.008") + dec(&sold.filled_quantity), dec(HELD));
    assert_eq!(mock.balance("BTC"), dec("0"), "the account is flat");
    assert_eq!(resting_orders(&client).await, Vec::new());
    let open_at_binance: Vec<_> = mock
        .orders()
        .into_iter()
        .filter(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
        .collect();
    assert_eq!(open_at_binance, Vec::new());
    assert_eq!(mock.order_lists().len(), 2);
    for leg in [&new_stop, &new_target] {
        assert_eq!(mock.orders_with_client_id(&leg.client_order_id), 1);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_partial_take_profit_while_the_server_is_down_is_resized_at_restart() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start(&mock).await;
    let client = server.client().await;
    let pipeline = bracket_on_binance(&client, "oco-partial-restart").await;
    let [entry, stop, target] = enter(&client, &mock, &pipeline).await;

    let data_dir = server.stop().await;
    fill_two_fifths(&mock, &stop, &target);
    let server = restart(&mock, data_dir).await;
    let client = server.client().await;
    let [new_stop, new_target] = resized(&client, &mock, &entry, [&stop, &target]).await;
    for leg in [&new_stop, &new_target] {
        assert_eq!(mock.orders_with_client_id(&leg.client_order_id), 1);
    }
    server.stop().await;
}

//! Brackets end to end on the paper exchange: a filled entry's stop-loss
//! and take-profits are one-cancels-the-other groups holding the position
//! once, a take-profit shrinks the stop, a partial take-profit resizes
//! it, and an exit cancels the bracket before it closes the position.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, all_orders_of, balances, bracketed, create_pipeline, dec, eventually, get_order,
    market_at, order_reaches as reaches, orders_of, resting_orders, role, run_pipeline,
};

/// Runs `pipeline` by hand for `action` at `price` and waits for the end.
async fn run(client: &Client, pipeline: &Pipeline, action: &str, price: &str) -> Execution {
    run_pipeline(client, pipeline, action, price, "").await
}

#[tokio::test]
async fn the_take_profit_cancels_the_stop_and_the_stop_cancels_the_take_profit() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, bracketed("bracket", &[("400", "100")])).await;
    let btc_before = balances(&client, "paper").await["BTC"];

    let execution = run(&client, &pipeline, "buy", "50000").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let orders = orders_of(&client, &execution).await;
    let [entry, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {orders:#?}");
    };
    assert_eq!(role(entry), OrderRole::Entry);
    assert_eq!(entry.status, OrderStatus::Filled as i32);
    let filled = dec(&entry.average_fill_price);
    let quantity = dec(&entry.filled_quantity);
    assert_eq!(quantity, dec("0.02"));
    // Both legs close the whole position, linked to the entry and to each
    // other; the stop is 2 % under the fill, the target 4 % over it.
    for (leg, kind) in [(stop, OrderRole::StopLoss), (target, OrderRole::TakeProfit)] {
        assert_eq!(role(leg), kind);
        assert_eq!(leg.bracket_id, entry.id);
        assert_eq!(leg.oco_group, stop.oco_group);
        assert!(!leg.oco_group.is_empty());
        assert_eq!(leg.side, Side::Sell as i32);
        assert_eq!(dec(&leg.quantity), quantity);
        assert_eq!(leg.status, OrderStatus::Submitted as i32);
    }
    // Sell prices round up to the 0.01 tick.
    let on_tick = |price: rust_decimal::Decimal| (price * dec("100")).ceil() / dec("100");
    assert_eq!(dec(&stop.stop_price), on_tick(filled * dec("0.98")));
    assert_eq!(dec(&target.price), on_tick(filled * dec("1.04")));
    // The position is reserved once for the pair, not once per leg.
    let (free, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!(locked, quantity, "one reservation for both legs");
    assert_eq!(free + locked, btc_before.0 + quantity);

    market_at(&client, "52500").await;
    reaches(&client, &target.id, OrderStatus::Filled).await;
    let canceled = reaches(&client, &stop.id, OrderStatus::Canceled).await;
    assert!(!canceled.status_reason.is_empty(), "{canceled:?}");
    let (free, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!((free, locked), btc_before, "the position is sold once");

    // The other way round: the stop executes and the target goes.
    let execution = run(&client, &pipeline, "buy", "50000").await;
    let orders = orders_of(&client, &execution).await;
    let [_, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {orders:#?}");
    };
    market_at(&client, "48000").await;
    reaches(&client, &stop.id, OrderStatus::Filled).await;
    reaches(&client, &target.id, OrderStatus::Canceled).await;
    market_at(&client, "55000").await;
    assert_eq!(
        get_order(&client, &target.id).await.status,
        OrderStatus::Canceled as i32,
        "a canceled target never fills later"
    );
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0"));
    server.stop().await;
}

#[tokio::test]
async fn each_take_profit_shrinks_the_stop_until_the_position_is_closed() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        bracketed("ladder", &[("200", "50"), ("400", "50")]),
    )
    .await;
    let execution = run(&client, &pipeline, "buy", "50000").await;
    let orders = orders_of(&client, &execution).await;
    // Worked by hand: 1000 USDT at 50000 is 0.02 BTC; half of it, 0.01,
    // goes to each take-profit, each paired with a stop for 0.01.
    let [_, stop_1, target_1, stop_2, target_2] = orders.as_slice() else {
        panic!("an entry and two pairs: {orders:#?}");
    };
    for leg in [stop_1, target_1, stop_2, target_2] {
        assert_eq!(dec(&leg.quantity), dec("0.01"), "{leg:?}");
    }
    assert_eq!(stop_1.oco_group, target_1.oco_group);
    assert_eq!(stop_2.oco_group, target_2.oco_group);
    assert_ne!(stop_1.oco_group, stop_2.oco_group);
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.02"));

    // The first target executes: its stop goes, and what still protects
    // the position is a stop for the other half.
    market_at(&client, "51100").await;
    reaches(&client, &target_1.id, OrderStatus::Filled).await;
    reaches(&client, &stop_1.id, OrderStatus::Canceled).await;
    assert_eq!(
        get_order(&client, &stop_2.id).await.status,
        OrderStatus::Submitted as i32
    );
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.01"));

    // Then the price falls through the stop: the rest is sold once.
    market_at(&client, "48000").await;
    reaches(&client, &stop_2.id, OrderStatus::Filled).await;
    reaches(&client, &target_2.id, OrderStatus::Canceled).await;
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0"));
    server.stop().await;
}

#[tokio::test]
async fn an_exit_cancels_the_bracket_then_closes_without_protection() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, bracketed("exits", &[("400", "100")])).await;
    let entry = run(&client, &pipeline, "buy", "50000").await;
    let legs = orders_of(&client, &entry).await;

    let exit = run(&client, &pipeline, "exit", "50500").await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    let steps: Vec<_> = exit.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["match", "cancel", "sizing", "risk", "order"]);
    for leg in &legs[1..] {
        assert_eq!(
            get_order(&client, &leg.id).await.status,
            OrderStatus::Canceled as i32,
            "{leg:?}"
        );
    }
    // One order: the exit itself, with no bracket of its own.
    let [close] = orders_of(&client, &exit)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(role(&close), OrderRole::Exit);
    assert_eq!(close.side, Side::Sell as i32);
    assert_eq!(close.quantity, legs[0].filled_quantity);
    assert_eq!(close.status, OrderStatus::Filled as i32);
    let open = resting_orders(&client).await;
    assert!(open.is_empty(), "nothing left resting: {open:#?}");
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0"));
    server.stop().await;
}

#[tokio::test]
async fn a_partial_take_profit_resizes_the_stop_on_paper_too() {
    // A price update fills at most 0.008 of a resting limit.
    let server = TestServer::start_with(|config| {
        config.exchanges.paper.max_fill_quantity = Some(dec("0.008"));
    })
    .await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, bracketed("partial", &[("400", "100")])).await;
    let btc_before = balances(&client, "paper").await["BTC"];
    let execution = run(&client, &pipeline, "buy", "50000").await;
    let orders = orders_of(&client, &execution).await;
    let [entry, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {orders:#?}");
    };
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"));

    // The take-profit sells 0.008 of 0.02 (40 %); its first fill cancels
    // the stop, as Binance expires it.
    market_at(&client, "52500").await;
    let partial = reaches(&client, &target.id, OrderStatus::PartiallyFilled).await;
    assert_eq!(dec(&partial.filled_quantity), dec("0.008"));
    reaches(&client, &stop.id, OrderStatus::Canceled).await;
    // The market sits over the take-profit: a new group would execute at
    // once, so the resize waits for the price to come back between them.
    market_at(&client, "51000").await;
    let fresh = eventually(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(20),
        || async {
            let fresh: Vec<Order> = all_orders_of(&client, &execution.id)
                .await
                .into_iter()
                .filter(|o| o.replaces == target.id && o.status == OrderStatus::Submitted as i32)
                .collect();
            match fresh.len() {
                2 => Ok(fresh),
                _ => Err(format!("no resized bracket yet: {fresh:#?}")),
            }
        },
    )
    .await;
    let old_target = reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert_eq!(dec(&old_target.filled_quantity), dec("0.008"));
    // 0.02 - 0.008 = 0.012 left, at the same stop and take-profit prices,
    // reserved once.
    let new_stop = fresh.iter().find(|o| role(o) == OrderRole::StopLoss);
    let new_target = fresh.iter().find(|o| role(o) == OrderRole::TakeProfit);
    let (Some(new_stop), Some(new_target)) = (new_stop, new_target) else {
        panic!("a stop and a take-profit: {fresh:#?}");
    };
    for leg in [new_stop, new_target] {
        assert_eq!(dec(&leg.quantity), dec("0.012"), "{leg:?}");
        assert_eq!(leg.oco_group, new_stop.oco_group);
    }
    assert_eq!(new_stop.stop_price, stop.stop_price);
    assert_eq!(new_target.price, target.price);
    let (_, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!(locked, dec("0.012"), "one reservation for the new group");

    // The stop sells the rest (a triggered stop fills whole); the
    // take-profit's remainder is canceled; flat, nothing resting.
    market_at(&client, "48000").await;
    let sold = reaches(&client, &new_stop.id, OrderStatus::Filled).await;
    assert_eq!(dec(&sold.filled_quantity), dec("0.012"));
    reaches(&client, &new_target.id, OrderStatus::Canceled).await;
    assert_eq!(resting_orders(&client).await, Vec::new());
    let (free, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!((free, locked), btc_before, "the position is sold once");
    server.stop().await;
}

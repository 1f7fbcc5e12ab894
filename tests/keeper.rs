//! The bracket keeper end to end on the paper exchange: cancel-after for
//! resting limit entries, the bracket of an entry that fills after its
//! execution ended, stops moved to breakeven after the first take-profit,
//! trailing stops that follow the price and fire, and coverage, which
//! puts a stop under a position left without one (and meters one it
//! cannot).

use std::time::Duration;

use rust_decimal::Decimal;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, all_orders_of, audit_events, balances, bracketed, cancel_order, create_pipeline,
    dec, eventually, get_order, halt_trading, market_at, order_reaches, orders_of, resting_orders,
    resume_trading, role, run_pipeline, strategy_pipeline, submit,
};

fn offset(bps: &str) -> Option<ProtectiveOrder> {
    Some(ProtectiveOrder {
        level: Some(protective_order::Level::OffsetBps(bps.into())),
    })
}

/// A pipeline run by hand, buying 1000 USDT of BTC a run with `order`.
fn pipeline(name: &str, order: OrderSettings) -> Pipeline {
    Pipeline {
        order: Some(order),
        ..strategy_pipeline(name, sizing::Method::FixedQuoteAmount("1000".into()))
    }
}

/// A LIMIT buy 1 % under the market (it rests).
fn resting_limit() -> OrderSettings {
    OrderSettings {
        r#type: OrderType::Limit as i32,
        limit_offset_bps: "-100".into(),
        ..Default::default()
    }
}

/// A sell price rounded up to the paper tick of 0.01.
fn on_tick(price: Decimal) -> Decimal {
    (price * dec("100")).ceil() / dec("100")
}

/// Waits until the execution has an open stop that replaces `old`, and
/// returns it with its take-profit, if any.
async fn replacement_of(
    client: &Client,
    execution_id: &str,
    old: &Order,
) -> (Order, Option<Order>) {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            let orders = all_orders_of(client, execution_id).await;
            let legs: Vec<Order> = orders
                .into_iter()
                .filter(|o| o.replaces == old.id)
                .collect();
            let stop = legs
                .iter()
                .find(|o| role(o) == OrderRole::StopLoss)
                .cloned();
            let target = legs
                .iter()
                .find(|o| role(o) == OrderRole::TakeProfit)
                .cloned();
            match stop {
                Some(stop) if stop.status == OrderStatus::Submitted as i32 => Ok((stop, target)),
                _ => Err(format!("no open stop replaces {}", old.id)),
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_limit_entry_is_canceled_after_cancel_after() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let order = OrderSettings {
        cancel_after: Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
        ..resting_limit()
    };
    let pipeline = create_pipeline(&client, pipeline("patient", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [entry] = orders_of(&client, &execution)
        .await
        .try_into()
        .expect("one order");
    // 50000 - 1 % = 49500: under the market, it rests.
    assert_eq!(dec(&entry.price), dec("49500"));
    assert_eq!(entry.status, OrderStatus::Submitted as i32);

    order_reaches(&client, &entry.id, OrderStatus::Canceled).await;
    let cancels = audit_events(&client, "order.cancel").await;
    assert!(
        cancels.iter().any(|e| e.target == entry.id
            && e.actor == "pipeline:patient"
            && e.detail.contains("cancel_after")),
        "{cancels:#?}"
    );
    // The market crossing the old limit later fills nothing.
    market_at(&client, "49000").await;
    assert!(resting_orders(&client).await.is_empty());
    assert_eq!(get_order(&client, &entry.id).await.filled_quantity, "0");
    server.stop().await;
}

#[tokio::test]
async fn an_entry_that_fills_after_its_execution_gets_its_bracket() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let order = OrderSettings {
        stop_loss: offset("200"),
        take_profit: offset("400"),
        ..resting_limit()
    };
    let pipeline = create_pipeline(&client, pipeline("late", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let [entry] = orders_of(&client, &execution)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(entry.status, OrderStatus::Submitted as i32, "it rests");

    // The market falls through the limit: the entry fills at 49500.
    market_at(&client, "49400").await;
    let entry = order_reaches(&client, &entry.id, OrderStatus::Filled).await;
    let (stop, target) = eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            let legs: Vec<Order> = all_orders_of(&client, &execution.id)
                .await
                .into_iter()
                .filter(|o| o.bracket_id == entry.id && o.id != entry.id)
                .collect();
            let sent = |o: &Order| o.status == OrderStatus::Submitted as i32;
            match legs.as_slice() {
                [a, b] if sent(a) && sent(b) => Ok(if role(a) == OrderRole::StopLoss {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                }),
                _ => Err(format!("no bracket resting yet: {legs:#?}")),
            }
        },
    )
    .await;
    // Worked by hand: 1000 / 50000 = 0.02 BTC; stop 2 % under 49500 is
    // 48510, target 4 % over it is 51480.
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"));
    assert_eq!(
        (role(&stop), role(&target)),
        (OrderRole::StopLoss, OrderRole::TakeProfit)
    );
    assert_eq!(dec(&stop.stop_price), dec("48510"));
    assert_eq!(dec(&target.price), dec("51480"));
    assert_eq!(stop.oco_group, target.oco_group);
    for leg in [&stop, &target] {
        assert_eq!(dec(&leg.quantity), dec("0.02"));
    }
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.02"));
    server.stop().await;
}

#[tokio::test]
async fn the_stops_move_to_breakeven_after_the_first_take_profit() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let btc_before = balances(&client, "paper").await["BTC"];
    let level = |bps: &str, percent: &str| TakeProfitLevel {
        level: offset(bps),
        percent: percent.into(),
    };
    let order = OrderSettings {
        stop_loss: offset("200"),
        take_profits: vec![level("200", "50"), level("400", "50")],
        breakeven_after_first_take_profit: true,
        ..Default::default()
    };
    let pipeline = create_pipeline(&client, pipeline("breakeven", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    let [entry, stop_1, target_1, stop_2, target_2] = orders.as_slice() else {
        panic!("an entry and two pairs: {orders:#?}");
    };
    let entry_price = dec(&entry.average_fill_price);

    // The first target executes: its own stop goes with it, and the stop
    // of the other half moves up to the entry price, paired again with
    // the same target.
    market_at(&client, "51100").await;
    order_reaches(&client, &target_1.id, OrderStatus::Filled).await;
    order_reaches(&client, &stop_1.id, OrderStatus::Canceled).await;
    let (moved, target) = replacement_of(&client, &execution.id, stop_2).await;
    let target = target.expect("the target is paired again");
    assert_eq!(dec(&moved.stop_price), on_tick(entry_price));
    assert!(dec(&moved.stop_price) > dec(&stop_2.stop_price));
    assert_eq!(dec(&moved.quantity), dec("0.01"));
    assert_eq!(target.price, target_2.price);
    assert_eq!(moved.oco_group, target.oco_group);
    assert_ne!(moved.oco_group, stop_2.oco_group);
    assert_eq!(moved.bracket_id, entry.id);
    order_reaches(&client, &stop_2.id, OrderStatus::Canceled).await;
    order_reaches(&client, &target_2.id, OrderStatus::Canceled).await;
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.01"));

    // The price comes back under the entry: the rest closes at breakeven.
    market_at(&client, &(entry_price - dec("1")).to_string()).await;
    order_reaches(&client, &moved.id, OrderStatus::Filled).await;
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert!(resting_orders(&client).await.is_empty());
    let (free, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!((free + locked, locked), (btc_before.0, dec("0")));
    server.stop().await;
}

#[tokio::test]
async fn a_trailing_stop_follows_the_price_up_and_fires() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let order = OrderSettings {
        trailing_stop: Some(TrailingStop {
            distance: Some(trailing_stop::Distance::Percent("2".into())),
        }),
        ..Default::default()
    };
    let pipeline = create_pipeline(&client, pipeline("trailing", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    let [entry, first] = orders.as_slice() else {
        panic!("an entry and its stop: {orders:#?}");
    };
    // It starts 2 % under the fill.
    let filled = dec(&entry.average_fill_price);
    assert_eq!(dec(&first.stop_price), on_tick(filled * dec("0.98")));

    // 52000 - 2 % = 50960; then 53000 - 2 % = 51940.
    market_at(&client, "52000").await;
    let (second, _) = replacement_of(&client, &execution.id, first).await;
    assert_eq!(dec(&second.stop_price), dec("50960"));
    order_reaches(&client, &first.id, OrderStatus::Canceled).await;
    market_at(&client, "53000").await;
    let (third, _) = replacement_of(&client, &execution.id, &second).await;
    assert_eq!(dec(&third.stop_price), dec("51940"));
    assert_eq!(dec(&third.quantity), dec(&entry.filled_quantity));

    // A fall never moves it back; through it, it fires.
    market_at(&client, "51000").await;
    order_reaches(&client, &third.id, OrderStatus::Filled).await;
    assert!(resting_orders(&client).await.is_empty());
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0"));
    server.stop().await;
}

/// Stores, without sending it, a stop at `stop_price` that replaces the
/// open order `old`: what a crash leaves between deciding a move and
/// making it. Returns the new order's id.
async fn stored_replacement(server: &TestServer, old: &Order, stop_price: &str) -> String {
    use tradeplane_server::model::order::{Order as Row, OrderStatus as Status};
    let store = server.store();
    let stored = store
        .get_order(&old.id)
        .await
        .expect("store")
        .expect("old order");
    let ticket = stored.ticket();
    let mut origin = stored.origin.clone();
    origin.replaces = old.id.clone();
    origin.oco_group.clear();
    let mut row = Row::new(
        &ticket,
        (&stored.exchange, &stored.account),
        origin,
        stored.create_time_ms,
    );
    row.client_order_id = tradeplane_server::orders::desk::client_order_id("test:moved");
    row.stop_price = Some(dec(stop_price));
    assert_eq!(row.status, Status::New);
    store
        .insert_orders(&[(&row, Some("test:moved"))])
        .await
        .expect("stored");
    row.id
}

#[tokio::test]
async fn a_move_cut_short_by_a_restart_finishes_once() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let order = OrderSettings {
        stop_loss: offset("200"),
        take_profit: offset("400"),
        ..Default::default()
    };
    let pipeline = create_pipeline(&client, pipeline("cut-short", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    let [entry, stop, target] = orders.as_slice() else {
        panic!("an entry and a pair: {orders:#?}");
    };
    let moved = stored_replacement(&server, stop, "49900").await;

    // After the restart the old pair is canceled, then the new stop sent.
    let server = TestServer::start_in(server.stop().await, |_| {}).await;
    let client = server.client().await;
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    let moved = order_reaches(&client, &moved, OrderStatus::Submitted).await;
    assert_eq!(dec(&moved.stop_price), dec("49900"));
    let resting = resting_orders(&client).await;
    assert_eq!(
        resting.len(),
        1,
        "one stop protects the position: {resting:#?}"
    );
    assert_eq!(
        balances(&client, "paper").await["BTC"].1,
        dec(&entry.filled_quantity)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_move_whose_old_stop_traded_first_is_never_sent() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        pipeline(
            "traded-first",
            OrderSettings {
                stop_loss: offset("200"),
                ..Default::default()
            },
        ),
    )
    .await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    let [_, stop] = orders.as_slice() else {
        panic!("an entry and its stop: {orders:#?}");
    };
    let moved = stored_replacement(&server, stop, "49900").await;
    market_at(&client, "48000").await;
    order_reaches(&client, &stop.id, OrderStatus::Filled).await;

    let server = TestServer::start_in(server.stop().await, |_| {}).await;
    let client = server.client().await;
    let dropped = order_reaches(&client, &moved, OrderStatus::Canceled).await;
    assert!(
        dropped.status_reason.contains("traded first"),
        "{dropped:?}"
    );
    assert!(resting_orders(&client).await.is_empty());
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0"));
    server.stop().await;
}

#[tokio::test]
async fn a_partial_exit_leaves_the_rest_covered_by_a_stop() {
    let server = TestServer::start_with(|config| {
        config.pipelines.reconcile_every = Duration::from_millis(200);
    })
    .await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, bracketed("partly", &[("400", "100")])).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let entry = orders_of(&client, &execution).await.remove(0);

    // The strategy sells half: its bracket goes, 0.01 BTC stays held.
    submit(
        &client,
        SubmitSignalRequest {
            source: "strategy".into(),
            symbol: "BTC/USDT".into(),
            action: "sell".into(),
            price: "50000".into(),
            market_position: "long".into(),
            position_size: "0.01".into(),
            ..Default::default()
        },
    )
    .await;
    // Once its fills settle (10 s), the rest gets a stop 2 % under the
    // average cost: the entry's fill. (The bracket's stop for 0.02 may be
    // seen alone for a moment, between the exit's two cancels.)
    let stop = eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            match resting_orders(&client).await.as_slice() {
                [stop]
                    if stop.status == OrderStatus::Submitted as i32
                        && stop.execution_id != execution.id =>
                {
                    Ok(stop.clone())
                }
                other => Err(format!("not one resting stop: {other:#?}")),
            }
        },
    )
    .await;
    assert_eq!(role(&stop), OrderRole::StopLoss);
    assert_eq!(dec(&stop.quantity), dec("0.01"));
    assert_eq!(
        dec(&stop.stop_price),
        on_tick(dec(&entry.average_fill_price) * dec("0.98"))
    );
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.01"));
    server.stop().await;
}

#[tokio::test]
async fn a_partial_take_profit_resized_later_still_moves_the_stop_to_breakeven() {
    // A price update fills at most 0.008 of a resting limit.
    let server = TestServer::start_with(|config| {
        config.exchanges.paper.max_fill_quantity = Some(dec("0.008"));
    })
    .await;
    let client = server.client().await;
    let order = OrderSettings {
        stop_loss: offset("200"),
        take_profits: vec![TakeProfitLevel {
            level: offset("400"),
            percent: "100".into(),
        }],
        breakeven_after_first_take_profit: true,
        ..Default::default()
    };
    let pipeline = create_pipeline(&client, pipeline("partial-breakeven", order)).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    let [entry, stop, target] = orders.as_slice() else {
        panic!("an entry and a pair: {orders:#?}");
    };
    let entry_price = dec(&entry.average_fill_price);

    // 0.008 of 0.02 sells at the take-profit, which cancels the stop; the
    // resize waits while the market sits over the take-profit.
    market_at(&client, "52500").await;
    order_reaches(&client, &target.id, OrderStatus::PartiallyFilled).await;
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    market_at(&client, "51000").await;

    // The resized stop (for 0.012, at the old price) then moves to the
    // entry price, paired with the take-profit's remainder.
    let resized = eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            all_orders_of(&client, &execution.id)
                .await
                .into_iter()
                .find(|o| o.replaces == target.id && role(o) == OrderRole::StopLoss)
                .ok_or_else(|| format!("no stop replaces {}", target.id))
        },
    )
    .await;
    assert_eq!(dec(&resized.quantity), dec("0.012"));
    assert_eq!(resized.stop_price, stop.stop_price);
    let (moved, remainder) = replacement_of(&client, &execution.id, &resized).await;
    let remainder = remainder.expect("the take-profit is paired again");
    assert_eq!(dec(&moved.stop_price), on_tick(entry_price));
    assert_eq!(dec(&moved.quantity), dec("0.012"));
    assert_eq!(dec(&remainder.quantity), dec("0.012"));
    assert_eq!(remainder.price, target.price);
    assert_eq!(balances(&client, "paper").await["BTC"].1, dec("0.012"));

    // Under the entry, the rest closes at breakeven.
    market_at(&client, &(entry_price - dec("1")).to_string()).await;
    order_reaches(&client, &moved.id, OrderStatus::Filled).await;
    order_reaches(&client, &remainder.id, OrderStatus::Canceled).await;
    assert!(resting_orders(&client).await.is_empty());
    server.stop().await;
}

/// Waits until `tradeplane_position_unprotected` reads `value` for
/// `pipeline`; fails the test after 30 s.
async fn unprotected_reads(server: &TestServer, pipeline: &str, value: &str) {
    let series = format!("pipeline=\"{pipeline}\"");
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let exposition = server.metrics().await;
            let read = exposition
                .lines()
                .find(|l| l.starts_with("tradeplane_position_unprotected{") && l.contains(&series))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string);
            if read.as_deref() == Some(value) {
                Ok(())
            } else {
                Err(format!("{pipeline}: unprotected reads {read:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_position_coverage_cannot_protect_is_metered_until_it_can() {
    // Coverage runs with the reconciliation.
    let server = TestServer::start_with(|config| {
        config.pipelines.reconcile_every = Duration::from_millis(200);
    })
    .await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, bracketed("bare", &[("400", "100")])).await;
    run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    unprotected_reads(&server, "bare", "0").await;

    // The bracket is canceled by hand while trading is halted: coverage
    // (once the fills settle, 10 s) cannot place a stop, and says so.
    halt_trading(&client).await;
    let [stop, _target]: [Order; 2] = resting_orders(&client)
        .await
        .try_into()
        .expect("the bracket's two legs");
    cancel_order(&client, &stop.id).await.expect("canceled");
    unprotected_reads(&server, "bare", "1").await;
    assert_eq!(resting_orders(&client).await, Vec::new());

    // Trading resumes: coverage places the stop, and the gauge goes back.
    resume_trading(&client).await;
    unprotected_reads(&server, "bare", "0").await;
    let [stop]: [Order; 1] = resting_orders(&client).await.try_into().expect("one stop");
    assert_eq!(role(&stop), OrderRole::StopLoss);
    assert_eq!(dec(&stop.quantity), dec("0.02"));
    server.stop().await;
}

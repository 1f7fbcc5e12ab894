//! Bybit's TP/SL on the position (`order.attach_exits`) beyond the
//! conformance kit, through the real server and the Bybit mock: the entry
//! carries the exits and nothing else is placed; canceling a leg or an
//! exit clears the position's TP/SL (`/v5/position/trading-stop`); hedge
//! mode keeps the TP/SL per side; a fault on `trading-stop` settles; a
//! TP/SL Bybit refuses opens nothing; spot is refused by name.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, bracketed_pipeline, cancel_order, create_pipeline, dec, deliver, deliver_ok,
    example_pipeline,
    mock_bybit::{MockBybit, TpSl},
    mock_venue::{Fault, Route},
    order_reaches, orders_of, perpetual_alert as alert, run_pipeline,
};

/// A server on `mock`, synced every 200 ms, trading
/// `examples/perp-futures.yaml` on Bybit with its exits attached (stop
/// 3 %, target 6 % from the signal's 50,000).
async fn attached_on(mock: &MockBybit, hedge_mode: bool) -> (TestServer, Client) {
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.bybit.hedge_mode = hedge_mode;
        config.exchanges.bybit.recv_window = Duration::from_secs(1);
        config.exchanges.sync_interval = Duration::from_millis(200);
    })
    .await;
    let client = server.client().await;
    let mut pipeline = Pipeline {
        exchange: "bybit".into(),
        ..example_pipeline("perp-futures.yaml")
    };
    pipeline
        .order
        .as_mut()
        .expect("order settings")
        .attach_exits = true;
    create_pipeline(&client, pipeline).await;
    (server, client)
}

/// The TP/SL at `take_profit` / `stop_loss`.
fn tpsl(take_profit: &str, stop_loss: &str) -> TpSl {
    TpSl {
        take_profit: Some(dec(take_profit)),
        stop_loss: Some(dec(stop_loss)),
    }
}

/// An execution's entry and its attached legs, stop then target.
async fn entry_and_legs(client: &Client, execution: &Execution) -> (Order, [Order; 2]) {
    let orders = orders_of(client, execution).await;
    let entry = orders
        .iter()
        .find(|o| o.attached_exits.is_some())
        .unwrap_or_else(|| panic!("an entry with exits in {orders:?}"))
        .clone();
    let leg = |kind: OrderType| {
        orders
            .iter()
            .find(|o| o.attached_to == entry.client_order_id && o.r#type == kind as i32)
            .unwrap_or_else(|| panic!("a {kind:?} leg in {orders:?}"))
            .clone()
    };
    let legs = [leg(OrderType::Stop), leg(OrderType::Limit)];
    (entry, legs)
}

#[tokio::test]
async fn the_entry_carries_the_exits_and_canceling_a_leg_clears_them_on_the_position() {
    let mock = MockBybit::start().await;
    let (server, client) = attached_on(&mock, false).await;
    let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
    let (entry, [stop, target]) = entry_and_legs(&client, &long).await;
    assert_eq!(mock.create_requests(), 1, "only the entry was sent");
    let at_venue = mock.order(&entry.client_order_id).expect("the entry");
    assert_eq!(at_venue.tpsl, tpsl("53000", "48500"));
    let position = mock.position("BTCUSDT").expect("a long");
    assert_eq!(
        (position.size, position.tpsl),
        (dec("0.04"), tpsl("53000", "48500"))
    );
    for leg in [&stop, &target] {
        assert_eq!(leg.status, OrderStatus::Submitted as i32, "{leg:?}");
        assert!(mock.order(&leg.client_order_id).is_none(), "never sent");
    }

    // Canceling one leg clears both at Bybit; the position stays open.
    let canceled = cancel_order(&client, &target.id).await.expect("canceled");
    assert_eq!(
        canceled.status,
        OrderStatus::Canceled as i32,
        "{canceled:?}"
    );
    let position = mock.position("BTCUSDT").expect("still long");
    assert_eq!(position.tpsl, TpSl::default(), "TP/SL cleared");
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;

    deliver_ok(&server, &client, &alert("exit", "50000")).await;
    assert_eq!(mock.position("BTCUSDT"), None, "flat");
    assert!(mock.triggered_closes().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn hedge_mode_sets_each_sides_tpsl_and_a_triggered_target_closes_its_side() {
    let mock = MockBybit::start().await;
    let (server, client) = attached_on(&mock, true).await;
    let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
    let (entry, _) = entry_and_legs(&client, &long).await;
    let at_venue = mock.order(&entry.client_order_id).expect("the entry");
    assert_eq!(at_venue.position_idx, 1, "the long side");
    let held = mock.position_on("BTCUSDT", 1).expect("a long");
    assert_eq!(held.tpsl, tpsl("53000", "48500"));
    deliver_ok(&server, &client, &alert("exit", "50000")).await;
    assert_eq!(mock.position_on("BTCUSDT", 1), None, "flat again");

    let short = deliver_ok(&server, &client, &alert("sell", "50000")).await;
    let (_, [stop, target]) = entry_and_legs(&client, &short).await;
    let held = mock.position_on("BTCUSDT", 2).expect("a short");
    assert_eq!(
        (held.size, held.tpsl),
        (dec("-0.04"), tpsl("47000", "51500")),
        "a short's target is below, its stop above"
    );
    mock.set_price("BTCUSDT", dec("46990"));
    let closes = mock.triggered_closes();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(
        (closes[0].stop_order_type, closes[0].side.as_str()),
        ("TakeProfit", "Buy")
    );
    assert_eq!(closes[0].position_idx, 2);
    assert_eq!(mock.position_on("BTCUSDT", 2), None, "closed by its TP");
    let filled = order_reaches(&client, &target.id, OrderStatus::Filled).await;
    assert_eq!(dec(&filled.filled_quantity), dec("0.04"));
    assert_eq!(filled.exchange_order_id, closes[0].order_id);
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    server.stop().await;
}

#[tokio::test]
async fn a_fault_on_trading_stop_settles_without_a_resend() {
    let mock = MockBybit::start().await;
    let (server, client) = attached_on(&mock, false).await;
    // A 500 before Bybit cleared the TP/SL, then one after.
    for (fault, cleared) in [
        (Fault::ServerError, false),
        (Fault::ServerErrorAfterProcessing, true),
    ] {
        let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
        let (_, [stop, target]) = entry_and_legs(&client, &long).await;
        let sent = mock.create_requests();
        mock.fail_next(Route::CancelOrder, fault);
        let exit = deliver(&server, &client, &alert("exit", "50000")).await;
        assert_eq!(
            exit.status,
            ExecutionStatus::Failed as i32,
            "{fault:?}: {exit:?}"
        );
        assert_eq!(mock.create_requests(), sent, "{fault:?}: no close was sent");
        let position = mock.position("BTCUSDT").expect("still long");
        if cleared {
            assert_eq!(position.tpsl, TpSl::default(), "cleared at Bybit");
            // The sync finds both legs gone from the position.
            for leg in [&stop, &target] {
                order_reaches(&client, &leg.id, OrderStatus::Canceled).await;
            }
        } else {
            assert_eq!(position.tpsl, tpsl("53000", "48500"), "still protected");
        }
        // The next exit clears what is left and closes the position.
        deliver_ok(&server, &client, &alert("exit", "50000")).await;
        assert_eq!(mock.position("BTCUSDT"), None, "{fault:?}: flat");
        for leg in [&stop, &target] {
            order_reaches(&client, &leg.id, OrderStatus::Canceled).await;
        }
    }
    assert!(mock.triggered_closes().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_tpsl_bybit_refuses_opens_nothing() {
    let mock = MockBybit::start().await;
    let (server, client) = attached_on(&mock, false).await;
    // The market ran past the target since the signal's 50,000.
    mock.set_price("BTCUSDT", dec("53500"));
    let refused = deliver(&server, &client, &alert("buy", "50000")).await;
    assert_eq!(
        refused.status,
        ExecutionStatus::Failed as i32,
        "{refused:?}"
    );
    assert!(refused.error.contains("10001"), "{}", refused.error);
    assert!(refused.error.contains("TakeProfit"), "{}", refused.error);
    assert_eq!(mock.position("BTCUSDT"), None, "nothing opened");
    server.stop().await;
}

#[tokio::test]
async fn spot_entries_with_exits_are_refused_by_name() {
    let mock = MockBybit::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    let mut pipeline = Pipeline {
        exchange: "bybit".into(),
        ..bracketed_pipeline("spot-attached", "1000", "200", &[("400", "100")])
    };
    pipeline
        .order
        .as_mut()
        .expect("order settings")
        .attach_exits = true;
    // Bybit attaches exits on perpetuals, so the pipeline is accepted...
    let pipeline = create_pipeline(&client, pipeline).await;
    // ...but the desk refuses its spot entry (UNSUPPORTED_ATTACHED_EXITS,
    // field `attach_exits`) before it is sent.
    let refused = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        refused.status,
        ExecutionStatus::Failed as i32,
        "{refused:?}"
    );
    assert_eq!(
        refused.error,
        "attach_exits: `bybit` does not attach exits to an entry in a spot"
    );
    assert_eq!(mock.create_requests(), 0, "nothing reached Bybit");
    server.stop().await;
}

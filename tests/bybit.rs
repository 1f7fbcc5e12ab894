//! Bybit's own end-to-end checks, through the real server and the Bybit
//! mock, beyond the kit (tests/conformance_bybit_spot.rs and, for the USDT
//! perpetuals, tests/conformance_bybit_linear.rs): Bybit's `X-Bapi-Limit`
//! on the rate-limit gauge, and what the conformance kit cannot tell on
//! Bybit (which refuses a reused `orderLinkId`, so a
//! blind resend would be refused rather than doubled): an order whose
//! answer was lost is looked up, not sent again. In hedge mode the orders
//! name their side of the position by `positionIdx`.

use tradeplane_api::{Side::Buy, *};
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer,
    conformance::order_on,
    create_pipeline, dec, deliver_ok, example_pipeline, get_order,
    mock_bybit::{API_KEY, API_SECRET, MockBybit, MockOrder, RATE_LIMIT},
    mock_venue::{Fault, Route},
    perpetual_alert as alert, place_order,
};

async fn on_mock_bybit() -> (MockBybit, TestServer, Client) {
    let mock = MockBybit::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    (mock, server, client)
}

/// The order the mock holds for the tradeplane order `id`.
async fn at_venue(mock: &MockBybit, client: &Client, id: &str) -> MockOrder {
    let order = get_order(client, id).await;
    mock.order(&order.client_order_id)
        .unwrap_or_else(|| panic!("the venue holds {order:?}"))
}

#[tokio::test]
async fn bybits_rate_limit_reaches_the_gauge_and_no_credential_does() {
    let (_mock, server, client) = on_mock_bybit().await;
    let placed = place_order(&client, order_on::<MockBybit>("gauge", Buy, "0.001", None)).await;
    assert_eq!(placed.status, OrderStatus::Filled as i32, "{placed:?}");
    let metrics = server.metrics().await;
    let gauge = metrics.lines().find(|l| {
        l.starts_with("tradeplane_exchange_rate_limit_limit") && l.contains("exchange=\"bybit\"")
    });
    assert!(
        gauge.is_some_and(|l| l.ends_with(&format!(" {RATE_LIMIT}"))),
        "{gauge:?}"
    );
    for secret in [API_KEY, API_SECRET] {
        assert!(
            !metrics.contains(secret),
            "a credential reached the metrics"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_order_whose_answer_was_lost_is_looked_up_and_never_sent_again() {
    let (mock, server, client) = on_mock_bybit().await;
    for (name, fault) in [
        ("lost", Fault::LoseAnswer),
        ("timeout", Fault::BackendTimeout),
    ] {
        let before = mock.create_requests();
        mock.fail_next(Route::PlaceOrder, fault);
        let placed = place_order(&client, order_on::<MockBybit>(name, Buy, "0.001", None)).await;
        assert_eq!(
            placed.status,
            OrderStatus::Filled as i32,
            "{name}: {placed:?}"
        );
        assert_eq!(
            mock.create_requests() - before,
            1,
            "{name}: sent once, then looked up"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn hedge_mode_trades_each_side_by_its_position_idx() {
    let mock = MockBybit::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.bybit.hedge_mode = true;
    })
    .await;
    let client = server.client().await;
    let pipeline = Pipeline {
        exchange: "bybit".into(),
        ..example_pipeline("perp-futures.yaml")
    };
    create_pipeline(&client, pipeline).await;

    let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
    assert!(
        mock.hedged("BTCUSDT"),
        "set with the leverage, before the entry"
    );
    let mut idx = Vec::new();
    for id in &long.order_ids {
        idx.push(at_venue(&mock, &client, id).await.position_idx);
    }
    // The entry opens the long side (1); its stop and target reduce it.
    assert_eq!(idx, [1, 1, 1]);
    assert_eq!(
        mock.position_on("BTCUSDT", 1).map(|p| p.size),
        Some(dec("0.04"))
    );
    assert_eq!(mock.position("BTCUSDT"), None, "no one-way position");
    let exit = deliver_ok(&server, &client, &alert("exit", "50000")).await;
    let exit_idx = at_venue(&mock, &client, &exit.order_ids[0]).await;
    assert_eq!(exit_idx.position_idx, 1);
    assert_eq!(mock.position_on("BTCUSDT", 1), None, "flat again");

    let short = deliver_ok(&server, &client, &alert("sell", "50000")).await;
    let short_idx = at_venue(&mock, &client, &short.order_ids[0]).await;
    assert_eq!(short_idx.position_idx, 2, "a short is the other side");
    assert_eq!(
        mock.position_on("BTCUSDT", 2).map(|p| p.size),
        Some(dec("-0.04"))
    );
    server.stop().await;
}

//! Bybit's own end-to-end checks, through the real server and the Bybit
//! mock: TradingView `BTCUSDT.P` alerts through the futures pipeline of
//! `examples/perp-futures.yaml` on Bybit's USDT perpetuals (category
//! `linear`), long and short: the leverage and margin mode set at the
//! venue before the entry, the position opened there, the stop-loss and
//! take-profit reduce-only conditional and limit orders, and an exit that
//! cancels them and closes the position flat. And what the conformance
//! kit cannot tell on Bybit (which refuses a reused `orderLinkId`, so a
//! blind resend would be refused rather than doubled): an order whose
//! answer was lost is looked up, not sent again. In hedge mode the orders
//! name their side of the position by `positionIdx`.

use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer,
    conformance::order_on,
    create_pipeline, dec, deliver, get_order,
    mock_bybit::{API_KEY, API_SECRET, MockBybit, RATE_LIMIT},
    mock_venue::{Fault, Route},
    place_order, resting_orders,
};

/// `examples/perp-futures.yaml`, moved to Bybit.
fn futures_on_bybit() -> Pipeline {
    let path = tradeplane_e2e::workspace_root().join("examples/perp-futures.yaml");
    let file = tradeplane_client::pipeline_file::PipelineFile::read(&path).expect("the example");
    Pipeline {
        exchange: "bybit".into(),
        ..file.to_proto().expect("a pipeline")
    }
}

fn alert(action: &str, price: &str) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT.P",
        "exchange": "BYBIT",
        "action": action,
        "price": price,
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

/// The execution's orders as (role, side, quantity, reduce-only), each
/// a perpetual on Bybit.
async fn legs(client: &Client, execution: &Execution) -> Vec<(OrderRole, Side, String, bool)> {
    let mut legs = Vec::new();
    for id in &execution.order_ids {
        let order = get_order(client, id).await;
        assert_eq!(order.exchange, "bybit", "{order:?}");
        let kind = order.instrument.as_ref().map(|i| i.kind);
        assert_eq!(kind, Some(InstrumentKind::Perpetual as i32), "{order:?}");
        legs.push((
            OrderRole::try_from(order.role).expect("a known role"),
            Side::try_from(order.side).expect("a known side"),
            dec(&order.quantity).normalize().to_string(),
            order.reduce_only,
        ));
    }
    legs
}

async fn on_mock_bybit() -> (MockBybit, TestServer, Client) {
    on_mock_bybit_in(false).await
}

/// The mock, and a server trading the futures pipeline on it, in hedge
/// mode or one-way.
async fn on_mock_bybit_in(hedge: bool) -> (MockBybit, TestServer, Client) {
    let mock = MockBybit::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.bybit.hedge_mode = hedge;
    })
    .await;
    let client = server.client().await;
    create_pipeline(&client, futures_on_bybit()).await;
    (mock, server, client)
}

fn succeeded(execution: &Execution) {
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
}

/// The order the mock holds for the tradeplane order `id`.
async fn at_venue(
    mock: &MockBybit,
    client: &Client,
    id: &str,
) -> tradeplane_e2e::mock_bybit::MockOrder {
    let order = get_order(client, id).await;
    mock.order(&order.client_order_id)
        .unwrap_or_else(|| panic!("the venue holds {order:?}"))
}

use OrderRole::{Entry, Exit, StopLoss, TakeProfit};
use Side::{Buy, Sell};

#[tokio::test]
async fn a_long_opens_at_the_pipelines_leverage_with_reduce_only_protection_and_exits_flat() {
    let (mock, server, client) = on_mock_bybit().await;
    let entry = deliver(&server, &client, &alert("buy", "50000")).await;
    succeeded(&entry);
    assert_eq!(
        mock.leverage("BTCUSDT"),
        Some((5, 1)),
        "5x isolated, set at the venue"
    );
    assert_eq!(
        legs(&client, &entry).await,
        [
            (Entry, Buy, "0.04".into(), false),
            (StopLoss, Sell, "0.04".into(), true),
            (TakeProfit, Sell, "0.04".into(), true),
        ]
    );
    let held = mock.position("BTCUSDT").expect("a position at the venue");
    assert_eq!((held.size, held.entry), (dec("0.04"), dec("50000")));
    let [_, stop, target] = &entry.order_ids[..] else {
        panic!("three orders: {entry:?}");
    };
    let stop = at_venue(&mock, &client, stop).await;
    assert_eq!(
        (stop.category.as_str(), stop.status),
        ("linear", "Untriggered")
    );
    assert_eq!((stop.trigger, stop.reduce_only), (Some(dec("48500")), true));
    let target = at_venue(&mock, &client, target).await;
    assert_eq!(
        (target.price, target.reduce_only),
        (Some(dec("53000")), true)
    );

    let positions = client
        .orders()
        .get_positions(GetPositionsRequest {
            exchange: "bybit".into(),
            ..Default::default()
        })
        .await
        .expect("GetPositions answers")
        .into_inner()
        .positions;
    let shown = positions
        .iter()
        .find(|p| p.symbol == "BTC/USDT:PERP")
        .expect("listed");
    assert_eq!(
        (dec(&shown.quantity), shown.leverage),
        (dec("0.04"), 5),
        "{shown:?}"
    );

    let exit = deliver(&server, &client, &alert("exit", "51000")).await;
    succeeded(&exit);
    assert_eq!(
        legs(&client, &exit).await,
        [(Exit, Sell, "0.04".into(), true)]
    );
    assert_eq!(mock.position("BTCUSDT"), None, "flat at the venue");
    assert!(resting_orders(&client).await.is_empty(), "the bracket went");
    for leg in [&stop, &target] {
        let now = mock.order(&leg.order_link_id).expect("still known");
        assert_eq!(now.status, "Cancelled", "{now:?}");
    }
    // Bybit's X-Bapi-Limit reaches the rate-limit gauge; the credentials
    // reach no metric.
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
async fn hedge_mode_trades_each_side_by_its_position_idx() {
    let (mock, server, client) = on_mock_bybit_in(true).await;
    let long = deliver(&server, &client, &alert("buy", "50000")).await;
    succeeded(&long);
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
    let exit = deliver(&server, &client, &alert("exit", "50000")).await;
    succeeded(&exit);
    assert_eq!(
        at_venue(&mock, &client, &exit.order_ids[0])
            .await
            .position_idx,
        1
    );
    assert_eq!(mock.position_on("BTCUSDT", 1), None, "flat again");

    let short = deliver(&server, &client, &alert("sell", "50000")).await;
    succeeded(&short);
    assert_eq!(
        at_venue(&mock, &client, &short.order_ids[0])
            .await
            .position_idx,
        2,
        "a short is the other side"
    );
    assert_eq!(
        mock.position_on("BTCUSDT", 2).map(|p| p.size),
        Some(dec("-0.04"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_sell_with_no_position_opens_a_short_that_an_exit_buys_back() {
    let (mock, server, client) = on_mock_bybit().await;
    let short = deliver(&server, &client, &alert("sell", "50000")).await;
    succeeded(&short);
    assert_eq!(
        legs(&client, &short).await,
        [
            (Entry, Sell, "0.04".into(), false),
            (StopLoss, Buy, "0.04".into(), true),
            (TakeProfit, Buy, "0.04".into(), true),
        ]
    );
    let held = mock.position("BTCUSDT").expect("a short at the venue");
    assert_eq!(held.size, dec("-0.04"));
    let stop = at_venue(&mock, &client, &short.order_ids[1]).await;
    assert_eq!(stop.trigger, Some(dec("51500")), "a short's stop is above");

    mock.set_price("BTCUSDT", dec("49000"));
    let exit = deliver(&server, &client, &alert("exit", "49000")).await;
    succeeded(&exit);
    assert_eq!(
        legs(&client, &exit).await,
        [(Exit, Buy, "0.04".into(), true)]
    );
    assert_eq!(mock.position("BTCUSDT"), None, "flat at the venue");
    assert!(resting_orders(&client).await.is_empty());
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

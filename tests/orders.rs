//! Orders end to end on the paper exchange: fills and balances, idempotent
//! retries, the halt and the breaker at the one place orders pass, resting
//! limit orders filled by later signal prices, cancel, and restarts.

use std::time::Duration;

use futures::StreamExt;
use rust_decimal::Decimal;
use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, any_signal_pipeline, audit_events, bad_request_field,
    balances as exchange_balances, cancel_order, create_pipeline, dec, error_reason as reason,
    finished, get_order, halt_trading, list_exchanges, list_orders, paper_btc, place_order,
    place_order_refused, refusal, reset_breaker, resume_trading, trip_breaker,
};

async fn balances(client: &Client) -> std::collections::HashMap<String, (Decimal, Decimal)> {
    exchange_balances(client, "").await
}

fn market_buy(request_id: &str, quantity: &str, reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: "paper".into(),
        symbol: "BINANCE:BTCUSDT".into(),
        side: Side::Buy as i32,
        r#type: OrderType::Market as i32,
        quantity: quantity.into(),
        reference_price: reference.into(),
        ..Default::default()
    }
}

/// A fresh market buy the test expects to be refused: its code and reason.
async fn refused_buy(client: &Client, request_id: &str) -> (Code, String) {
    refusal(&place_order_refused(client, market_buy(request_id, "0.01", "65000")).await)
}

fn limit(request_id: &str, side: Side, quantity: &str, price: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        symbol: "BTC/USDT".into(),
        side: side as i32,
        r#type: OrderType::Limit as i32,
        quantity: quantity.into(),
        price: price.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_market_order_fills_on_paper_with_slippage_fees_and_balances() {
    let server = TestServer::start().await;
    let client = server.trader().await;
    let before = balances(&client).await;
    let order = place_order(&client, market_buy("buy-1", "0.01", "65000")).await;
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
    assert_eq!(order.instrument.as_ref().unwrap().symbol, "BTC/USDT");
    assert!(order.client_order_id.starts_with("tp-") && order.client_order_id.len() <= 36);
    let statuses: Vec<i32> = order.transitions.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::New as i32,
            OrderStatus::Submitted as i32,
            OrderStatus::Filled as i32
        ]
    );
    let price = dec(&order.average_fill_price);
    assert!(
        price >= dec("65000") && price <= dec("65032.5"),
        "slippage at most 5 bps: {price}"
    );
    let fee = dec(&order.fee_total);
    assert_eq!(fee, (dec("0.01") * price * dec("0.001")).normalize());
    assert_eq!(order.fills.len(), 1);
    assert_eq!(order.fee_asset, "USDT");

    let after = balances(&client).await;
    assert_eq!(after["BTC"].0, before["BTC"].0 + dec("0.01"));
    assert_eq!(
        after["USDT"].0,
        before["USDT"].0 - dec("0.01") * price - fee
    );

    let got = client
        .orders()
        .get_order(GetOrderRequest {
            id: order.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(got, order);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_orders_total{exchange="paper",side="buy",status="filled",type="market"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("tradeplane_order_slippage_count"));
    assert!(
        metrics.contains(r#"tradeplane_exchange_requests_total{account="default",endpoint="place",exchange="paper",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"tradeplane_exchange_request_duration_seconds_count{account="default",endpoint="place",exchange="paper"} 1"#
    ));
    let audit = audit_events(&server.client().await, "order.").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].target.as_str()),
        ("order.place", order.id.as_str())
    );
    assert!(
        audit[0].actor.starts_with("desk-"),
        "the trader key's name is the actor"
    );

    // Bad input names the field; nothing is placed.
    let bad = client
        .orders()
        .place_order(PlaceOrderRequest {
            side: Side::Buy as i32,
            r#type: OrderType::Limit as i32,
            symbol: "BTCUSDT".into(),
            quantity: "0.01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_field(&bad), "price");
    // An enum number no value has is refused naming its field, never read
    // as a guessed value.
    let valid = market_buy("", "0.01", "65000");
    for (field, request) in [
        (
            "side",
            PlaceOrderRequest {
                side: 999,
                ..valid.clone()
            },
        ),
        (
            "type",
            PlaceOrderRequest {
                r#type: 999,
                ..valid.clone()
            },
        ),
        (
            "time_in_force",
            PlaceOrderRequest {
                time_in_force: 999,
                ..valid.clone()
            },
        ),
    ] {
        let refused = client.orders().place_order(request).await.unwrap_err();
        assert_eq!(
            (refused.code(), bad_request_field(&refused)),
            (Code::InvalidArgument, field.to_string())
        );
    }
    let too_big = client
        .orders()
        .place_order(market_buy("buy-huge", "100", "65000"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(too_big.status, OrderStatus::Rejected as i32);
    assert_eq!(too_big.status_reason, "rejected: insufficient balance");
    server.stop().await;
}

#[tokio::test]
async fn a_retried_order_is_placed_once() {
    let server = TestServer::start().await;
    let client = server.trader().await;
    let before = balances(&client).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .orders()
                .place_order(market_buy("same-request", "0.01", "65000"))
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry returns the one order");
    let listed = list_orders(&client).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        balances(&client).await["BTC"].0,
        before["BTC"].0 + dec("0.01"),
        "bought once"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_halt_and_an_open_breaker_stop_orders_at_the_door() {
    let server = TestServer::start().await;
    let client = server.trader().await;
    let admin = server.client().await;
    halt_trading(&client).await;
    assert_eq!(
        refused_buy(&client, "during-halt").await,
        (Code::FailedPrecondition, "TRADING_HALTED".into())
    );
    resume_trading(&admin).await;

    trip_breaker(&client, "paper").await;
    assert_eq!(
        refused_buy(&client, "breaker-open").await,
        (Code::Unavailable, "CIRCUIT_OPEN".into())
    );
    let exchanges = list_exchanges(&client).await;
    assert_eq!(exchanges[0].breaker_state, CircuitBreakerState::Open as i32);
    assert_eq!(exchanges[0].status, ExchangeStatus::Down as i32);
    assert!(!exchanges[0].live);
    reset_breaker(&admin, "paper").await;
    assert!(
        list_orders(&client).await.is_empty(),
        "refused orders leave nothing behind"
    );
    let placed = place_order(&client, market_buy("after", "0.01", "65000")).await;
    assert_eq!(placed.status, OrderStatus::Filled as i32);
    server.stop().await;
}

#[tokio::test]
async fn a_retry_gets_its_order_back_while_the_halt_or_the_breaker_refuses_new_ones() {
    let server = TestServer::start().await;
    let client = server.trader().await;
    let admin = server.client().await;
    let first = place_order(&client, market_buy("placed-before", "0.01", "65000")).await;
    assert_eq!(first.status, OrderStatus::Filled as i32);
    let same = |order: &Order| (order.id.clone(), order.status, order.fills.len());

    halt_trading(&client).await;
    let retried = place_order(&client, market_buy("placed-before", "0.01", "65000")).await;
    assert_eq!(
        same(&retried),
        same(&first),
        "the halt does not hide the first order"
    );
    assert_eq!(
        refused_buy(&client, "during-halt").await,
        (Code::FailedPrecondition, "TRADING_HALTED".into())
    );
    resume_trading(&admin).await;

    trip_breaker(&client, "paper").await;
    let retried = place_order(&client, market_buy("placed-before", "0.01", "65000")).await;
    assert_eq!(same(&retried), same(&first), "nor does an open breaker");
    assert_eq!(
        refused_buy(&client, "breaker-open").await,
        (Code::Unavailable, "CIRCUIT_OPEN".into())
    );
    let listed = list_orders(&client).await;
    assert_eq!(listed.len(), 1, "one order for the one request_id");
    server.stop().await;
}

#[tokio::test]
async fn resting_limit_orders_fill_when_a_signal_crosses_them_and_survive_restarts() {
    let server = TestServer::start().await;
    let client = server.trader().await;
    let start = balances(&client).await;
    // The market is at 65,000 (a reference price); a bid at 60,000 rests.
    client
        .orders()
        .place_order(market_buy("mark", "0.001", "65000"))
        .await
        .unwrap();
    let after_mark = balances(&client).await;
    let bid = client
        .orders()
        .place_order(limit("bid", Side::Buy, "0.01", "60000"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(bid.status, OrderStatus::Submitted as i32);
    let other = client
        .orders()
        .place_order(limit("bid-2", Side::Buy, "0.01", "50000"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let locked = balances(&client).await["USDT"].1;
    assert_eq!(
        locked,
        dec("600.6") + dec("500.5"),
        "the bids hold quote plus fee"
    );

    let canceled = cancel_order(&client, &other.id).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled as i32);
    let again = cancel_order(&client, &other.id).await.unwrap_err();
    assert_eq!(reason(&again), "ORDER_NOT_OPEN");

    // The open bid survives a restart, with its funds still held.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let client = server.trader().await;
    let restored = balances(&client).await;
    assert_eq!(
        restored["USDT"],
        (after_mark["USDT"].0 - dec("600.6"), dec("600.6"))
    );
    assert_eq!(restored["BTC"].0, start["BTC"].0 + dec("0.001"));

    let mut watch = client
        .orders()
        .watch_orders(WatchOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    client
        .signals()
        .submit_signal(SubmitSignalRequest {
            symbol: "BINANCE:BTCUSDT".into(),
            action: "sell".into(),
            price: "59990".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let filled = event.order.unwrap();
    assert_eq!(
        (filled.id.as_str(), filled.status),
        (bid.id.as_str(), OrderStatus::Filled as i32)
    );
    assert_eq!(
        filled.average_fill_price, "60000",
        "a resting limit fills at its limit"
    );
    let end = balances(&client).await;
    assert_eq!(end["USDT"], (after_mark["USDT"].0 - dec("600.6"), dec("0")));
    assert_eq!(end["BTC"].0, start["BTC"].0 + dec("0.011"));
    let filled_list = client
        .orders()
        .list_orders(ListOrdersRequest {
            filter: Some(OrderFilter {
                statuses: vec![OrderStatus::Filled as i32],
                ..Default::default()
            }),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filled_list.orders[0].id, bid.id, "newest first");
    assert!(!filled_list.next_page_token.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn tpctl_places_lists_and_shows_balances() {
    let server = TestServer::start().await;
    let placed = server
        .tpctl(&[
            "order",
            "place",
            "--symbol",
            "ETHUSDT",
            "--side",
            "sell",
            "--quantity",
            "0.5",
            "--reference-price",
            "3000",
            "--request-id",
            "cli-1",
            "-o",
            "json",
        ])
        .await;
    let placed: serde_json::Value = serde_json::from_str(&placed).unwrap();
    assert_eq!(placed["status"], "rejected", "no ETH to sell: {placed}");
    let placed = server
        .tpctl(&[
            "order",
            "place",
            "--symbol",
            "BTCUSDT",
            "--side",
            "sell",
            "--quantity",
            "0.5",
            "--reference-price",
            "65000",
            "--request-id",
            "cli-2",
        ])
        .await;
    assert!(
        placed.contains("sell 0.5 BTC/USDT market: filled at"),
        "{placed}"
    );
    let listed = server.tpctl(&["order", "list"]).await;
    assert!(
        listed.starts_with("ID") && listed.lines().count() == 3,
        "{listed}"
    );
    let header = listed.lines().next().unwrap_or_default();
    for column in [
        "PRICE",
        "STOP_PRICE",
        "FILLED_QUANTITY",
        "BRACKET_ID",
        "OCO_GROUP",
    ] {
        assert!(header.split_whitespace().any(|c| c == column), "{header}");
    }
    let balances = server.tpctl(&["balances"]).await;
    assert!(
        balances.contains("BTC") && balances.contains("0.5"),
        "{balances}"
    );
    let exchanges = server.tpctl(&["exchanges", "-o", "json"]).await;
    assert!(
        exchanges.contains(r#""breaker_state":"closed""#),
        "{exchanges}"
    );
    server.stop().await;
}

#[tokio::test]
async fn place_order_reads_symbols_through_the_configured_symbol_map() {
    let server = TestServer::start_with(|config| {
        config
            .signals
            .symbol_map
            .insert("XBTUSD".into(), "BINANCE:BTC/USDT".into());
    })
    .await;
    let client = server.trader().await;
    let before = balances(&client).await;
    let mut request = market_buy("mapped-1", "0.01", "65000");
    request.symbol = "XBTUSD".into();
    let order = place_order(&client, request).await;
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
    let instrument = order.instrument.unwrap();
    assert_eq!(
        (
            instrument.symbol.as_str(),
            instrument.base.as_str(),
            instrument.quote.as_str()
        ),
        ("BTC/USDT", "BTC", "USDT")
    );
    let after = balances(&client).await;
    assert_eq!(after["BTC"].0, before["BTC"].0 + dec("0.01"));
    server.stop().await;
}

#[tokio::test]
async fn a_perpetual_trades_as_a_perpetual_on_paper_by_hand_and_by_pipelines() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let btc = paper_btc(&client).await;
    let perpetual = PlaceOrderRequest {
        symbol: "BINANCE:BTCUSDT.P".into(),
        ..market_buy("perp", "0.01", "65000")
    };
    let placed = place_order(&client, perpetual).await;
    assert_eq!(placed.status, OrderStatus::Filled as i32, "{placed:?}");
    let instrument = placed.instrument.expect("an instrument");
    assert_eq!(instrument.symbol, "BTC/USDT:PERP");
    assert_eq!(instrument.kind, InstrumentKind::Perpetual as i32);
    assert_eq!(paper_btc(&client).await, btc, "no BTC bought: a position");

    // A pipeline whose glob matches the perpetual trades it as one too,
    // never as spot.
    let pipeline = create_pipeline(&client, any_signal_pipeline("globbed")).await;
    let perp = client
        .pipelines()
        .run_pipeline(RunPipelineRequest {
            id: pipeline.id.clone(),
            symbol: "BTCUSDT.P".into(),
            action: "buy".into(),
            price: "65000".into(),
            ..Default::default()
        })
        .await
        .expect("RunPipeline answers")
        .into_inner()
        .execution
        .expect("an execution");
    let perp = finished(&client, &perp.id).await;
    assert_eq!(perp.status, ExecutionStatus::Succeeded as i32, "{perp:?}");
    let order = get_order(&client, &perp.order_ids[0]).await;
    let kind = order.instrument.map(|i| i.kind);
    assert_eq!(kind, Some(InstrumentKind::Perpetual as i32));
    assert_eq!(paper_btc(&client).await, btc);
    server.stop().await;
}

//! The `binance` connector end to end: the real server on loopback, talking
//! to the mock Binance in `support/mock_binance.rs`. Signed requests,
//! venue rules, every injected fault ending with exactly one order there,
//! the breaker's automatic transitions, and reconciliation after a crash
//! of the real binary.

use std::time::Duration;

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, audit_events, balances, cancel_order, dec, error_reason, eventually, get_order,
    list_exchanges, list_orders,
    mock_binance::{API_KEY, API_SECRET, Fault, MockBinance, Route},
    place_order as place, serve_async,
};
use tradeplane_server::config::Config;

/// Points `config` at the mock, with short windows so faults settle fast.
fn use_mock(config: &mut Config, mock: &MockBinance) {
    mock.configure(config);
    let binance = &mut config.exchanges.binance;
    binance.recv_window = Duration::from_secs(1);
    binance.request_timeout = Duration::from_secs(1);
    binance.max_retry_wait = Duration::from_secs(2);
    binance.sync_interval = Duration::from_millis(200);
}

async fn start(mock: &MockBinance, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|config| {
        use_mock(config, mock);
        adjust(config);
    })
    .await
}

fn order(request_id: &str, side: Side, quantity: &str, price: Option<&str>) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: "binance".into(),
        symbol: "BTC/USDT".into(),
        side: side as i32,
        r#type: if price.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        } as i32,
        quantity: quantity.into(),
        price: price.unwrap_or_default().into(),
        ..Default::default()
    }
}

/// Polls until the order reaches `status`.
async fn wait_for_status(client: &Client, id: &str, status: OrderStatus) -> Order {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let order = get_order(client, id).await;
            if order.status == status as i32 {
                Ok(order)
            } else {
                Err(format!("order {id} never became {status:?}: {order:?}"))
            }
        },
    )
    .await
}

async fn binance_exchange(client: &Client) -> Exchange {
    list_exchanges(client)
        .await
        .into_iter()
        .find(|e| e.name == "binance")
        .expect("binance is listed")
}

#[tokio::test]
async fn orders_fill_rest_and_cancel_on_the_mock_with_signed_requests() {
    let mock = MockBinance::start().await;
    // Our clock is 3 s behind Binance's, and the window only 1 s: every
    // signed request is refused unless the offset is learned.
    mock.set_clock_offset(3_000);
    let server = start(&mock, |_| {}).await;
    let client = server.trader().await;

    let filled = place(&client, order("m-1", Side::Buy, "0.0123456", None)).await;
    assert_eq!(filled.status, OrderStatus::Filled as i32, "{filled:?}");
    assert_eq!(
        filled.quantity, "0.01234",
        "rounded down to the LOT_SIZE step"
    );
    assert!(filled.client_order_id.starts_with("tp-"));
    assert!(!filled.exchange_order_id.is_empty());
    assert_eq!(filled.fills.len(), 1);
    let fill = &filled.fills[0];
    assert_eq!(
        (fill.price.as_str(), fill.quantity.as_str()),
        ("50000", "0.01234")
    );
    assert_eq!(
        (fill.fee.as_str(), fill.fee_asset.as_str()),
        ("0.00001234", "BTC")
    );
    assert_eq!(mock.orders_with_client_id(&filled.client_order_id), 1);
    assert_eq!(mock.refused_signatures(), 0);
    let statuses: Vec<_> = filled.transitions.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::New,
            OrderStatus::Submitted,
            OrderStatus::Filled
        ]
        .map(|s| s as i32)
    );

    let held = balances(&client, "binance").await;
    assert_eq!(held["USDT"].0, dec("99383"), "100000 - 0.01234 * 50000");
    assert_eq!(held["BTC"].0, dec("1.01232766"), "commission taken in BTC");

    // A limit below the market rests; the sync picks up its fill.
    let resting = place(&client, order("l-1", Side::Buy, "0.001", Some("49000.004"))).await;
    assert_eq!(resting.status, OrderStatus::Submitted as i32);
    assert_eq!(
        resting.price, "49000",
        "a buy limit rounds down to the tick"
    );
    mock.set_price("BTCUSDT", dec("48900"));
    let later = wait_for_status(&client, &resting.id, OrderStatus::Filled).await;
    assert_eq!(later.fills[0].price, "49000");

    let to_cancel = place(&client, order("l-2", Side::Buy, "0.001", Some("30000"))).await;
    let canceled = cancel_order(&client, &to_cancel.id)
        .await
        .expect("CancelOrder answers");
    assert_eq!(canceled.status, OrderStatus::Canceled as i32);
    let on_mock = mock.orders();
    assert_eq!(on_mock.last().map(|o| o.status), Some("CANCELED"));

    let too_big = place(&client, order("big", Side::Buy, "10", None)).await;
    assert_eq!(too_big.status, OrderStatus::Rejected as i32);
    assert!(
        too_big.status_reason.contains("insufficient balance")
            && too_big.status_reason.contains("-2010"),
        "{}",
        too_big.status_reason
    );
    let unknown = client
        .orders()
        .place_order(PlaceOrderRequest {
            symbol: "DOGE/USDT".into(),
            ..order("doge", Side::Buy, "100", None)
        })
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.code(), error_reason(&unknown)),
        (Code::InvalidArgument, "UNKNOWN_SYMBOL".into())
    );

    let exchange = binance_exchange(&client).await;
    assert_eq!(exchange.kind, "binance");
    assert!(!exchange.live, "the mock stands in for the testnet");
    assert!(exchange.used_weight > 0);
    assert_eq!(exchange.weight_limit, 6000);
    assert_eq!(exchange.breaker_state, CircuitBreakerState::Closed as i32);

    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            "tradeplane_exchange_rate_limit_used{account=\"default\",exchange=\"binance\""
        )
    );
    assert!(metrics.contains("endpoint=\"place\",exchange=\"binance\",outcome=\"ok\""));
    assert!(!metrics.contains(API_KEY) && !metrics.contains(API_SECRET));
    server.stop().await;
}

#[tokio::test]
async fn every_injected_fault_ends_with_exactly_one_order() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |_| {}).await;
    let client = server.trader().await;
    let faults = [
        ("slow", Fault::SlowAnswer(Duration::from_secs(3))),
        ("500", Fault::ServerError),
        ("500-after", Fault::ServerErrorAfterProcessing),
        ("1007", Fault::BackendTimeout),
        (
            "429",
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
        ),
        ("dropped", Fault::DropConnection),
        ("lost-answer", Fault::LoseAnswer),
    ];
    for (name, fault) in faults {
        mock.fail_next(Route::PlaceOrder, fault);
        let placed = place(&client, order(name, Side::Buy, "0.001", None)).await;
        assert_eq!(
            placed.status,
            OrderStatus::Filled as i32,
            "{name}: {placed:?}"
        );
        assert_eq!(placed.fills.len(), 1, "{name}");
        assert_eq!(
            mock.orders_with_client_id(&placed.client_order_id),
            1,
            "{name}: exactly one order at the exchange"
        );
        let retried = place(&client, order(name, Side::Buy, "0.001", None)).await;
        assert_eq!(retried.id, placed.id, "{name}: a retry is the same order");
        assert_eq!(mock.orders_with_client_id(&placed.client_order_id), 1);
    }
    assert_eq!(mock.orders().len(), faults.len());

    // A lost answer whose first lookup fails too: the next lookup finds it.
    mock.fail_next(Route::PlaceOrder, Fault::LoseAnswer);
    mock.fail_next(Route::QueryOrder, Fault::ServerError);
    let looked_up = place(&client, order("lookup-retry", Side::Buy, "0.001", None)).await;
    assert_eq!(looked_up.status, OrderStatus::Filled as i32);
    assert_eq!(mock.orders_with_client_id(&looked_up.client_order_id), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_order_no_lookup_can_settle_stays_unknown_until_a_sync_does() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |_| {}).await;
    let client = server.trader().await;
    mock.fail_next(Route::PlaceOrder, Fault::LoseAnswer);
    for _ in 0..5 {
        mock.fail_next(Route::QueryOrder, Fault::ServerError);
    }
    let unknown = place(&client, order("unknown", Side::Buy, "0.001", None)).await;
    assert_eq!(unknown.status, OrderStatus::Unknown as i32, "{unknown:?}");
    let settled = wait_for_status(&client, &unknown.id, OrderStatus::Filled).await;
    assert_eq!(settled.fills.len(), 1);
    assert_eq!(mock.orders_with_client_id(&unknown.client_order_id), 1);
    let again = place(&client, order("unknown", Side::Buy, "0.001", None)).await;
    assert_eq!(again.id, unknown.id);
    assert_eq!(mock.orders().len(), 1);
    server.stop().await;
}

async fn breaker_audit(client: &Client) -> Vec<String> {
    audit_events(client, "circuit_breaker.transition")
        .await
        .into_iter()
        .rev()
        .map(|e| e.detail.split(':').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn the_breaker_opens_half_opens_and_closes_as_configured() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |config| {
        config.exchanges.binance.max_retry_wait = Duration::ZERO;
        config.exchanges.breaker.consecutive_failures = 2;
        config.exchanges.breaker.cooldown = Duration::from_secs(1);
    })
    .await;
    let client = server.trader().await;
    let admin = server.client().await;

    // A 429 fails the order (no wait allowed); the back-off it asked for
    // fails the next one without a request: two failures open the breaker.
    mock.fail_next(
        Route::PlaceOrder,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let first = place(&client, order("a", Side::Buy, "0.001", None)).await;
    assert_eq!(first.status, OrderStatus::Failed as i32);
    assert!(
        first.status_reason.contains("429"),
        "{}",
        first.status_reason
    );
    let second = place(&client, order("b", Side::Buy, "0.001", None)).await;
    assert_eq!(second.status, OrderStatus::Failed as i32);
    assert!(
        second.status_reason.contains("backing off"),
        "{}",
        second.status_reason
    );
    let refused = client
        .orders()
        .place_order(order("c", Side::Buy, "0.001", None))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), error_reason(&refused)),
        (Code::Unavailable, "CIRCUIT_OPEN".into())
    );
    let exchange = binance_exchange(&client).await;
    assert_eq!(exchange.breaker_state, CircuitBreakerState::Open as i32);
    assert_eq!(exchange.status, ExchangeStatus::Down as i32);

    // After the cooldown one probe goes out; it fails, so it opens again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    mock.fail_next(
        Route::PlaceOrder,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let failed_probe = place(&client, order("d", Side::Buy, "0.001", None)).await;
    assert_eq!(failed_probe.status, OrderStatus::Failed as i32);
    assert_eq!(
        binance_exchange(&client).await.breaker_state,
        CircuitBreakerState::Open as i32
    );

    // The next probe succeeds and closes it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let probe = place(&client, order("e", Side::Buy, "0.001", None)).await;
    assert_eq!(probe.status, OrderStatus::Filled as i32);
    assert_eq!(
        binance_exchange(&client).await.breaker_state,
        CircuitBreakerState::Closed as i32
    );
    assert_eq!(
        mock.orders().len(),
        1,
        "only the successful probe reached the mock"
    );

    let expected = ["open", "half_open", "open", "half_open", "closed"];
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async {
            let seen = breaker_audit(&admin).await;
            if seen == expected {
                Ok(())
            } else {
                Err(format!("audit shows {seen:?}"))
            }
        },
    )
    .await;
    let metrics = server.metrics().await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("tradeplane_circuit_breaker_transitions_total")
                && l.contains("exchange=\"binance\"")
                && l.contains("state=\"open\"")
                && l.ends_with(" 2")
        ),
        "two automatic openings are counted"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_418_ban_opens_the_breaker_at_once() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |config| {
        config.exchanges.breaker.cooldown = Duration::from_secs(60);
    })
    .await;
    let client = server.trader().await;
    mock.fail_next(
        Route::PlaceOrder,
        Fault::Banned {
            retry_after_secs: 30,
        },
    );
    let banned = place(&client, order("banned", Side::Buy, "0.001", None)).await;
    assert_eq!(banned.status, OrderStatus::Failed as i32);
    assert!(
        banned.status_reason.contains("418"),
        "{}",
        banned.status_reason
    );
    assert_eq!(
        binance_exchange(&client).await.breaker_state,
        CircuitBreakerState::Open as i32,
        "one ban is enough"
    );
    let refused = client
        .orders()
        .place_order(order("after-ban", Side::Buy, "0.001", None))
        .await
        .unwrap_err();
    assert_eq!(error_reason(&refused), "CIRCUIT_OPEN");
    assert!(mock.orders().is_empty());
    // The paper exchange has its own breaker and trades on.
    let paper = place(
        &client,
        PlaceOrderRequest {
            exchange: "paper".into(),
            reference_price: "50000".into(),
            ..order("paper", Side::Buy, "0.001", None)
        },
    )
    .await;
    assert_eq!(paper.status, OrderStatus::Filled as i32);
    server.stop().await;
}

#[tokio::test]
async fn the_halt_keeps_orders_from_binance() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |_| {}).await;
    let client = server.trader().await;
    client
        .security()
        .halt_trading(HaltTradingRequest::default())
        .await
        .expect("HaltTrading answers");
    let halted = client
        .orders()
        .place_order(order("halted", Side::Buy, "0.001", None))
        .await
        .unwrap_err();
    assert_eq!(
        (halted.code(), error_reason(&halted)),
        (Code::FailedPrecondition, "TRADING_HALTED".into())
    );
    assert!(mock.orders().is_empty(), "nothing left the process");
    server.stop().await;
}

/// The real binary is killed (SIGKILL) while a placement is in flight: the
/// mock took the order but never answered. After the market moves and the
/// order fills there, a restart must show it filled before serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_reconciliation_brings_an_order_to_its_true_state() {
    let mock = MockBinance::start().await;
    mock.fail_next(Route::PlaceOrder, Fault::Hang);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let url = mock.url.clone();
    let env = [
        ("TRADEPLANE_EXCHANGES__BINANCE__ENABLED", "true"),
        ("TRADEPLANE_EXCHANGES__BINANCE__BASE_URL", url.as_str()),
        ("TRADEPLANE_EXCHANGES__BINANCE__REQUEST_TIMEOUT", "60s"),
        ("TRADEPLANE_BINANCE_API_KEY", API_KEY),
        ("TRADEPLANE_BINANCE_API_SECRET", API_SECRET),
    ];
    let served = serve_async(&data_dir, &env).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects");
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .orders()
                .place_order(order("crash", Side::Buy, "0.001", Some("49000")))
                .await
        })
    };
    mock.wait_for_orders(1, Duration::from_secs(20)).await;
    served.kill();
    assert!(
        in_flight.await.expect("task").is_err(),
        "the caller saw the crash"
    );

    let on_mock = mock.orders();
    assert_eq!(on_mock[0].status, "NEW", "resting at the exchange");
    mock.set_price("BTCUSDT", dec("48000"));
    assert_eq!(mock.orders()[0].status, "FILLED");

    let restarted = serve_async(&data_dir, &env).await;
    let client = Client::connect(&restarted.grpc, Some(&restarted.api_key))
        .await
        .expect("client connects");
    let orders = list_orders(&client).await;
    assert_eq!(orders.len(), 1);
    let reconciled = &orders[0];
    assert_eq!(
        reconciled.status,
        OrderStatus::Filled as i32,
        "filled before the server answered anything: {reconciled:?}"
    );
    assert_eq!(
        reconciled.exchange_order_id,
        on_mock[0].order_id.to_string()
    );
    assert_eq!(reconciled.fills.len(), 1);
    assert_eq!(reconciled.fills[0].price, "49000");
    assert_eq!(mock.orders().len(), 1, "nothing was sent twice");
    restarted.kill();
    let log = std::fs::read_to_string(dir.path().join("data.log")).expect("server log");
    assert!(log.contains("binance"), "the log is the server's");
    assert!(
        !log.contains(API_KEY) && !log.contains(API_SECRET),
        "Binance credentials never reach the log"
    );
}

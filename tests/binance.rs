//! What is Binance's own in the `binance` connector, end to end: the real
//! server on loopback, talking to the mock Binance in
//! `support/mock_binance`. Commission in the asset bought, request weight,
//! Binance's error codes, the breaker's automatic transitions and the
//! halt. What every venue shares (faults, signatures, the clock, crash
//! reconciliation) is the conformance kit's: `conformance_binance_spot.rs`.

use std::time::Duration;

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, audit_events, balances,
    conformance::{VenueUnderTest, order_on},
    dec, error_reason, eventually, list_exchanges,
    mock_binance::{API_KEY, API_SECRET, Fault, MockBinance, Route},
    place_order as place,
};
use tradeplane_server::config::Config;

async fn start(mock: &MockBinance, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|config| {
        VenueUnderTest::configure(mock, config);
        adjust(config);
    })
    .await
}

fn order(request_id: &str, side: Side, quantity: &str, price: Option<&str>) -> PlaceOrderRequest {
    order_on::<MockBinance>(request_id, side, quantity, price)
}

async fn binance_exchange(client: &Client) -> Exchange {
    list_exchanges(client)
        .await
        .into_iter()
        .find(|e| e.name == "binance")
        .expect("binance is listed")
}

#[tokio::test]
async fn fills_take_commission_in_the_asset_bought_and_weight_is_tracked() {
    let mock = MockBinance::start().await;
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

    let held = balances(&client, "binance").await;
    assert_eq!(held["USDT"].0, dec("99383"), "100000 - 0.01234 * 50000");
    assert_eq!(held["BTC"].0, dec("1.01232766"), "commission taken in BTC");

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
        first.status_reason.contains("rate limited by Binance"),
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

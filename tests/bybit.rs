//! Bybit's own end-to-end checks, through the real server and the Bybit
//! mock, beyond the kit (tests/conformance_bybit_spot.rs and, for the USDT
//! perpetuals, tests/conformance_bybit_linear.rs): Bybit's `X-Bapi-Limit`
//! on the rate-limit gauge, and what the conformance kit cannot tell on
//! Bybit (which refuses a reused `orderLinkId`, so a
//! blind resend would be refused rather than doubled): an order whose
//! answer was lost is looked up, not sent again.

use tradeplane_api::{Side::Buy, *};
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer,
    conformance::order_on,
    mock_bybit::{API_KEY, API_SECRET, MockBybit, RATE_LIMIT},
    mock_venue::{Fault, Route},
    place_order,
};

async fn on_mock_bybit() -> (MockBybit, TestServer, Client) {
    let mock = MockBybit::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    (mock, server, client)
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

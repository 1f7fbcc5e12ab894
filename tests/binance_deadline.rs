//! A gRPC client whose deadline passes mid-PlaceOrder does not stop the
//! server: the real server, talking to the mock Binance, drives the order
//! to its true final state, GetOrder shows it within the sync interval,
//! and a retry with the same request_id returns the settled order.

use std::time::Duration;

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, eventually, get_order,
    mock_binance::{Fault, MockBinance, Route},
};

/// The client's deadline: shorter than the mock's slow answer.
const DEADLINE: Duration = Duration::from_millis(1500);
/// How late the mock answers an order.
const SLOW_ANSWER: Duration = Duration::from_secs(2);

/// A server whose `binance` exchange is the mock: it waits long enough
/// for a slow answer, and syncs every 200 ms.
async fn start(mock: &MockBinance) -> TestServer {
    TestServer::start_with(|config| {
        mock.configure(config);
        let binance = &mut config.exchanges.binance;
        binance.request_timeout = Duration::from_secs(5);
        binance.recv_window = Duration::from_secs(1);
        config.exchanges.sync_interval = Duration::from_millis(200);
    })
    .await
}

fn market_buy(request_id: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: "binance".into(),
        symbol: "BTC/USDT".into(),
        side: Side::Buy as i32,
        r#type: OrderType::Market as i32,
        quantity: "0.001".into(),
        ..Default::default()
    }
}

/// PlaceOrder with a client deadline of `deadline`.
async fn place_within(
    client: &Client,
    request: PlaceOrderRequest,
    deadline: Duration,
) -> Result<Order, tonic::Status> {
    let mut call = tonic::Request::new(request);
    call.set_timeout(deadline);
    client
        .orders()
        .place_order(call)
        .await
        .map(|reply| reply.into_inner().order.expect("an order"))
}

/// Checks that a call failed because its deadline passed. tonic's client
/// reports its own deadline as CANCELLED "Timeout expired" (a client in
/// another language reports DEADLINE_EXCEEDED); either is the deadline,
/// anything else is not.
fn assert_deadline(status: &tonic::Status) {
    let deadline = match status.code() {
        Code::DeadlineExceeded => true,
        Code::Cancelled => status.message() == "Timeout expired",
        _ => false,
    };
    assert!(deadline, "not the client's deadline: {status:?}");
}

/// Retries `request` (same request_id, no deadline) until the order it
/// returns is FILLED; returns it.
async fn settles_filled(client: &Client, request: &PlaceOrderRequest) -> Order {
    eventually(
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async {
            let order = place_within(client, request.clone(), Duration::from_secs(30))
                .await
                .map_err(|status| format!("the retry failed: {status:?}"))?;
            if order.status == OrderStatus::Filled as i32 {
                Ok(order)
            } else {
                Err(format!("the retry returned {order:?}"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn an_order_outlives_its_clients_deadline_and_settles_filled() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.trader().await;
    mock.fail_next(Route::PlaceOrder, Fault::SlowAnswer(SLOW_ANSWER));

    let request = market_buy("slow-answer");
    let refused = place_within(&client, request.clone(), DEADLINE)
        .await
        .expect_err("the deadline passes before Binance answers");
    assert_deadline(&refused);
    // Binance executed it at once; only its answer was late.
    let at_binance = mock.orders().pop().expect("the order reached Binance");
    assert_eq!(at_binance.status, "FILLED");

    let order = settles_filled(&client, &request).await;
    assert_eq!(order.client_order_id, at_binance.client_order_id);
    assert_eq!(order.exchange_order_id, at_binance.order_id.to_string());
    assert_eq!(order.fills.len(), 1, "{order:?}");
    assert_eq!(
        get_order(&client, &order.id).await.status,
        OrderStatus::Filled as i32
    );
    assert_eq!(mock.orders_with_client_id(&order.client_order_id), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_order_binance_never_created_is_sent_again_and_placed_once() {
    let mock = MockBinance::start().await;
    let server = start(&mock).await;
    let client = server.trader().await;
    // A 500 before Binance created anything, answered late: the client
    // gives up, the server looks the order up, finds nothing once Binance
    // can no longer accept the first request, and sends it again.
    mock.fail_next(Route::PlaceOrder, Fault::ServerError);
    mock.fail_next(Route::QueryOrder, Fault::SlowAnswer(SLOW_ANSWER));

    let request = market_buy("never-created");
    let refused = place_within(&client, request.clone(), DEADLINE)
        .await
        .expect_err("the deadline passes before the order is known");
    assert_deadline(&refused);

    let order = settles_filled(&client, &request).await;
    assert_eq!(
        mock.orders_with_client_id(&order.client_order_id),
        1,
        "placed exactly once"
    );
    let statuses: Vec<_> = order.transitions.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses.first(),
        Some(&(OrderStatus::New as i32)),
        "{order:?}"
    );
    server.stop().await;
}

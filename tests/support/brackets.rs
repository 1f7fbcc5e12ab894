//! Watching brackets on the paper exchange: moving its market, waiting
//! for an order's status, and reading an execution's or an entry's legs;
//! a server trading on the mock Binance.

use std::time::Duration;

use tradeplane_api::{
    Execution, ListOrdersRequest, Order, OrderFilter, OrderRole, OrderStatus, Pipeline,
    SubmitSignalRequest,
};
use tradeplane_client::Client;

use crate::{
    TestServer, bracketed_pipeline, eventually, get_order, mock_binance::MockBinance, submit,
};

/// A pipeline buying 1000 USDT of BTC a run, with a stop 2 % under the
/// fill and `targets` as (offset in bps, percent of the position).
pub fn bracketed(name: &str, targets: &[(&str, &str)]) -> Pipeline {
    bracketed_pipeline(name, "1000", "200", targets)
}

/// A server whose `binance` exchange is `mock`, synced every 200 ms,
/// with a 1 s `recvWindow` so that unknown outcomes settle fast.
pub async fn start_on_mock_binance(mock: &MockBinance) -> TestServer {
    restart_on_mock_binance(mock, tempfile::tempdir().expect("temp dir")).await
}

/// A server like [`start_on_mock_binance`]'s on an existing data directory.
pub async fn restart_on_mock_binance(
    mock: &MockBinance,
    data_dir: tempfile::TempDir,
) -> TestServer {
    TestServer::start_in(data_dir, |config| {
        mock.configure(config);
        config.exchanges.binance.recv_window = Duration::from_secs(1);
        config.exchanges.sync_interval = Duration::from_millis(200);
    })
    .await
}

/// Moves the paper market of BTC/USDT: a signal no pipeline matches
/// (source `ticker`) carries the price to the paper exchange.
pub async fn market_at(client: &Client, price: &str) {
    submit(
        client,
        SubmitSignalRequest {
            source: "ticker".into(),
            symbol: "BTC/USDT".into(),
            action: "buy".into(),
            price: price.into(),
            ..Default::default()
        },
    )
    .await;
}

/// Waits until order `id` has `status`, and returns it.
pub async fn order_reaches(client: &Client, id: &str, status: OrderStatus) -> Order {
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async {
            let order = get_order(client, id).await;
            if order.status == status as i32 {
                Ok(order)
            } else {
                Err(format!("order {id} is not {status:?}: {order:?}"))
            }
        },
    )
    .await
}

/// The orders of an execution, as the execution lists them.
pub async fn orders_of(client: &Client, execution: &Execution) -> Vec<Order> {
    let mut orders = Vec::new();
    for id in &execution.order_ids {
        orders.push(get_order(client, id).await);
    }
    orders
}

/// Every order of an execution (including those placed after it ended),
/// oldest first.
pub async fn all_orders_of(client: &Client, execution_id: &str) -> Vec<Order> {
    let mut orders = client
        .orders()
        .list_orders(ListOrdersRequest {
            filter: Some(OrderFilter {
                execution_id: execution_id.into(),
                ..Default::default()
            }),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("ListOrders answers")
        .into_inner()
        .orders;
    orders.sort_by(|a, b| a.id.cmp(&b.id));
    orders
}

/// Every order still resting (new or submitted).
pub async fn resting_orders(client: &Client) -> Vec<Order> {
    client
        .orders()
        .list_orders(ListOrdersRequest {
            filter: Some(OrderFilter {
                statuses: vec![
                    OrderStatus::Submitted as i32,
                    OrderStatus::New as i32,
                    OrderStatus::PartiallyFilled as i32,
                ],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("ListOrders answers")
        .into_inner()
        .orders
}

/// An order's role.
pub fn role(order: &Order) -> OrderRole {
    OrderRole::try_from(order.role).expect("a known role")
}

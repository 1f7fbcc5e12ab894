//! Alpaca's bracket orders end to end, through the real server and the
//! Alpaca mock, with the pipeline of `examples/alpaca-equities.yaml` and
//! `attach_exits` on: a TradingView stock alert goes to Alpaca as ONE
//! bracket order (the entry carrying its take-profit and stop-loss); the
//! legs Alpaca made are adopted into the book, never sent under their own
//! client order ids; the target executing cancels the stop. An exit
//! before that cancels the legs, then sells; a fractional bracket is
//! refused by name before it is sent; a stop on the wrong side of the
//! market is refused by Alpaca; and a 5xx reading the legs leaves them
//! unknown until the next sync finds the one bracket.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, dec, deliver, example_pipeline,
    mock_alpaca::{MockAlpaca, MockOrder, on_mock_alpaca, stock_alert},
    order_reaches, orders_of, resting_orders,
};

/// A TradingView alert for NASDAQ:AAPL at 2,000.
fn alert(action: &str) -> serde_json::Value {
    stock_alert("NASDAQ:AAPL", action)
}

/// The example pipeline with its exits attached to the entry, as
/// `adjust` leaves it.
fn attached(adjust: impl FnOnce(&mut OrderSettings)) -> Pipeline {
    let mut pipeline = example_pipeline("alpaca-equities.yaml");
    let order = pipeline.order.as_mut().expect("order settings");
    order.attach_exits = true;
    adjust(order);
    pipeline
}

/// The orders sent to the mock (every order but the legs Alpaca made).
fn sent(mock: &MockAlpaca) -> Vec<MockOrder> {
    mock.orders()
        .into_iter()
        .filter(|o| o.parent.is_none())
        .collect()
}

/// A buy through the attached pipeline: the execution's entry, stop and
/// target, checked to be one bracket at Alpaca whose legs the book
/// adopted.
async fn bought(mock: &MockAlpaca, server: &TestServer, client: &Client) -> [Order; 3] {
    let execution = deliver(server, client, &alert("buy")).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [entry, stop, target]: [Order; 3] = orders_of(client, &execution)
        .await
        .try_into()
        .unwrap_or_else(|o| panic!("an entry and two legs: {o:?}"));
    assert_eq!(entry.status, OrderStatus::Filled as i32, "{entry:?}");
    assert_eq!(mock.shares("AAPL"), dec("15"), "10 held, 5 bought");
    let [bracket] = &sent(mock)[..] else {
        panic!("one order sent, the bracket: {:?}", mock.orders());
    };
    assert_eq!(bracket.client_order_id, entry.client_order_id);
    assert_eq!(bracket.order_class, "bracket");
    assert_eq!(bracket.legs.len(), 2, "{bracket:?}");
    let legs: Vec<MockOrder> = mock
        .orders()
        .into_iter()
        .filter(|o| bracket.legs.contains(&o.id))
        .collect();
    let stop = order_reaches(client, &stop.id, OrderStatus::Submitted).await;
    let target = order_reaches(client, &target.id, OrderStatus::Submitted).await;
    for (order, kind, limit, stop_price) in [
        (&stop, "stop", None, Some(dec("1940"))),
        (&target, "limit", Some(dec("2120")), None),
    ] {
        assert_eq!(
            mock.orders_with_client_id(&order.client_order_id),
            0,
            "a leg is never sent under its own id: {order:?}"
        );
        let leg = legs
            .iter()
            .find(|l| l.id == order.exchange_order_id)
            .unwrap_or_else(|| panic!("adopted from Alpaca's legs {legs:?}: {order:?}"));
        assert_eq!(
            (leg.kind.as_str(), leg.limit, leg.stop),
            (kind, limit, stop_price)
        );
        assert_eq!((leg.side.as_str(), leg.qty), ("sell", dec("5")));
        assert_eq!(order.attached_to, entry.client_order_id, "{order:?}");
        assert_eq!(order.oco_group, stop.oco_group);
    }
    [entry, stop, target]
}

/// A buy whose execution fails, naming `why`.
async fn refused(server: &TestServer, client: &Client, why: &str) {
    let execution = deliver(server, client, &alert("buy")).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Failed as i32,
        "{execution:?}"
    );
    assert!(execution.error.contains(why), "{execution:?}");
}

#[tokio::test]
async fn a_stock_alert_goes_as_one_bracket_and_the_target_cancels_the_stop() {
    let (mock, server, client) = on_mock_alpaca(attached(|_| {})).await;
    let [_, stop, target] = bought(&mock, &server, &client).await;

    mock.set_price("AAPL", dec("2125"));
    let filled = order_reaches(&client, &target.id, OrderStatus::Filled).await;
    assert_eq!(dec(&filled.filled_quantity), dec("5"));
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    assert_eq!(mock.shares("AAPL"), dec("10"), "flat again: the 5 sold");
    assert!(resting_orders(&client).await.is_empty());
    assert_eq!(sent(&mock).len(), 1, "still only the bracket was sent");
    server.stop().await;
}

#[tokio::test]
async fn an_exit_cancels_the_bracket_legs_then_sells() {
    let (mock, server, client) = on_mock_alpaca(attached(|_| {})).await;
    let [_, stop, target] = bought(&mock, &server, &client).await;

    let exit = deliver(&server, &client, &alert("exit")).await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    assert_eq!(mock.shares("AAPL"), dec("10"), "the 5 shares sold");
    for leg in [&stop, &target] {
        order_reaches(&client, &leg.id, OrderStatus::Canceled).await;
        let at_alpaca = mock
            .orders()
            .into_iter()
            .find(|o| o.id == leg.exchange_order_id)
            .expect("the leg");
        assert_eq!(at_alpaca.status, "canceled", "{at_alpaca:?}");
    }
    let sent = sent(&mock);
    assert_eq!(
        sent.iter()
            .map(|o| (o.order_class.as_str(), o.side.as_str()))
            .collect::<Vec<_>>(),
        [("bracket", "buy"), ("simple", "sell")],
        "{sent:?}"
    );
    assert!(resting_orders(&client).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_fractional_bracket_is_refused_by_name_before_it_is_sent() {
    let mut pipeline = attached(|_| {});
    pipeline.sizing = Some(Sizing {
        method: Some(sizing::Method::FixedQuantity("0.5".into())),
    });
    let (mock, server, client) = on_mock_alpaca(pipeline).await;
    refused(&server, &client, "unsupported_oco").await;
    assert!(mock.orders().is_empty(), "nothing reached Alpaca");
    server.stop().await;
}

#[tokio::test]
async fn alpaca_refuses_a_bracket_whose_stop_is_above_the_market() {
    let pipeline = attached(|order| {
        order.stop_loss = Some(ProtectiveOrder {
            level: Some(protective_order::Level::Price("2050".into())),
        });
    });
    let (mock, server, client) = on_mock_alpaca(pipeline).await;
    refused(&server, &client, "stop_loss.stop_price must be below").await;
    assert!(mock.orders().is_empty(), "Alpaca kept nothing");
    assert_eq!(mock.shares("AAPL"), dec("10"));
    server.stop().await;
}

#[tokio::test]
async fn a_5xx_reading_the_legs_settles_later_with_exactly_one_bracket() {
    let (mock, server, client) = on_mock_alpaca(attached(|_| {})).await;
    mock.fail_next_nested_lookup();
    let [_, stop, target] = bought(&mock, &server, &client).await;
    for leg in [&stop, &target] {
        assert!(
            leg.transitions
                .iter()
                .any(|t| t.status == OrderStatus::Unknown as i32),
            "the legs were unknown first: {leg:?}"
        );
    }
    mock.set_price("AAPL", dec("1930"));
    order_reaches(&client, &stop.id, OrderStatus::Filled).await;
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert_eq!(mock.shares("AAPL"), dec("10"), "the stop sold the 5");
    assert_eq!(sent(&mock).len(), 1, "one bracket, nothing sent again");
    server.stop().await;
}

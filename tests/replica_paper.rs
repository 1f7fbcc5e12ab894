//! The paper exchange and the pipelines' positions on two replicas (real
//! binaries) sharing one PostgreSQL database: both show the same balances
//! and resting orders, a resting order that prices on both replicas cross
//! at once fills exactly once, and a position built by executions on both
//! replicas is one position.

use std::{collections::HashMap, time::Duration};

use rust_decimal::Decimal;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    all_executions, any_signal_pipeline, balances, dec, eventually, get_order, place_order,
    replicas::{Pair, audit_verifies, create_on_all, pair},
    submit,
};

/// A paper order for BTC/USDT: a market buy at `reference`, or a limit at
/// `price`.
fn paper_order(
    request_id: &str,
    kind: OrderType,
    quantity: &str,
    price: &str,
) -> PlaceOrderRequest {
    let market = kind == OrderType::Market;
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: "paper".into(),
        symbol: "BINANCE:BTCUSDT".into(),
        side: Side::Buy as i32,
        r#type: kind as i32,
        quantity: quantity.into(),
        price: if market { String::new() } else { price.into() },
        reference_price: if market { price.into() } else { String::new() },
        ..Default::default()
    }
}

/// A signal that carries the market price `price` for BTC/USDT.
fn price(request_id: &str, price: &str) -> SubmitSignalRequest {
    SubmitSignalRequest {
        symbol: "BINANCE:BTCUSDT".into(),
        action: "sell".into(),
        price: price.into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

type Balances = HashMap<String, (Decimal, Decimal)>;

/// Waits until both replicas show the same paper balances; returns them.
async fn agreed(a: &Client, b: &Client, what: &str) -> Balances {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let (on_a, on_b) = (balances(a, "paper").await, balances(b, "paper").await);
            if on_a == on_b {
                Ok(on_a)
            } else {
                Err(format!(
                    "{what}: the replicas disagree: {on_a:?} and {on_b:?}"
                ))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_paper_exchange_is_one_book_whose_resting_orders_fill_once() {
    let Some(Pair {
        mock: _mock,
        dir: _dir,
        a: _a,
        b: _b,
        to_a,
        to_b,
        ..
    }) = pair("paper on two replicas").await
    else {
        return;
    };
    let start = agreed(&to_a, &to_b, "at start").await;

    // A buys at market, then rests two bids; B sees the same book.
    place_order(
        &to_a,
        paper_order("mark", OrderType::Market, "0.001", "65000"),
    )
    .await;
    let mut bids = Vec::new();
    for n in 0..2 {
        let bid = paper_order(&format!("bid-{n}"), OrderType::Limit, "0.01", "60000");
        bids.push(place_order(&to_a, bid).await);
    }
    let resting = agreed(&to_a, &to_b, "after the bids").await;
    assert_eq!(
        resting["USDT"].1,
        dec("1201.2"),
        "the bids hold quote plus fee"
    );
    assert_eq!(resting["BTC"].0, start["BTC"].0 + dec("0.001"));

    // Prices that cross the bids reach both replicas at once, again and
    // again: each bid fills once, whichever replica fills it.
    for round in 0..3 {
        let (mut via_a, mut via_b) = (to_a.signals(), to_b.signals());
        let (one, two) = tokio::join!(
            via_a.submit_signal(price(&format!("a-{round}"), "59990")),
            via_b.submit_signal(price(&format!("b-{round}"), "59990")),
        );
        one.expect("a price through A");
        two.expect("a price through B");
    }
    for bid in &bids {
        let filled = eventually(
            Duration::from_secs(10),
            Duration::from_millis(100),
            || async {
                let order = get_order(&to_b, &bid.id).await;
                if order.status == OrderStatus::Filled as i32 {
                    Ok(order)
                } else {
                    Err(format!("bid {} not filled yet: {order:?}", bid.id))
                }
            },
        )
        .await;
        assert_eq!(filled.fills.len(), 1, "one fill: {filled:?}");
        assert_eq!(filled.average_fill_price, "60000");
    }
    let end = agreed(&to_a, &to_b, "after the fills").await;
    assert_eq!(end["USDT"].1, Decimal::ZERO, "nothing held any more");
    assert_eq!(
        end["BTC"].0,
        start["BTC"].0 + dec("0.021"),
        "each bid bought once"
    );
    assert!(audit_verifies(&to_a).await);
}

/// The execution signal `signal_id` started, once it has ended.
async fn ended(client: &Client, signal_id: &str) -> Execution {
    let filter = ExecutionFilter {
        signal_id: signal_id.into(),
        ..Default::default()
    };
    eventually(
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async {
            let executions = all_executions(client, filter.clone()).await;
            match executions.first() {
                Some(execution)
                    if ![ExecutionStatus::Pending, ExecutionStatus::Running]
                        .contains(&execution.status()) =>
                {
                    Ok(execution.clone())
                }
                other => Err(format!(
                    "signal {signal_id}'s execution has not ended: {other:?}"
                )),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_built_on_two_replicas_is_closed_whole_from_either() {
    let Some(Pair {
        mock: _mock,
        dir: _dir,
        a: _a,
        b: _b,
        to_a,
        to_b,
        ..
    }) = pair("positions on two replicas").await
    else {
        return;
    };
    let pipeline = Pipeline {
        exchange: "paper".into(),
        concurrency: ConcurrencyPolicy::Queue as i32,
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.001".into())),
        }),
        ..any_signal_pipeline("split")
    };
    create_on_all(&to_a, &[&to_b], pipeline).await;
    let signal = |action: &str, request_id: &str| SubmitSignalRequest {
        strategy: "replicas".into(),
        symbol: "BINANCE:BTC/USDT".into(),
        action: action.into(),
        price: "50000".into(),
        request_id: request_id.into(),
        ..Default::default()
    };

    // Two buys, one through each replica: one position of 0.002.
    for (client, request_id) in [(&to_a, "buy-a"), (&to_b, "buy-b")] {
        let accepted = submit(client, signal("buy", request_id)).await;
        let id = accepted.signal.expect("the signal").id;
        let execution = ended(client, &id).await;
        assert_eq!(
            execution.status(),
            ExecutionStatus::Succeeded,
            "{execution:?}"
        );
    }
    // The exit, through A, sells what both bought.
    let accepted = submit(&to_a, signal("exit", "exit-a")).await;
    let id = accepted.signal.expect("the signal").id;
    let exit = ended(&to_a, &id).await;
    assert_eq!(exit.status(), ExecutionStatus::Succeeded, "{exit:?}");
    let order = get_order(&to_b, exit.order_ids.first().expect("an exit order")).await;
    assert_eq!(
        (order.side(), dec(&order.filled_quantity)),
        (Side::Sell, dec("0.002")),
        "the exit closes the whole position: {order:?}"
    );
    // Flat now, as both replicas read it: another exit has nothing to do.
    let accepted = submit(&to_b, signal("exit", "exit-b")).await;
    let id = accepted.signal.expect("the signal").id;
    let nothing = ended(&to_b, &id).await;
    assert!(nothing.order_ids.is_empty(), "{nothing:?}");
}

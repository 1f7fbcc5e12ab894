//! `examples/target-position.json`, the README's pipeline that holds what
//! the strategy holds, fed the README's TradingView template as a Pine
//! strategy fills it in: each alert carries the strategy's position after
//! its order (`market_position`, `position_size`), and the pipeline orders
//! the difference, whatever `contracts` says. A plain `target` alert with
//! `market_position` and `position_size` sets the position directly.

use rust_decimal::Decimal;
use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, balances, create_pipeline, dec, deliver, get_order, template_alert,
};

/// The paper account's ETH, free and locked.
async fn paper_eth(client: &Client) -> Decimal {
    let (free, locked) = balances(client, "paper")
        .await
        .get("ETH")
        .copied()
        .unwrap_or_default();
    free + locked
}

/// The execution's one order, as (side, filled quantity).
async fn traded(client: &Client, execution: &Execution) -> (Side, Decimal) {
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [id] = execution.order_ids.as_slice() else {
        panic!("one order: {execution:?}");
    };
    let order = get_order(client, id).await;
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
    let side = Side::try_from(order.side).expect("a known side");
    (side, dec(&order.filled_quantity))
}

#[tokio::test]
async fn the_example_holds_what_the_strategy_says_it_holds() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = tradeplane_e2e::example_pipeline("target-position.json");
    create_pipeline(&client, pipeline).await;
    let start = paper_eth(&client).await;

    // (template fields, the order it makes, the position after it)
    let steps = [
        (("buy", "2", "long", "2"), (Side::Buy, "2"), "2"),
        // A partial exit: the strategy sold 1.5 and holds 0.5.
        (("sell", "1.5", "long", "0.5"), (Side::Sell, "1.5"), "0.5"),
        (("buy", "1", "long", "1.5"), (Side::Buy, "1"), "1.5"),
        // Closed: sell + flat.
        (("sell", "1.5", "flat", "0"), (Side::Sell, "1.5"), "0"),
    ];
    for ((action, contracts, market_position, size), (side, quantity), held) in steps {
        let body = template_alert(
            ("ETHUSDT", "3000"),
            action,
            contracts,
            market_position,
            size,
        );
        let execution = deliver(&server, &client, &body).await;
        assert_eq!(
            traded(&client, &execution).await,
            (side, dec(quantity)),
            "{body}"
        );
        assert_eq!(paper_eth(&client).await - start, dec(held), "{body}");
    }

    // A plain alert that names the position outright (a target needs
    // market_position and position_size; contracts is not the target).
    let target = json!({
        "passphrase": PASSPHRASE, "ticker": "ETHUSDT", "action": "target",
        "market_position": "long", "position_size": "0.75", "price": "3000",
    });
    let execution = deliver(&server, &client, &target).await;
    assert_eq!(traded(&client, &execution).await, (Side::Buy, dec("0.75")));
    assert_eq!(paper_eth(&client).await - start, dec("0.75"));
    server.stop().await;
}

//! Brackets: a pipeline with a stop-loss and take-profits, and the orders
//! an execution placed.

use std::time::Duration;

use tradeplane_api::{
    Execution, Order, OrderRole, OrderSettings, OrderStatus, Pipeline, ProtectiveOrder,
    SignalMatch, Sizing, TakeProfitLevel, Trigger, protective_order, sizing, trigger,
};
use tradeplane_client::Client;

use crate::{eventually, get_order};

/// A pipeline buying 1000 USDT of BTC a run, with a stop 2 % under the
/// fill and `targets` as (offset in bps, percent of the position).
pub fn bracketed(name: &str, targets: &[(&str, &str)]) -> Pipeline {
    let level = |bps: &str| ProtectiveOrder {
        level: Some(protective_order::Level::OffsetBps(bps.into())),
    };
    Pipeline {
        name: name.into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                source: "strategy".into(),
                ..Default::default()
            })),
        }),
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuoteAmount("1000".into())),
        }),
        order: Some(OrderSettings {
            stop_loss: Some(level("200")),
            take_profits: targets
                .iter()
                .map(|(bps, percent)| TakeProfitLevel {
                    level: Some(level(bps)),
                    percent: percent.to_string(),
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Waits until order `id` has `status`, and returns it.
pub async fn reaches(client: &Client, id: &str, status: OrderStatus) -> Order {
    eventually(
        Duration::from_secs(10),
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

/// The orders of an execution, oldest first.
pub async fn orders_of(client: &Client, execution: &Execution) -> Vec<Order> {
    let mut orders = Vec::new();
    for id in &execution.order_ids {
        orders.push(get_order(client, id).await);
    }
    orders
}

pub fn role(order: &Order) -> OrderRole {
    OrderRole::try_from(order.role).expect("a known role")
}

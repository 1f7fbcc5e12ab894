//! Brackets left half placed. A restart between recording the two legs
//! of an OCO pair: the pair went out as one, so the leg still stored as
//! new shares its sibling's fate (rests in the same group, holding the
//! position once, or is refused with it) instead of being sent again on
//! its own. A bracket the venue refuses fails its execution with the
//! refusal, rather than reporting a protected entry.

use std::sync::Arc;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, balances, bracketed_pipeline, create_pipeline, dec, get_order,
    order_reaches as reaches, run_pipeline, submit,
};

use tradeplane_server::{
    model::order::{Order as StoredOrder, OrderStatus as StoredStatus},
    store::{Bookkeeping, StoreError, TotalKey},
};

/// Runs a bracketed entry at 50000 and returns its entry, stop and
/// target.
async fn bracketed_entry(client: &Client) -> [Order; 3] {
    let pipeline = create_pipeline(
        client,
        bracketed_pipeline("recovered", "1000", "200", &[("400", "100")]),
    )
    .await;
    let execution = run_pipeline(client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let mut orders = Vec::new();
    for id in &execution.order_ids {
        orders.push(get_order(client, id).await);
    }
    orders.try_into().expect("an entry and two legs")
}

/// Books nothing: the legs rewritten here have no fills.
struct NoFills;

impl Bookkeeping for NoFills {
    fn totals(&self, _: &StoredOrder) -> Vec<TotalKey> {
        Vec::new()
    }

    fn book(
        &self,
        _: &StoredOrder,
        _: usize,
        _: Vec<Option<String>>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

/// Stores `leg` as `status`, as a kill before its placement was recorded
/// (`New`) or after a refusal (`Rejected`) leaves it.
async fn store_as(server: &TestServer, leg: &Order, status: StoredStatus, reason: &str) {
    let mut stored = StoredOrder::try_from(leg.clone()).expect("an order the domain holds");
    stored.transitions.truncate(1);
    stored.status = status;
    stored.status_reason = reason.into();
    if status == StoredStatus::New {
        stored.exchange_order_id.clear();
    }
    server
        .store()
        .update_order(&stored, Arc::new(NoFills), Vec::new())
        .await
        .expect("saved");
}

#[tokio::test]
async fn a_leg_stored_new_beside_a_resting_sibling_rests_in_its_group_after_a_restart() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let [entry, stop, target] = bracketed_entry(&client).await;
    let quantity = dec(&entry.filled_quantity);
    let btc = balances(&client, "paper").await["BTC"];
    assert_eq!(btc.1, quantity, "the pair holds the position once");
    store_as(&server, &target, StoredStatus::New, "").await;

    let server = TestServer::start_in(server.stop().await, |_| {}).await;
    let client = server.client().await;
    let rested = get_order(&client, &target.id).await;
    assert_eq!(rested.status, OrderStatus::Submitted as i32, "{rested:?}");
    assert_eq!(rested.client_order_id, target.client_order_id);
    assert_eq!(
        balances(&client, "paper").await["BTC"],
        btc,
        "still one reservation for both legs, not a second one for the target"
    );

    // The legs are still one group: the target executes, the stop goes.
    submit(
        &client,
        SubmitSignalRequest {
            source: "ticker".into(),
            symbol: "BTC/USDT".into(),
            action: "buy".into(),
            price: "52500".into(),
            ..Default::default()
        },
    )
    .await;
    reaches(&client, &target.id, OrderStatus::Filled).await;
    reaches(&client, &stop.id, OrderStatus::Canceled).await;
    let (free, locked) = balances(&client, "paper").await["BTC"];
    assert_eq!(locked, dec("0"));
    assert_eq!(free, btc.0 + btc.1 - quantity, "the position is sold once");
    server.stop().await;
}

#[tokio::test]
async fn a_leg_stored_new_beside_a_refused_sibling_is_refused_with_it_after_a_restart() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let [entry, stop, target] = bracketed_entry(&client).await;
    let btc = balances(&client, "paper").await["BTC"];
    let refusal = "rejected: a leg of the OCO would execute at once";
    store_as(&server, &stop, StoredStatus::Rejected, refusal).await;
    store_as(&server, &target, StoredStatus::New, "").await;

    let server = TestServer::start_in(server.stop().await, |_| {}).await;
    let client = server.client().await;
    let refused = get_order(&client, &target.id).await;
    assert_eq!(refused.status, OrderStatus::Rejected as i32, "{refused:?}");
    assert_eq!(refused.status_reason, refusal);
    assert!(
        refused.exchange_order_id.is_empty(),
        "never sent on its own: {refused:?}"
    );
    assert_eq!(
        balances(&client, "paper").await["BTC"],
        (btc.0 + btc.1, dec("0")),
        "nothing rests for the refused pair"
    );
    assert_eq!(entry.status, OrderStatus::Filled as i32);
    server.stop().await;
}

#[tokio::test]
async fn a_refused_bracket_fails_its_execution_with_the_refusal() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // A sell stop at 60000 with the market at 50000 would execute at
    // once: the venue refuses the pair.
    let mut pipeline = bracketed_pipeline("refused", "1000", "200", &[("400", "100")]);
    if let Some(order) = pipeline.order.as_mut() {
        order.stop_loss = Some(ProtectiveOrder {
            level: Some(protective_order::Level::Price("60000".into())),
        });
    }
    let pipeline = create_pipeline(&client, pipeline).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Failed as i32,
        "{execution:?}"
    );
    assert!(
        execution.error.starts_with("take-profit 1: order ")
            && execution
                .error
                .ends_with("rejected: a leg of the OCO would execute at once"),
        "{}",
        execution.error
    );
    let protect = execution.steps.last().expect("steps");
    assert_eq!(
        (protect.name.as_str(), protect.result.as_str()),
        ("protect", "failed")
    );
    server.stop().await;
}

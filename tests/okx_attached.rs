//! OKX attached TP/SL (`order.attach_exits`), through the real server and
//! the OKX mock: the entry carries its stop and target as
//! `attachAlgoOrds`; OKX places them as one `oco` algo order under the
//! exits' group when the entry fills, and the bracket's legs are adopted
//! from it, never placed. Spot and swap; a take-profit on the wrong side
//! of the market refused by OKX; faults on the algo lookup during the
//! adoption and on the entry's placement ending with exactly one algo
//! order at OKX.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, bracketed, cancel_order,
    conformance::serve,
    create_pipeline, dec, deliver, example_pipeline,
    mock_okx::{Fault, MockAlgo, MockOkx, Route, venue_client_id},
    order_reaches, orders_of, perpetual_alert, run_pipeline_on,
};

const SPOT: &str = "BTC-USDT";
const SWAP: &str = "BTC-USDT-SWAP";

/// `pipeline` on OKX with its exits attached to the entry.
fn attaching(pipeline: Pipeline) -> Pipeline {
    let mut pipeline = Pipeline {
        exchange: "okx".into(),
        ..pipeline
    };
    if let Some(order) = pipeline.order.as_mut() {
        order.attach_exits = true;
    }
    pipeline
}

/// A spot buy of BTC/USDT at 50,000 (a stop 2 % under, a target 4 %
/// over) with attached exits, `fault` on `route` first; returns the
/// server, its client and the execution's orders (the entry, then the
/// stop and the target).
async fn spot_buy(
    okx: &MockOkx,
    fault: Option<(Route, Fault)>,
) -> (TestServer, Client, Vec<Order>) {
    let server = serve(okx).await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        attaching(bracketed("okx-attached", &[("400", "100")])),
    )
    .await;
    if let Some((route, fault)) = fault {
        okx.fail_next(route, fault);
    }
    let execution = run_pipeline_on(&client, &pipeline, ("BTC/USDT", "buy"), "50000", "").await;
    let orders = orders_of(&client, &execution).await;
    (server, client, orders)
}

/// An entry and its two legs.
fn legs(orders: Vec<Order>) -> [Order; 3] {
    orders.try_into().expect("an entry and two legs")
}

/// The algo orders OKX holds under `group` (a desk id).
fn algos_in(okx: &MockOkx, group: &str) -> Vec<MockAlgo> {
    let group = venue_client_id(group);
    okx.algos()
        .into_iter()
        .filter(|a| a.algo_cl_ord_id == group)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_entry_carries_its_exits_and_its_legs_are_the_oco_okx_attached() {
    let okx = MockOkx::start().await;
    let (server, client, orders) = spot_buy(&okx, None).await;
    let [entry, stop, target] = legs(orders);
    let stop = order_reaches(&client, &stop.id, OrderStatus::Submitted).await;
    let target = order_reaches(&client, &target.id, OrderStatus::Submitted).await;

    let sent = okx
        .order(venue_client_id(&entry.client_order_id))
        .expect("the entry at OKX");
    let attached = sent.attached.expect("the entry carried attachAlgoOrds");
    assert_eq!(attached.algo_cl_ord_id, venue_client_id(&stop.oco_group));
    assert_eq!(attached.stop, dec(&stop.stop_price));
    assert_eq!(
        attached.take_profit,
        (dec(&target.price), dec(&target.price))
    );
    assert_eq!(stop.attached_to, entry.client_order_id);

    let [algo] = okx
        .algos()
        .try_into()
        .expect("one algo order at OKX, none placed by us");
    assert_eq!(
        (algo.ord_type, algo.state, algo.side.as_str()),
        ("oco", "live", "sell")
    );
    assert_eq!(algo.algo_cl_ord_id, venue_client_id(&stop.oco_group));
    assert_eq!(algo.attached_to, sent.cl_ord_id);
    assert_eq!(algo.size, sent.size, "OKX sizes it at the whole fill");
    assert_eq!(dec(&stop.quantity), algo.size, "the legs mirror it");
    assert_eq!(stop.exchange_order_id, algo.algo_id);
    assert_eq!(target.exchange_order_id, algo.algo_id);
    assert_eq!(okx.frozen("BTC"), algo.size, "the base is reserved once");

    okx.set_price(SPOT, dec("52100"));
    let target = order_reaches(&client, &target.id, OrderStatus::Filled).await;
    let stop = order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    assert!(dec(&stop.filled_quantity).is_zero(), "{stop:?}");
    assert_eq!(
        dec(&target.filled_quantity),
        algo.size,
        "OKX sells the entry's size"
    );
    assert_eq!(okx.algos()[0].state, "effective");
    assert_eq!(okx.frozen("BTC"), dec("0"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_one_attached_leg_cancels_both_at_okx() {
    let okx = MockOkx::start().await;
    let (server, client, orders) = spot_buy(&okx, None).await;
    let [_, stop, target] = legs(orders);
    order_reaches(&client, &target.id, OrderStatus::Submitted).await;
    let canceled = cancel_order(&client, &stop.id)
        .await
        .expect("the cancel is answered");
    assert_eq!(
        canceled.status,
        OrderStatus::Canceled as i32,
        "{canceled:?}"
    );
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    let [algo] = okx.algos().try_into().expect("one algo order");
    assert_eq!(algo.state, "canceled");
    assert_eq!(okx.frozen("BTC"), dec("0"), "nothing reserved any more");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_profit_under_the_market_is_refused_by_okx_with_the_entry() {
    let okx = MockOkx::start().await;
    // The signal says 50,000; OKX trades at 60,000, over the target.
    okx.set_price(SPOT, dec("60000"));
    let (server, _, orders) = spot_buy(&okx, None).await;
    let [entry] = orders.try_into().expect("the entry alone");
    assert_eq!(entry.status, OrderStatus::Rejected as i32, "{entry:?}");
    assert!(entry.status_reason.contains("51279"), "{entry:?}");
    assert!(
        okx.orders().is_empty() && okx.algos().is_empty(),
        "nothing placed"
    );
    server.stop().await;
}

/// A spot buy with attached exits and `fault` on `route`, once both legs
/// work here: exactly one algo order at OKX, live under the group, and
/// nothing else sent; returns the server and the entry and its stop.
async fn settled_after(
    okx: &MockOkx,
    route: Route,
    (name, fault): (&str, Fault),
) -> (TestServer, [Order; 2]) {
    let (server, client, orders) = spot_buy(okx, Some((route, fault))).await;
    let [entry, stop, target] = legs(orders);
    let stop = order_reaches(&client, &stop.id, OrderStatus::Submitted).await;
    order_reaches(&client, &target.id, OrderStatus::Submitted).await;
    let held = algos_in(okx, &stop.oco_group);
    assert_eq!(held.len(), 1, "{name}: {held:?}");
    assert_eq!((held[0].state, okx.algos().len()), ("live", 1), "{name}");
    (server, [entry, stop])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_algo_lookup_while_adopting_settles_with_one_algo_order() {
    for (name, fault) in Fault::matrix() {
        let okx = MockOkx::start().await;
        let (server, [_, stop]) = settled_after(&okx, Route::QueryOrderList, (name, fault)).await;
        let unknown = OrderStatus::Unknown as i32;
        assert!(
            stop.transitions.iter().any(|t| t.status == unknown),
            "{name}: the adoption was left unknown first: {:?}",
            stop.transitions
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_entry_places_its_exits_exactly_once() {
    for (name, fault) in Fault::matrix() {
        let okx = MockOkx::start().await;
        let (server, [entry, _]) = settled_after(&okx, Route::PlaceOrder, (name, fault)).await;
        assert_eq!(
            okx.orders_with_client_id(venue_client_id(&entry.client_order_id)),
            1,
            "{name}: one entry"
        );
        server.stop().await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_long_carries_reduce_only_exits_that_end_with_the_position() {
    let okx = MockOkx::start().await;
    let server = serve(&okx).await;
    let client = server.client().await;
    create_pipeline(&client, attaching(example_pipeline("perp-futures.yaml"))).await;
    let execution = deliver(&server, &client, &perpetual_alert("buy", "50000")).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [_, stop, target] = legs(orders_of(&client, &execution).await);
    assert!(stop.reduce_only && target.reduce_only);

    let position = okx.position(SWAP).contracts;
    let [algo] = okx.algos().try_into().expect("one algo order at OKX");
    assert_eq!(
        (algo.ord_type, algo.state, algo.side.as_str()),
        ("oco", "live", "sell")
    );
    assert!(algo.reduce_only, "{algo:?}");
    assert_eq!((algo.size, algo.inst_id.as_str()), (position, SWAP));
    assert_eq!(algo.algo_cl_ord_id, venue_client_id(&stop.oco_group));
    assert_eq!(algo.trigger, dec(&stop.stop_price));

    deliver(&server, &client, &perpetual_alert("exit", "50000")).await;
    assert_eq!(okx.position(SWAP).contracts, dec("0"), "flat");
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    let [algo] = okx.algos().try_into().expect("still one algo order");
    assert_eq!(algo.state, "canceled", "the closed position ended it");
    server.stop().await;
}

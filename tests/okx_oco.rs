//! OKX spot brackets as one native `oco` algo order, through the real
//! server and the OKX mock: one group holding the stop and the
//! take-profit, reserving the base once; and every fault of the kit's
//! matrix on the algo route ending with exactly one `oco` at OKX and both
//! legs working here, as they are there.

use tradeplane_api::*;
use tradeplane_e2e::{
    bracketed,
    conformance::serve,
    create_pipeline, dec,
    mock_okx::{Fault, MockOkx, Route, venue_client_id},
    order_reaches, orders_of, run_pipeline_on,
};

/// A bracketed buy of BTC/USDT on OKX at 50,000 (a stop 2 % under, a
/// target 4 % over), with `fault` on the algo route; returns the stop and
/// the target once both work here.
async fn bracket_with(okx: &MockOkx, fault: Option<Fault>) -> (Order, Order) {
    let server = serve(okx).await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        Pipeline {
            exchange: "okx".into(),
            ..bracketed("okx-oco", &[("400", "100")])
        },
    )
    .await;
    if let Some(fault) = fault {
        okx.fail_next(Route::PlaceOrderList, fault);
    }
    let execution = run_pipeline_on(&client, &pipeline, ("BTC/USDT", "buy"), "50000", "").await;
    let [_, stop, target]: [Order; 3] = orders_of(&client, &execution)
        .await
        .try_into()
        .expect("an entry and two legs");
    let stop = order_reaches(&client, &stop.id, OrderStatus::Submitted).await;
    let target = order_reaches(&client, &target.id, OrderStatus::Submitted).await;
    server.stop().await;
    (stop, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_bracket_is_one_oco_reserving_the_base_once() {
    let okx = MockOkx::start().await;
    let (stop, target) = bracket_with(&okx, None).await;
    assert_eq!(stop.oco_group, target.oco_group, "one group");
    let [algo] = okx.algos().try_into().expect("one algo order at OKX");
    assert_eq!(algo.ord_type, "oco", "{algo:?}");
    assert_eq!(algo.algo_cl_ord_id, venue_client_id(&stop.oco_group));
    assert_eq!((algo.side.as_str(), algo.state), ("sell", "live"));
    assert_eq!(algo.trigger, dec(&stop.stop_price));
    assert_eq!(
        algo.take_profit.map(|(_, limit)| limit),
        Some(dec(&target.price))
    );
    assert_eq!(algo.size, dec(&stop.quantity));
    assert_eq!(okx.frozen("BTC"), algo.size, "the base is reserved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_oco_route_ends_with_exactly_one_algo_order() {
    for (name, fault) in Fault::matrix() {
        let okx = MockOkx::start().await;
        let (stop, _) = bracket_with(&okx, Some(fault)).await;
        let group = venue_client_id(&stop.oco_group);
        let held: Vec<_> = okx
            .algos()
            .into_iter()
            .filter(|a| a.algo_cl_ord_id == group)
            .collect();
        assert_eq!(held.len(), 1, "{name}: exactly one oco at OKX: {held:?}");
        assert_eq!(held[0].state, "live", "{name}");
        assert_eq!(okx.algos().len(), 1, "{name}: nothing else was sent");
    }
}

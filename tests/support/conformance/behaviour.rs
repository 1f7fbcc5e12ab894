//! What every venue does the same way, the embedded paper exchange
//! included: placing, looking up, resting, canceling, rounding to the
//! instrument's rules, refusing what they refuse, and brackets.

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;

use super::{VenueUnderTest, price as at};
use crate::{
    TestServer, bracketed_pipeline, cancel_order, create_pipeline, dec, error_reason, get_order,
    list_exchanges, order_reaches, orders_of, place_order, role, run_pipeline_on,
};

/// A server trading on `venue`.
pub async fn serve<V: VenueUnderTest>(venue: &V) -> TestServer {
    TestServer::start_with(|config| venue.configure(config)).await
}

/// A fresh `V`, a server trading on it, and a trader's client.
pub async fn trading<V: VenueUnderTest>() -> (V, TestServer, Client) {
    let venue = V::start().await;
    let server = serve(&venue).await;
    let client = server.trader().await;
    (venue, server, client)
}

/// An order for `V::SYMBOL` on `V`: a limit when `price` (written for
/// the suite's market at 50,000, see [`at`]) is given, else a market.
pub fn order_on<V: VenueUnderTest>(
    request_id: &str,
    side: Side,
    quantity: &str,
    price: Option<&str>,
) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: V::EXCHANGE.into(),
        symbol: V::SYMBOL.into(),
        side: side as i32,
        r#type: if price.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        } as i32,
        quantity: quantity.into(),
        price: price.map(at::<V>).unwrap_or_default(),
        reference_price: at::<V>("50000"),
        ..Default::default()
    }
}

/// A market buy fills at once, is found by its id, a retry with the same
/// request id is the same order, and the venue is listed as a testnet.
pub async fn places_fills_and_looks_up<V: VenueUnderTest>() {
    let (_venue, server, client) = trading::<V>().await;
    let filled = place_order(&client, order_on::<V>("m-1", Side::Buy, "0.01", None)).await;
    assert_eq!(filled.status, OrderStatus::Filled as i32, "{filled:?}");
    assert_eq!(filled.exchange, V::EXCHANGE);
    assert!(!filled.client_order_id.is_empty());
    assert!(!filled.exchange_order_id.is_empty(), "{filled:?}");
    assert_eq!(filled.fills.len(), 1, "{filled:?}");
    assert_eq!(dec(&filled.fills[0].quantity), dec("0.01"));
    assert_eq!(dec(&filled.filled_quantity), dec("0.01"));
    let statuses: Vec<_> = filled.transitions.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::New,
            OrderStatus::Submitted,
            OrderStatus::Filled
        ]
        .map(|s| s as i32)
    );
    assert_eq!(get_order(&client, &filled.id).await, filled);
    let retried = place_order(&client, order_on::<V>("m-1", Side::Buy, "0.01", None)).await;
    assert_eq!(retried.id, filled.id, "a retry is the same order");

    let listed = list_exchanges(&client).await;
    let exchange = listed
        .iter()
        .find(|e| e.name == V::EXCHANGE)
        .unwrap_or_else(|| panic!("{} is listed: {listed:?}", V::EXCHANGE));
    assert_eq!(exchange.kind, V::KIND);
    assert!(!exchange.live, "tests never touch real money");
    assert_eq!(exchange.breaker_state, CircuitBreakerState::Closed as i32);
    server.stop().await;
}

/// A limit buy under the market rests; once the market falls through it,
/// it fills at its limit or better.
pub async fn a_resting_order_fills_when_the_market_crosses_it<V: VenueUnderTest>() {
    let (venue, server, client) = trading::<V>().await;
    let resting = place_order(
        &client,
        order_on::<V>("l-1", Side::Buy, "0.001", Some("49000")),
    )
    .await;
    assert_eq!(resting.status, OrderStatus::Submitted as i32, "{resting:?}");
    venue.move_market(&client, &at::<V>("48900")).await;
    let filled = order_reaches(&client, &resting.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills.len(), 1, "{filled:?}");
    assert!(
        dec(&filled.fills[0].price) <= dec(&at::<V>("49000")),
        "{filled:?}"
    );
    assert_eq!(dec(&filled.fills[0].quantity), dec("0.001"));
    server.stop().await;
}

/// A resting order cancels; canceling it again is refused by name.
pub async fn cancels_a_resting_order<V: VenueUnderTest>() {
    let (venue, server, client) = trading::<V>().await;
    let resting = place_order(
        &client,
        order_on::<V>("l-2", Side::Buy, "0.001", Some("30000")),
    )
    .await;
    assert_eq!(resting.status, OrderStatus::Submitted as i32, "{resting:?}");
    let canceled = cancel_order(&client, &resting.id)
        .await
        .expect("CancelOrder answers");
    assert_eq!(
        canceled.status,
        OrderStatus::Canceled as i32,
        "{canceled:?}"
    );
    assert_eq!(
        get_order(&client, &resting.id).await.status,
        OrderStatus::Canceled as i32
    );
    let again = cancel_order(&client, &resting.id)
        .await
        .expect_err("a canceled order cannot be canceled");
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    // The market falling through its price no longer fills it.
    venue.move_market(&client, &at::<V>("29000")).await;
    assert_eq!(
        get_order(&client, &resting.id).await.status,
        OrderStatus::Canceled as i32
    );
    server.stop().await;
}

/// Quantities round down to the lot, buy limits down and sell limits up
/// to the tick: never more, never a worse price than asked.
pub async fn rounds_to_the_instruments_rules<V: VenueUnderTest>() {
    let (_venue, server, client) = trading::<V>().await;
    let market = place_order(&client, order_on::<V>("r-1", Side::Buy, "0.0123456", None)).await;
    assert_eq!(market.status, OrderStatus::Filled as i32, "{market:?}");
    assert_eq!(dec(&market.quantity), dec("0.01234"), "down to the lot");
    let buy = place_order(
        &client,
        order_on::<V>("r-2", Side::Buy, "0.001", Some("40000.004")),
    )
    .await;
    assert_eq!(
        dec(&buy.price),
        dec(&at::<V>("40000")),
        "a buy limit rounds down"
    );
    let sell = place_order(
        &client,
        order_on::<V>("r-3", Side::Sell, "0.001", Some("60000.004")),
    )
    .await;
    assert_eq!(
        dec(&sell.price),
        dec(&at::<V>("60000")) + dec("0.01"),
        "a sell limit rounds up"
    );
    for resting in [&buy, &sell] {
        assert_eq!(resting.status, OrderStatus::Submitted as i32, "{resting:?}");
    }
    server.stop().await;
}

/// An order under the minimum notional, or beyond the balance, is
/// rejected with the venue's reason, and a quantity under one lot is
/// refused before it leaves.
pub async fn refuses_what_its_rules_refuse<V: VenueUnderTest>() {
    let (_venue, server, client) = trading::<V>().await;
    let small = place_order(&client, order_on::<V>("s-1", Side::Buy, "0.00005", None)).await;
    assert_eq!(small.status, OrderStatus::Rejected as i32, "{small:?}");
    assert!(
        small.status_reason.to_lowercase().contains("notional"),
        "{}",
        small.status_reason
    );
    let big = place_order(&client, order_on::<V>("s-2", Side::Buy, "100", None)).await;
    assert_eq!(big.status, OrderStatus::Rejected as i32, "{big:?}");
    assert!(
        big.status_reason.to_lowercase().contains("insufficient"),
        "{}",
        big.status_reason
    );
    let dust = client
        .orders()
        .place_order(order_on::<V>("s-3", Side::Buy, "0.000001", None))
        .await
        .expect_err("under one lot");
    assert_eq!(dust.code(), Code::InvalidArgument, "{dust:?}");
    assert!(!error_reason(&dust).is_empty(), "{dust:?}");
    server.stop().await;
}

/// Runs `pipeline` for a buy of `V::SYMBOL` at the market.
pub async fn buy_at_the_market<V: VenueUnderTest>(
    client: &Client,
    pipeline: &Pipeline,
) -> Execution {
    run_pipeline_on(client, pipeline, (V::SYMBOL, "buy"), &at::<V>("50000"), "").await
}

/// The orders of a bracketed entry's `execution`, which succeeded: the
/// entry, filled, then its stop and target, in one OCO group.
pub async fn bracket_of(client: &Client, execution: &Execution) -> [Order; 3] {
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [entry, stop, target]: [Order; 3] = orders_of(client, execution)
        .await
        .try_into()
        .expect("an entry and two legs");
    assert_eq!(role(&entry), OrderRole::Entry);
    assert_eq!(entry.status, OrderStatus::Filled as i32, "{entry:?}");
    assert_eq!(role(&stop), OrderRole::StopLoss);
    assert_eq!(role(&target), OrderRole::TakeProfit);
    assert!(!stop.oco_group.is_empty());
    assert_eq!(stop.oco_group, target.oco_group, "one group");
    [entry, stop, target]
}

/// A filled entry's stop-loss and take-profit are one group: when the
/// take-profit fills, the stop is canceled, and a later fall sells
/// nothing more. A venue without a native spot OCO refuses the bracket by
/// name instead.
pub async fn a_bracket_is_one_linked_group<V: VenueUnderTest>() {
    let venue = V::start().await;
    let server = serve(&venue).await;
    let client = server.client().await;
    let pipeline = create_pipeline(
        &client,
        Pipeline {
            exchange: V::EXCHANGE.into(),
            // Worth one unit at the market: a whole share on a venue that
            // takes OCO orders in whole shares only.
            ..bracketed_pipeline(
                "conformance-bracket",
                &at::<V>("50000"),
                "200",
                &[("400", "100")],
            )
        },
    )
    .await;
    let execution = buy_at_the_market::<V>(&client, &pipeline).await;
    if !V::SPOT_BRACKETS {
        // No native OCO on spot: the bracket is refused by name, and
        // neither leg is left working at the venue.
        assert_eq!(
            execution.status,
            ExecutionStatus::Failed as i32,
            "{execution:?}"
        );
        assert!(execution.error.contains("unsupported_oco"), "{execution:?}");
        for leg in orders_of(&client, &execution).await.iter().skip(1) {
            assert_eq!(leg.status, OrderStatus::Rejected as i32, "{leg:?}");
        }
        server.stop().await;
        return;
    }
    let [_, stop, target] = bracket_of(&client, &execution).await;
    for leg in [&stop, &target] {
        assert_eq!(leg.exchange, V::EXCHANGE);
        assert!(dec(&leg.quantity) > dec("0"), "{leg:?}");
    }

    the_target_executes_and_the_stop_goes(&venue, &client, [&stop, &target]).await;
    server.stop().await;
}

/// Moves the market through a bracket's target: the target fills, its
/// stop is canceled, and a later fall through the stop sells nothing.
pub async fn the_target_executes_and_the_stop_goes<V: VenueUnderTest>(
    venue: &V,
    client: &Client,
    [stop, target]: [&Order; 2],
) {
    venue.move_market(client, &at::<V>("53000")).await;
    let taken = order_reaches(client, &target.id, OrderStatus::Filled).await;
    assert_eq!(dec(&taken.filled_quantity), dec(&target.quantity));
    let stopped = order_reaches(client, &stop.id, OrderStatus::Canceled).await;
    assert!(dec(&stopped.filled_quantity).is_zero(), "{stopped:?}");
    venue.move_market(client, &at::<V>("47000")).await;
    let after = get_order(client, &stop.id).await;
    assert_eq!(after.status, OrderStatus::Canceled as i32, "{after:?}");
    assert!(dec(&after.filled_quantity).is_zero());
}

//! Exits the venue attaches to the entry (`order.attach_exits`): the
//! entry carries its stop and target, the venue creates and links them
//! when it fills, and the server adopts them as the bracket's legs
//! without sending either under its own id. A venue that cannot attach
//! them refuses by name, before anything reaches it.

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;

use super::{
    MockedVenue, VenueUnderTest, bracket_of, buy_at_the_market, price as at, serve,
    the_target_executes_and_the_stop_goes,
};
use crate::{
    TestServer, bracketed_pipeline, create_pipeline, dec, order_reaches, orders_of, role,
    run_pipeline_on, try_create_pipeline,
};

/// What a venue does with exits attached to an entry in
/// [`VenueUnderTest::SYMBOL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// It attaches none: a pipeline asking for them is refused.
    No,
    /// It attaches them on other instruments, not this one: the entry is
    /// refused by name before it is sent.
    NotOn,
    /// It attaches and links them.
    Yes,
}

/// A pipeline on `V` that buys one unit at the market with a stop 2 %
/// under and a target 4 % over the signal's price, attached to the entry.
fn attached_pipeline<V: VenueUnderTest>() -> Pipeline {
    let mut pipeline = bracketed_pipeline(
        "conformance-attached",
        &at::<V>("50000"),
        "200",
        &[("400", "100")],
    );
    if let Some(order) = pipeline.order.as_mut() {
        order.attach_exits = true;
    }
    Pipeline {
        exchange: V::EXCHANGE.into(),
        ..pipeline
    }
}

/// What a filled entry left held: its fill, less a fee the venue took in
/// the asset bought (OKX charges a spot buy's fee in the base).
fn held(entry: &Order) -> rust_decimal::Decimal {
    let base = entry.instrument.as_ref().map(|i| i.base.as_str());
    let fee = match base == Some(entry.fee_asset.as_str()) {
        true => dec(&entry.fee_total),
        false => rust_decimal::Decimal::ZERO,
    };
    dec(&entry.filled_quantity) - fee
}

/// A server on `V` with [`attached_pipeline`] and a long opened through
/// it; returns its orders: the entry, the stop and the target.
async fn long_with_attached_exits<V: MockedVenue>(
    venue: &V,
) -> (TestServer, Client, Pipeline, [Order; 3]) {
    let server = serve(venue).await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, attached_pipeline::<V>()).await;
    let execution = buy_at_the_market::<V>(&client, &pipeline).await;
    let [entry, stop, target] = bracket_of(&client, &execution).await;
    // Priced from the signal's price, as the entry carried them.
    assert_eq!(dec(&stop.stop_price), dec(&at::<V>("49000")), "{stop:?}");
    assert_eq!(dec(&target.price), dec(&at::<V>("52000")), "{target:?}");
    for leg in [&stop, &target] {
        assert!(
            [OrderStatus::Submitted, OrderStatus::New].contains(&leg.status()),
            "{leg:?}"
        );
        assert_eq!(dec(&leg.quantity), dec(&entry.filled_quantity), "{leg:?}");
        // Adopted, never sent: the venue made the legs itself.
        assert_eq!(
            venue.orders_with_client_id(&leg.client_order_id),
            0,
            "{leg:?}"
        );
    }
    (server, client, pipeline, [entry, stop, target])
}

/// Exits attached to an entry are the venue's linked pair: when the
/// target executes, the stop is canceled, and a later fall sells nothing.
/// A venue that cannot attach them refuses by name, and nothing reaches
/// it.
pub async fn attached_exits_are_adopted_and_linked<V: MockedVenue>() {
    let venue = V::start().await;
    match V::ATTACHED_EXITS {
        Attached::No => {
            let server = serve(&venue).await;
            let client = server.client().await;
            let refused = try_create_pipeline(&client, attached_pipeline::<V>())
                .await
                .expect_err("no venue-attached exits here");
            assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            assert!(
                refused.message().contains("pipeline.order.attach_exits"),
                "{refused:?}"
            );
            server.stop().await;
        }
        Attached::NotOn => {
            let server = serve(&venue).await;
            let client = server.client().await;
            let pipeline = create_pipeline(&client, attached_pipeline::<V>()).await;
            let execution = buy_at_the_market::<V>(&client, &pipeline).await;
            assert_eq!(
                execution.status,
                ExecutionStatus::Failed as i32,
                "{execution:?}"
            );
            assert!(execution.error.contains("attach_exits"), "{execution:?}");
            assert_eq!(venue.order_count(), 0, "nothing reached the venue");
            server.stop().await;
        }
        Attached::Yes => {
            let (server, client, _, [_, stop, target]) = long_with_attached_exits(&venue).await;
            the_target_executes_and_the_stop_goes(&venue, &client, [&stop, &target]).await;
            server.stop().await;
        }
    }
}

/// An exit signal cancels the attached exits first, at the venue and in
/// the book, then closes the position: neither exit executes later.
pub async fn an_exit_cancels_attached_exits_first<V: MockedVenue>() {
    if V::ATTACHED_EXITS != Attached::Yes {
        return;
    }
    let venue = V::start().await;
    let (server, client, pipeline, [entry, stop, target]) = long_with_attached_exits(&venue).await;
    let exit = run_pipeline_on(
        &client,
        &pipeline,
        (V::SYMBOL, "exit"),
        &at::<V>("50000"),
        "",
    )
    .await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    for leg in [&stop, &target] {
        let canceled = order_reaches(&client, &leg.id, OrderStatus::Canceled).await;
        assert!(dec(&canceled.filled_quantity).is_zero(), "{canceled:?}");
    }
    let closing = orders_of(&client, &exit).await;
    let closed: Vec<_> = closing
        .iter()
        .filter(|o| role(o) == OrderRole::Exit)
        .collect();
    assert_eq!(closed.len(), 1, "{closing:?}");
    assert_eq!(closed[0].status, OrderStatus::Filled as i32, "{closing:?}");
    assert_eq!(dec(&closed[0].filled_quantity), held(&entry), "{closing:?}");
    // Both ways out are gone: neither exit executes on a move later.
    venue.move_market(&client, &at::<V>("53000")).await;
    venue.move_market(&client, &at::<V>("47000")).await;
    for leg in [&stop, &target] {
        let after = order_reaches(&client, &leg.id, OrderStatus::Canceled).await;
        assert!(dec(&after.filled_quantity).is_zero(), "{after:?}");
    }
    server.stop().await;
}

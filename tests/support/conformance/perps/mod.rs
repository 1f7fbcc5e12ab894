//! What every perpetual venue does the same way, the paper exchange
//! included: a TradingView `BTCUSDT.P` long and short through the futures
//! pipeline of `examples/perp-futures.yaml` (5x isolated, 2000 USDT a
//! trade, stop 3 %, target 6 %), each ending flat at the venue and in the
//! book; protective legs reduce-only as the venue marks them, in one
//! group that the exit cancels first; a reduce-only exit that cannot flip
//! a position; and the leverage set at the venue before the first order.
//!
//! A venue joins by implementing [`PerpVenue`]; one line in a test file,
//! [`perp_venue_conformance!`](crate::perp_venue_conformance), runs the
//! checks.

mod venues;

use rust_decimal::Decimal;
use tradeplane_api::*;
use tradeplane_client::Client;

use super::{VenueUnderTest, serve};
use crate::{
    TestServer, create_pipeline, dec, deliver, example_pipeline, get_order, orders_of,
    perpetual_alert, place_order, resting_orders,
};

/// The canonical perpetual every venue trades in the kit.
pub const PERP: &str = "BTC/USDT:PERP";

/// An order as the venue holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtVenue {
    /// Whether the venue marks it reduce-only.
    pub reduce_only: bool,
    /// Whether it is still working (resting or untriggered).
    pub open: bool,
    /// A stop's trigger or a limit's price; `None` for a market order.
    pub price: Option<Decimal>,
}

/// A venue that trades [`PERP`].
pub trait PerpVenue: VenueUnderTest {
    /// The venue's net position in [`PERP`], in BTC (long above zero).
    fn position_at_venue(&self, client: &Client) -> impl Future<Output = Decimal>;
    /// The leverage last set at the venue for [`PERP`] and whether its
    /// margin is isolated; `None` before any was set.
    fn margin_at_venue(&self, client: &Client) -> impl Future<Output = Option<(u32, bool)>>;
    /// The venue's copy of `order`; `None` if it never reached the venue.
    fn at_venue(&self, client: &Client, order: &Order) -> impl Future<Output = Option<AtVenue>>;
}

/// A server on `V` with `examples/perp-futures.yaml` trading there.
async fn futures_pipeline_on<V: PerpVenue>(venue: &V) -> (TestServer, Client) {
    let server = serve(venue).await;
    let client = server.client().await;
    create_pipeline(
        &client,
        Pipeline {
            exchange: V::EXCHANGE.into(),
            ..example_pipeline("perp-futures.yaml")
        },
    )
    .await;
    (server, client)
}

/// Delivers a `BTCUSDT.P` alert at 50,000; it must succeed.
async fn run(server: &TestServer, client: &Client, action: &str) -> Execution {
    let execution = deliver(server, client, &perpetual_alert(action, "50000")).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{action}: {execution:?}"
    );
    execution
}

/// The book's open positions in [`PERP`] on `V`.
async fn booked<V: PerpVenue>(client: &Client) -> Vec<Position> {
    client
        .orders()
        .get_positions(GetPositionsRequest {
            exchange: V::EXCHANGE.into(),
            ..Default::default()
        })
        .await
        .expect("GetPositions answers")
        .into_inner()
        .positions
        .into_iter()
        .filter(|p| p.symbol == PERP && !dec(&p.quantity).is_zero())
        .collect()
}

/// The venue's copy of `order`, which must exist.
async fn held<V: PerpVenue>(venue: &V, client: &Client, order: &Order) -> AtVenue {
    venue
        .at_venue(client, order)
        .await
        .unwrap_or_else(|| panic!("the venue holds {order:?}"))
}

/// The price the book sent `order` at: a stop's trigger, a limit's price,
/// `None` for a market order.
pub fn sent_price(order: &Order) -> Option<Decimal> {
    [&order.stop_price, &order.price]
        .into_iter()
        .find(|p| !p.is_empty())
        .map(|p| dec(p))
}

/// When `order` reached `status` here, as (seconds, nanos).
fn reached(order: &Order, status: OrderStatus) -> (i64, i32) {
    order
        .transitions
        .iter()
        .find(|t| t.status == status as i32)
        .and_then(|t| t.time.as_ref())
        .map(|t| (t.seconds, t.nanos))
        .unwrap_or_else(|| panic!("{order:?} never reached {status:?}"))
}

/// Opens with `open` (`buy` or `sell`) and exits: between, the venue
/// holds `0.04` BTC that way with a reduce-only stop and target on the
/// right sides of the fill, in one group; the exit cancels that group
/// before it is placed, reduce-only, and ends flat at the venue and in
/// the book.
async fn round_trip<V: PerpVenue>(open: Side) {
    let venue = V::start().await;
    let (server, client) = futures_pipeline_on(&venue).await;
    let action = if open == Side::Buy { "buy" } else { "sell" };
    let entry = run(&server, &client, action).await;
    let [filled, stop, target]: [Order; 3] = orders_of(&client, &entry)
        .await
        .try_into()
        .expect("an entry and two legs");
    assert_eq!(filled.status, OrderStatus::Filled as i32, "{filled:?}");
    let long = open == Side::Buy;
    let size = if long { dec("0.04") } else { dec("-0.04") };
    assert_eq!(venue.position_at_venue(&client).await, size);
    let [position]: [Position; 1] = booked::<V>(&client).await.try_into().expect("one position");
    assert_eq!(dec(&position.quantity), size, "{position:?}");

    let fill = dec(&filled.average_fill_price);
    assert_eq!(
        (
            OrderRole::try_from(stop.role),
            OrderRole::try_from(target.role)
        ),
        (Ok(OrderRole::StopLoss), Ok(OrderRole::TakeProfit))
    );
    assert!(!stop.oco_group.is_empty(), "{stop:?}");
    assert_eq!(stop.oco_group, target.oco_group, "one group");
    let (stop_at, target_at) = (dec(&stop.stop_price), dec(&target.price));
    if long {
        assert!(stop_at < fill && fill < target_at, "{stop:?} {target:?}");
    } else {
        assert!(target_at < fill && fill < stop_at, "{stop:?} {target:?}");
    }
    for leg in [&stop, &target] {
        assert_ne!(leg.side, filled.side, "a leg closes: {leg:?}");
        assert_eq!(dec(&leg.quantity), dec("0.04"), "{leg:?}");
        assert!(leg.reduce_only, "{leg:?}");
        let at = held(&venue, &client, leg).await;
        assert_eq!(
            at,
            AtVenue {
                reduce_only: true,
                open: true,
                price: sent_price(leg),
            },
            "{leg:?}"
        );
    }

    let exit = run(&server, &client, "exit").await;
    let [closing]: [Order; 1] = orders_of(&client, &exit)
        .await
        .try_into()
        .expect("one exit order");
    assert_eq!(closing.status, OrderStatus::Filled as i32, "{closing:?}");
    assert!(closing.reduce_only, "{closing:?}");
    assert!(held(&venue, &client, &closing).await.reduce_only);
    for leg in [&stop, &target] {
        let canceled = get_order(&client, &leg.id).await;
        assert_eq!(
            canceled.status,
            OrderStatus::Canceled as i32,
            "{canceled:?}"
        );
        assert!(
            reached(&canceled, OrderStatus::Canceled) <= reached(&closing, OrderStatus::New),
            "the group is canceled before the exit is placed: {canceled:?} {closing:?}"
        );
        assert!(!held(&venue, &client, leg).await.open, "{leg:?}");
    }
    assert!(
        venue.position_at_venue(&client).await.is_zero(),
        "flat at the venue"
    );
    assert!(booked::<V>(&client).await.is_empty(), "flat in the book");
    assert!(resting_orders(&client).await.is_empty(), "nothing works on");
    server.stop().await;
}

/// A long: a buy opens it with a reduce-only stop and target in one
/// group; the exit cancels the group first and closes it flat.
pub async fn a_long_is_protected_reduce_only_in_one_group_and_exits_flat<V: PerpVenue>() {
    round_trip::<V>(Side::Buy).await;
}

/// A short: a sell with no position opens it, the stop above and the
/// target below; the exit buys it back flat.
pub async fn a_short_sells_then_exits_flat<V: PerpVenue>() {
    round_trip::<V>(Side::Sell).await;
}

/// A reduce-only market sell of `quantity` on [`PERP`] at `V`.
fn reduce_only_sell<V: PerpVenue>(request_id: &str, quantity: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        request_id: request_id.into(),
        exchange: V::EXCHANGE.into(),
        symbol: PERP.into(),
        side: Side::Sell as i32,
        r#type: OrderType::Market as i32,
        quantity: quantity.into(),
        reference_price: "50000".into(),
        reduce_only: true,
        ..Default::default()
    }
}

/// A reduce-only sell of 0.05 against the pipeline's 0.04 long (opened
/// without protection) is refused, or cut to the position by the venue:
/// it never turns the long into a short, at the venue or in the book.
pub async fn a_reduce_only_exit_bigger_than_the_position_never_flips_it<V: PerpVenue>() {
    let venue = V::start().await;
    let server = serve(&venue).await;
    let client = server.client().await;
    let mut pipeline = example_pipeline("perp-futures.yaml");
    pipeline.exchange = V::EXCHANGE.into();
    let order = pipeline.order.as_mut().expect("order settings");
    (order.stop_loss, order.take_profit) = (None, None);
    create_pipeline(&client, pipeline).await;
    run(&server, &client, "buy").await;
    assert_eq!(venue.position_at_venue(&client).await, dec("0.04"));

    let oversized = place_order(&client, reduce_only_sell::<V>("over", "0.05")).await;
    assert!(
        [OrderStatus::Rejected as i32, OrderStatus::Filled as i32].contains(&oversized.status),
        "{oversized:?}"
    );
    assert!(
        dec(&oversized.filled_quantity) <= dec("0.04"),
        "{oversized:?}"
    );
    let left = venue.position_at_venue(&client).await;
    assert!(left >= Decimal::ZERO, "flipped at the venue: {left}");
    let in_book = booked::<V>(&client).await;
    assert!(
        in_book.iter().all(|p| dec(&p.quantity) > Decimal::ZERO),
        "flipped in the book: {in_book:?}"
    );
    if !left.is_zero() {
        let rest = place_order(&client, reduce_only_sell::<V>("rest", &left.to_string())).await;
        assert_eq!(rest.status, OrderStatus::Filled as i32, "{rest:?}");
    }
    assert!(
        venue.position_at_venue(&client).await.is_zero(),
        "flat at the venue"
    );
    assert!(booked::<V>(&client).await.is_empty(), "flat in the book");
    server.stop().await;
}

/// The pipeline's 5x isolated is set at the venue before its first
/// order: nothing was set before the signal, and the position the entry
/// opened trades at it.
pub async fn leverage_is_set_at_the_venue_before_the_first_order<V: PerpVenue>() {
    let venue = V::start().await;
    let (server, client) = futures_pipeline_on(&venue).await;
    assert_ne!(
        venue.margin_at_venue(&client).await,
        Some((5, true)),
        "not set yet"
    );
    run(&server, &client, "buy").await;
    assert_eq!(
        venue.margin_at_venue(&client).await,
        Some((5, true)),
        "5x isolated"
    );
    let [position]: [Position; 1] = booked::<V>(&client).await.try_into().expect("one position");
    assert_eq!(
        (position.leverage, position.margin_mode),
        (5, MarginMode::Isolated as i32),
        "{position:?}"
    );
    server.stop().await;
}

//! The connector conformance kit: one behaviour suite, written once, that
//! every exchange connector passes through the real server.
//!
//! A venue joins by implementing [`VenueUnderTest`] (every venue, the
//! embedded paper exchange included) and, for a remote venue whose mock
//! runs on the shared fault core, [`MockedVenue`]; then one line in a test
//! file runs the suite: [`venue_conformance!`] for the behaviour,
//! [`mocked_venue_conformance!`] for the behaviour plus the fault matrix,
//! signatures, the clock and reconciliation after a crash.
//!
//! Every crypto venue lists BTC/USDT (or its perpetual) at 50,000 with a
//! 0.01 tick, a 0.00001 lot and a minimum notional of 5, in an account
//! holding 100,000 USDT (and 1 BTC on spot), so that the same figures hold
//! everywhere. A venue whose market starts at another price (a stock)
//! says so in [`VenueUnderTest::MARKET_PRICE`]: the suite's prices,
//! written for 50,000, scale with it ([`price`]), its quantities do not.

mod alpaca;
mod attached;
mod behaviour;
mod bybit;
mod faults;
mod okx;
mod perps;
mod venues;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

pub use self::bybit::BybitLinear;
pub use self::{attached::*, behaviour::*, faults::*, venues::Paper};
use crate::mock_venue::{Fault, Route};

/// A venue the suite trades on through the server.
pub trait VenueUnderTest: Sized {
    /// The exchange name the server lists it under.
    const EXCHANGE: &'static str;
    /// The connector kind `ListExchanges` reports.
    const KIND: &'static str;
    /// The instrument the suite trades: the spot pair, or the perpetual
    /// on a venue that trades perpetuals only.
    const SYMBOL: &'static str = "BTC/USDT";
    /// The price [`VenueUnderTest::SYMBOL`]'s market starts at, in its
    /// quote asset: 50,000 for BTC/USDT.
    const MARKET_PRICE: &'static str = "50000";
    /// Whether the connector places a spot bracket's legs (the suite's
    /// bracket holds a fraction of a unit) as one native
    /// one-cancels-the-other group; one that cannot must refuse the
    /// bracket by name (`unsupported_oco`) rather than lock the base
    /// asset twice.
    const SPOT_BRACKETS: bool = true;
    /// What the venue does with exits attached to an entry
    /// (`order.attach_exits`).
    const ATTACHED_EXITS: Attached = Attached::No;
    /// Starts the venue with the market and account above.
    fn start() -> impl Future<Output = Self>;
    /// Points a server configuration at the venue, with short timeouts,
    /// receive window and sync interval so that faults settle fast.
    fn configure(&self, config: &mut Config);
    /// Moves the market of [`VenueUnderTest::SYMBOL`]: resting orders it
    /// crosses fill.
    fn move_market(&self, client: &Client, price: &str) -> impl Future<Output = ()>;
}

/// A remote venue's mock on the shared fault core.
pub trait MockedVenue: VenueUnderTest {
    /// Queues a fault for the next request on `route`.
    fn fail_next(&self, route: Route, fault: Fault);
    /// How many orders the venue ever accepted under `client_order_id`.
    fn orders_with_client_id(&self, client_order_id: &str) -> usize;
    /// How many orders the venue ever accepted.
    fn order_count(&self) -> usize;
    /// Whether the venue's latest order under `client_order_id` is open.
    fn open_at_venue(&self, client_order_id: &str) -> bool;
    /// Sets how far the venue's clock runs ahead of ours, in ms. A venue
    /// that stamps no request (Alpaca authenticates with a bare key pair)
    /// refuses none for it: its mock only offsets the time its clock
    /// endpoint reports, and `learns_the_venues_clock` then shows that
    /// orders fill and nothing is refused whatever the offset.
    fn set_clock_offset(&self, ms: i64);
    /// Signed requests the venue refused (bad key, signature or time).
    fn refused_signatures(&self) -> u64;
    /// Like [`VenueUnderTest::configure`], with a secret the venue does
    /// not know, so that every signature is wrong.
    fn configure_wrong_secret(&self, config: &mut Config);
    /// The environment a server process needs to trade on the venue,
    /// answering slowly requests for a minute before giving up.
    fn env(&self) -> Vec<(String, String)>;
    /// Credentials that must never reach a log, a metric or the audit.
    fn secrets(&self) -> Vec<String>;
}

/// `figure`, a price written for the suite's BTC/USDT market at 50,000,
/// in `V`'s market: scaled by `V::MARKET_PRICE / 50000`.
pub fn price<V: VenueUnderTest>(figure: &str) -> String {
    let scale = crate::dec(V::MARKET_PRICE) / crate::dec("50000");
    (crate::dec(figure) * scale).normalize().to_string()
}

/// Runs the behaviour suite against a venue: one test per behaviour.
#[macro_export]
macro_rules! venue_conformance {
    ($venue:ty) => {
        $crate::conformance_tests!(
            $venue:
            places_fills_and_looks_up,
            a_resting_order_fills_when_the_market_crosses_it,
            cancels_a_resting_order,
            rounds_to_the_instruments_rules,
            refuses_what_its_rules_refuse,
            a_bracket_is_one_linked_group
        );
    };
}

/// Runs the behaviour suite and the mocked venue's own checks.
#[macro_export]
macro_rules! mocked_venue_conformance {
    ($venue:ty) => {
        $crate::venue_conformance!($venue);
        $crate::conformance_tests!(
            $venue:
            every_fault_ends_with_exactly_one_order,
            a_lookup_that_fails_settles_later,
            a_ban_stops_orders_at_once,
            signs_every_request_the_venue_way,
            learns_the_venues_clock,
            a_crash_mid_placement_is_reconciled_at_restart,
            credentials_never_reach_logs_metrics_or_audit
        );
        $crate::attached_exits_conformance!($venue);
    };
}

/// Runs the attached-exits checks against a mocked venue (part of
/// [`mocked_venue_conformance!`]; on its own for a venue's perpetual
/// market).
#[macro_export]
macro_rules! attached_exits_conformance {
    ($venue:ty) => {
        $crate::conformance_tests!(
            $venue:
            attached_exits_are_adopted_and_linked,
            an_exit_cancels_attached_exits_first
        );
    };
}

/// One `#[tokio::test]` per suite function, named after it.
#[macro_export]
macro_rules! conformance_tests {
    ($venue:ty: $($check:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check::<$venue>().await;
            }
        )+
    };
}

pub use self::perps::*;

/// Runs the perpetual checks against a venue that trades
/// [`PERP`](perps::PERP): one test per check.
#[macro_export]
macro_rules! perp_venue_conformance {
    ($venue:ty) => {
        $crate::conformance_tests!(
            $venue:
            a_long_is_protected_reduce_only_in_one_group_and_exits_flat,
            a_short_sells_then_exits_flat,
            a_reduce_only_exit_bigger_than_the_position_never_flips_it,
            leverage_is_set_at_the_venue_before_the_first_order
        );
    };
}

//! Bybit in the conformance kit, through its mock on the shared fault
//! core: spot ([`MockBybit`] itself), and the USDT perpetuals (category
//! `linear`) as [`BybitLinear`] for the checks that trade
//! [`VenueUnderTest::SYMBOL`], such as the attached exits (TP/SL on the
//! position).

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{Attached, MockedVenue, PERP, VenueUnderTest};
use crate::{
    dec,
    mock_bybit::{API_KEY, API_SECRET, MockBybit},
    mock_venue::{Fault, Route},
};

/// The Bybit mock, trading its linear perpetual in the kit.
pub struct BybitLinear(pub MockBybit);

/// The kit's view of a Bybit mock: `$venue` trades `$symbol`, attaches
/// exits as `$attached` says, and `|$me| $mock` reaches its mock.
macro_rules! bybit_venue {
    ($venue:ty, $symbol:expr, $attached:expr, $start:expr, |$me:ident| $mock:expr) => {
        impl VenueUnderTest for $venue {
            const EXCHANGE: &'static str = "bybit";
            const KIND: &'static str = "bybit";
            const SYMBOL: &'static str = $symbol;
            const SPOT_BRACKETS: bool = false;
            const ATTACHED_EXITS: Attached = $attached;

            async fn start() -> Self {
                $start
            }

            fn configure(&self, config: &mut Config) {
                let $me = self;
                MockBybit::configure($mock, config);
                let bybit = &mut config.exchanges.bybit;
                bybit.recv_window = Duration::from_secs(1);
                bybit.request_timeout = Duration::from_secs(1);
                bybit.max_retry_wait = Duration::from_secs(2);
                config.exchanges.sync_interval = Duration::from_millis(200);
            }

            async fn move_market(&self, _client: &Client, price: &str) {
                let $me = self;
                $mock.set_price("BTCUSDT", dec(price));
            }
        }

        impl MockedVenue for $venue {
            fn fail_next(&self, route: Route, fault: Fault) {
                let $me = self;
                MockBybit::fail_next($mock, route, fault);
            }

            fn orders_with_client_id(&self, client_order_id: &str) -> usize {
                let $me = self;
                MockBybit::orders_with_client_id($mock, client_order_id)
            }

            fn order_count(&self) -> usize {
                let $me = self;
                $mock.orders().len()
            }

            fn open_at_venue(&self, client_order_id: &str) -> bool {
                let $me = self;
                $mock
                    .order(client_order_id)
                    .is_some_and(|o| matches!(o.status, "New" | "PartiallyFilled" | "Untriggered"))
            }

            fn set_clock_offset(&self, ms: i64) {
                let $me = self;
                MockBybit::set_clock_offset($mock, ms);
            }

            fn refused_signatures(&self) -> u64 {
                let $me = self;
                MockBybit::refused_signatures($mock)
            }

            fn configure_wrong_secret(&self, config: &mut Config) {
                VenueUnderTest::configure(self, config);
                config.exchanges.bybit.api_secret = "not-the-secret".into();
            }

            fn env(&self) -> Vec<(String, String)> {
                let $me = self;
                [
                    ("TRADEPLANE_EXCHANGES__BYBIT__ENABLED", "true"),
                    ("TRADEPLANE_EXCHANGES__BYBIT__BASE_URL", $mock.url.as_str()),
                    ("TRADEPLANE_EXCHANGES__BYBIT__REQUEST_TIMEOUT", "60s"),
                    ("TRADEPLANE_EXCHANGES__BYBIT__API_KEY", API_KEY),
                    ("TRADEPLANE_EXCHANGES__BYBIT__API_SECRET", API_SECRET),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .to_vec()
            }

            fn secrets(&self) -> Vec<String> {
                vec![API_KEY.into(), API_SECRET.into()]
            }
        }
    };
}

// Spot: Bybit attaches exits on its perpetuals only.
bybit_venue!(
    MockBybit,
    "BTC/USDT",
    Attached::NotOn,
    MockBybit::start().await,
    |me| me
);
// Linear: the exits are the position's TP/SL.
bybit_venue!(
    BybitLinear,
    PERP,
    Attached::Yes,
    BybitLinear(MockBybit::start().await),
    |me| &me.0
);

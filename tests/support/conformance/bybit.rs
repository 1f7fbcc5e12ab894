//! Bybit (spot) in the conformance kit, through its mock on the shared
//! fault core.

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{MockedVenue, VenueUnderTest};
use crate::{
    dec,
    mock_bybit::{API_KEY, API_SECRET, MockBybit},
    mock_venue::{Fault, Route},
};

impl VenueUnderTest for MockBybit {
    const EXCHANGE: &'static str = "bybit";
    const KIND: &'static str = "bybit";
    const SPOT_BRACKETS: bool = false;

    async fn start() -> Self {
        MockBybit::start().await
    }

    fn configure(&self, config: &mut Config) {
        MockBybit::configure(self, config);
        let bybit = &mut config.exchanges.bybit;
        bybit.recv_window = Duration::from_secs(1);
        bybit.request_timeout = Duration::from_secs(1);
        bybit.max_retry_wait = Duration::from_secs(2);
        config.exchanges.sync_interval = Duration::from_millis(200);
    }

    async fn move_market(&self, _client: &Client, price: &str) {
        self.set_price("BTCUSDT", dec(price));
    }
}

impl MockedVenue for MockBybit {
    fn fail_next(&self, route: Route, fault: Fault) {
        MockBybit::fail_next(self, route, fault);
    }

    fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        MockBybit::orders_with_client_id(self, client_order_id)
    }

    fn order_count(&self) -> usize {
        self.orders().len()
    }

    fn open_at_venue(&self, client_order_id: &str) -> bool {
        self.order(client_order_id)
            .is_some_and(|o| matches!(o.status, "New" | "PartiallyFilled" | "Untriggered"))
    }

    fn set_clock_offset(&self, ms: i64) {
        MockBybit::set_clock_offset(self, ms);
    }

    fn refused_signatures(&self) -> u64 {
        MockBybit::refused_signatures(self)
    }

    fn configure_wrong_secret(&self, config: &mut Config) {
        VenueUnderTest::configure(self, config);
        config.exchanges.bybit.api_secret = "not-the-secret".into();
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("TRADEPLANE_EXCHANGES__BYBIT__ENABLED", "true"),
            ("TRADEPLANE_EXCHANGES__BYBIT__BASE_URL", self.url.as_str()),
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

//! The venues the kit knows: the embedded paper exchange and the mocks.

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{MockedVenue, VenueUnderTest};
use crate::{
    dec, market_at,
    mock_binance::{API_KEY, API_SECRET, MockBinance},
    mock_venue::{Fault, Route},
};

/// The embedded paper exchange: nothing to start, its market moves with
/// the prices signals carry.
pub struct Paper;

impl VenueUnderTest for Paper {
    const EXCHANGE: &'static str = "paper";
    const KIND: &'static str = "paper";

    async fn start() -> Self {
        Paper
    }

    fn configure(&self, _config: &mut Config) {}

    async fn move_market(&self, client: &Client, price: &str) {
        market_at(client, price).await;
    }
}

impl VenueUnderTest for MockBinance {
    const EXCHANGE: &'static str = "binance";
    const KIND: &'static str = "binance";

    async fn start() -> Self {
        MockBinance::start().await
    }

    fn configure(&self, config: &mut Config) {
        MockBinance::configure(self, config);
        let binance = &mut config.exchanges.binance;
        binance.recv_window = Duration::from_secs(1);
        binance.request_timeout = Duration::from_secs(1);
        binance.max_retry_wait = Duration::from_secs(2);
        binance.sync_interval = Duration::from_millis(200);
    }

    async fn move_market(&self, _client: &Client, price: &str) {
        self.set_price("BTCUSDT", dec(price));
    }
}

impl MockedVenue for MockBinance {
    fn fail_next(&self, route: Route, fault: Fault) {
        MockBinance::fail_next(self, route, fault);
    }

    fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        MockBinance::orders_with_client_id(self, client_order_id)
    }

    fn order_count(&self) -> usize {
        self.orders().len()
    }

    fn open_at_venue(&self, client_order_id: &str) -> bool {
        self.order(client_order_id)
            .is_some_and(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
    }

    fn set_clock_offset(&self, ms: i64) {
        MockBinance::set_clock_offset(self, ms);
    }

    fn refused_signatures(&self) -> u64 {
        MockBinance::refused_signatures(self)
    }

    fn configure_wrong_secret(&self, config: &mut Config) {
        VenueUnderTest::configure(self, config);
        config.exchanges.binance.api_secret = "not-the-secret".into();
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("TRADEPLANE_EXCHANGES__BINANCE__ENABLED", "true"),
            ("TRADEPLANE_EXCHANGES__BINANCE__BASE_URL", self.url.as_str()),
            ("TRADEPLANE_EXCHANGES__BINANCE__REQUEST_TIMEOUT", "60s"),
            ("TRADEPLANE_BINANCE_API_KEY", API_KEY),
            ("TRADEPLANE_BINANCE_API_SECRET", API_SECRET),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    fn secrets(&self) -> Vec<String> {
        vec![API_KEY.into(), API_SECRET.into()]
    }
}

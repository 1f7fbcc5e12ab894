//! The venues the kit knows: the embedded paper exchange and the mocks.

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{MockedVenue, VenueUnderTest};
use crate::{
    dec, market_at,
    mock_binance::{API_KEY, API_SECRET, MockBinance},
    mock_binance_futures::MockBinanceFutures,
    mock_venue::{Fault, Route},
};

/// The kit's view of a Binance mock: `$mock` stands in for the exchange
/// `$name`, configured by `exchanges.$section`, trading `$symbol`.
macro_rules! binance_mock {
    ($mock:ty, $name:literal, $section:ident, $symbol:literal) => {
        impl VenueUnderTest for $mock {
            const EXCHANGE: &'static str = $name;
            const KIND: &'static str = $name;
            const SYMBOL: &'static str = $symbol;

            async fn start() -> Self {
                <$mock>::start().await
            }

            fn configure(&self, config: &mut Config) {
                let section = &mut config.exchanges.$section;
                section.enabled = true;
                section.base_url = self.url.clone();
                section.api_key = API_KEY.into();
                section.api_secret = API_SECRET.into();
                section.recv_window = Duration::from_secs(1);
                section.request_timeout = Duration::from_secs(1);
                section.max_retry_wait = Duration::from_secs(2);
                config.exchanges.sync_interval = Duration::from_millis(200);
            }

            async fn move_market(&self, _client: &Client, price: &str) {
                self.set_price("BTCUSDT", dec(price));
            }
        }

        impl MockedVenue for $mock {
            fn fail_next(&self, route: Route, fault: Fault) {
                <$mock>::fail_next(self, route, fault);
            }

            fn orders_with_client_id(&self, client_order_id: &str) -> usize {
                <$mock>::orders_with_client_id(self, client_order_id)
            }

            fn order_count(&self) -> usize {
                self.orders().len()
            }

            fn open_at_venue(&self, client_order_id: &str) -> bool {
                self.order(client_order_id)
                    .is_some_and(|o| matches!(o.status, "NEW" | "PARTIALLY_FILLED"))
            }

            fn set_clock_offset(&self, ms: i64) {
                <$mock>::set_clock_offset(self, ms);
            }

            fn refused_signatures(&self) -> u64 {
                <$mock>::refused_signatures(self)
            }

            fn configure_wrong_secret(&self, config: &mut Config) {
                VenueUnderTest::configure(self, config);
                config.exchanges.$section.api_secret = "not-the-secret".into();
            }

            fn env(&self) -> Vec<(String, String)> {
                let prefix = format!("TRADEPLANE_EXCHANGES__{}", $name.to_uppercase());
                [
                    ("ENABLED", "true"),
                    ("BASE_URL", self.url.as_str()),
                    ("REQUEST_TIMEOUT", "60s"),
                    ("API_KEY", API_KEY),
                    ("API_SECRET", API_SECRET),
                ]
                .map(|(key, value)| (format!("{prefix}__{key}"), value.to_string()))
                .to_vec()
            }

            fn secrets(&self) -> Vec<String> {
                vec![API_KEY.into(), API_SECRET.into()]
            }
        }
    };
}

binance_mock!(MockBinance, "binance", binance, "BTC/USDT");
binance_mock!(
    MockBinanceFutures,
    "binance_usdm",
    binance_usdm,
    "BTC/USDT:PERP"
);

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

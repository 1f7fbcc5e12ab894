//! Alpaca (US equities) in the conformance kit, through its mock on the
//! shared fault core: the suite trades AAPL at 2,000 (its prices scaled
//! from 50,000); its bracket, one whole share, is one native OCO order,
//! and its attached exits one bracket order.

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{Attached, MockedVenue, VenueUnderTest};
use crate::{
    dec,
    mock_alpaca::{API_KEY, API_SECRET, MockAlpaca},
    mock_venue::{Fault, Route},
};

impl VenueUnderTest for MockAlpaca {
    const EXCHANGE: &'static str = "alpaca";
    const KIND: &'static str = "alpaca";
    const SYMBOL: &'static str = "NASDAQ:AAPL";
    const MARKET_PRICE: &'static str = "2000";
    const ATTACHED_EXITS: Attached = Attached::Yes;

    async fn start() -> Self {
        MockAlpaca::start().await
    }

    fn configure(&self, config: &mut Config) {
        MockAlpaca::configure(self, config);
        let alpaca = &mut config.exchanges.alpaca;
        alpaca.request_timeout = Duration::from_secs(1);
        alpaca.max_retry_wait = Duration::from_secs(2);
        config.exchanges.sync_interval = Duration::from_millis(200);
    }

    async fn move_market(&self, _client: &Client, price: &str) {
        self.set_price("AAPL", dec(price));
    }
}

impl MockedVenue for MockAlpaca {
    fn fail_next(&self, route: Route, fault: Fault) {
        MockAlpaca::fail_next(self, route, fault);
    }

    fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        MockAlpaca::orders_with_client_id(self, client_order_id)
    }

    fn order_count(&self) -> usize {
        self.orders().len()
    }

    fn open_at_venue(&self, client_order_id: &str) -> bool {
        self.order(client_order_id)
            .is_some_and(|o| matches!(o.status, "new" | "accepted" | "partially_filled"))
    }

    fn set_clock_offset(&self, ms: i64) {
        MockAlpaca::set_clock_offset(self, ms);
    }

    fn refused_signatures(&self) -> u64 {
        MockAlpaca::refused_signatures(self)
    }

    fn configure_wrong_secret(&self, config: &mut Config) {
        VenueUnderTest::configure(self, config);
        config.exchanges.alpaca.api_secret = "not-the-secret".into();
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("TRADEPLANE_EXCHANGES__ALPACA__ENABLED", "true"),
            ("TRADEPLANE_EXCHANGES__ALPACA__BASE_URL", self.url.as_str()),
            ("TRADEPLANE_EXCHANGES__ALPACA__DATA_URL", self.url.as_str()),
            ("TRADEPLANE_EXCHANGES__ALPACA__REQUEST_TIMEOUT", "60s"),
            ("TRADEPLANE_EXCHANGES__ALPACA__API_KEY", API_KEY),
            ("TRADEPLANE_EXCHANGES__ALPACA__API_SECRET", API_SECRET),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    fn secrets(&self) -> Vec<String> {
        vec![API_KEY.into(), API_SECRET.into()]
    }
}

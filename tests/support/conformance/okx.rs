//! OKX in the kit, through its mock on the shared fault core.

use std::time::Duration;

use tradeplane_client::Client;
use tradeplane_server::config::Config;

use super::{Attached, MockedVenue, VenueUnderTest};
use crate::{
    dec,
    mock_okx::{API_KEY, API_SECRET, MockOkx, PASSPHRASE, venue_client_id},
    mock_venue::{Fault, Route},
};

impl VenueUnderTest for MockOkx {
    const EXCHANGE: &'static str = "okx";
    const KIND: &'static str = "okx";
    const ATTACHED_EXITS: Attached = Attached::Yes;

    async fn start() -> Self {
        MockOkx::start().await
    }

    fn configure(&self, config: &mut Config) {
        MockOkx::configure(self, config);
        let okx = &mut config.exchanges.okx;
        okx.recv_window = Duration::from_secs(1);
        okx.request_timeout = Duration::from_secs(1);
        okx.max_retry_wait = Duration::from_secs(2);
        config.exchanges.sync_interval = Duration::from_millis(200);
    }

    async fn move_market(&self, _client: &Client, price: &str) {
        self.set_price("BTC-USDT", dec(price));
    }
}

impl MockedVenue for MockOkx {
    fn fail_next(&self, route: Route, fault: Fault) {
        MockOkx::fail_next(self, route, fault);
    }

    fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        MockOkx::orders_with_client_id(self, venue_client_id(client_order_id))
    }

    fn order_count(&self) -> usize {
        self.orders().len()
    }

    fn open_at_venue(&self, client_order_id: &str) -> bool {
        self.order(venue_client_id(client_order_id))
            .is_some_and(|o| matches!(o.state, "live" | "partially_filled"))
    }

    fn set_clock_offset(&self, ms: i64) {
        MockOkx::set_clock_offset(self, ms);
    }

    fn refused_signatures(&self) -> u64 {
        MockOkx::refused_signatures(self)
    }

    fn configure_wrong_secret(&self, config: &mut Config) {
        VenueUnderTest::configure(self, config);
        config.exchanges.okx.api_secret = "not-the-secret".into();
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("TRADEPLANE_EXCHANGES__OKX__ENABLED", "true"),
            ("TRADEPLANE_EXCHANGES__OKX__BASE_URL", self.url.as_str()),
            ("TRADEPLANE_EXCHANGES__OKX__REQUEST_TIMEOUT", "60s"),
            ("TRADEPLANE_EXCHANGES__OKX__API_KEY", API_KEY),
            ("TRADEPLANE_EXCHANGES__OKX__API_SECRET", API_SECRET),
            ("TRADEPLANE_EXCHANGES__OKX__PASSPHRASE", PASSPHRASE),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    fn secrets(&self) -> Vec<String> {
        vec![API_KEY.into(), API_SECRET.into(), PASSPHRASE.into()]
    }
}

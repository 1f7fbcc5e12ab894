//! A server trading on the Alpaca mock with one pipeline, and the
//! TradingView stock alerts the Alpaca tests send it.

use std::time::Duration;

use serde_json::{Value, json};
use tradeplane_api::Pipeline;
use tradeplane_client::Client;

use super::MockAlpaca;
use crate::{PASSPHRASE, TestServer, create_pipeline};

/// A server on a new mock (its market clock read afresh every time,
/// orders synced every 200 ms) with `pipeline`.
pub async fn on_mock_alpaca(pipeline: Pipeline) -> (MockAlpaca, TestServer, Client) {
    let mock = MockAlpaca::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.alpaca.clock_ttl = Duration::from_millis(1);
        config.exchanges.sync_interval = Duration::from_millis(200);
    })
    .await;
    let client = server.client().await;
    create_pipeline(&client, pipeline).await;
    (mock, server, client)
}

/// A TradingView alert for `ticker` on NASDAQ at 2,000.
pub fn stock_alert(ticker: &str, action: &str) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": ticker,
        "exchange": "NASDAQ",
        "action": action,
        "price": "2000",
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

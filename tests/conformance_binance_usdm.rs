//! The connector conformance kit against Binance USDⓈ-M futures, through
//! its mock on the shared fault core, trading the BTCUSDT perpetual.

tradeplane_e2e::mocked_venue_conformance!(tradeplane_e2e::mock_binance_futures::MockBinanceFutures);

//! The connector conformance kit against Binance USDⓈ-M futures, through
//! its mock on the shared fault core, trading the BTCUSDT perpetual: the
//! shared behaviour, every fault, and the perpetual checks.

tradeplane_e2e::mocked_venue_conformance!(tradeplane_e2e::mock_binance_futures::MockBinanceFutures);
tradeplane_e2e::perp_venue_conformance!(tradeplane_e2e::mock_binance_futures::MockBinanceFutures);

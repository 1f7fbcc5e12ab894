//! The conformance kit's perpetual checks against Bybit's USDT
//! perpetuals (category `linear`), through its mock.

tradeplane_e2e::perp_venue_conformance!(tradeplane_e2e::mock_bybit::MockBybit);

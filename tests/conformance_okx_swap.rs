//! The conformance kit's perpetual checks against OKX's `BTC-USDT-SWAP`,
//! through its mock.

tradeplane_e2e::perp_venue_conformance!(tradeplane_e2e::mock_okx::MockOkx);

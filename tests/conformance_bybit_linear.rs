//! The conformance kit's perpetual checks against Bybit's USDT
//! perpetuals (category `linear`), through its mock, and the attached
//! exits (TP/SL on the position).

tradeplane_e2e::perp_venue_conformance!(tradeplane_e2e::mock_bybit::MockBybit);
tradeplane_e2e::attached_exits_conformance!(tradeplane_e2e::conformance::BybitLinear);

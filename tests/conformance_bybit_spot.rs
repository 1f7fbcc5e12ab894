//! The connector conformance kit against Bybit spot, through its mock on
//! the shared fault core: the shared behaviour (a bracket refused by name,
//! as Bybit spot has no one-cancels-the-other order), every fault, bans,
//! signatures, the clock and reconciliation after a crash.

tradeplane_e2e::mocked_venue_conformance!(tradeplane_e2e::mock_bybit::MockBybit);

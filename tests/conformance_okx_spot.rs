//! The connector conformance kit against OKX spot, through its mock on
//! the shared fault core: the shared behaviour, every fault, bans,
//! signatures, the clock and reconciliation after a crash.

tradeplane_e2e::mocked_venue_conformance!(tradeplane_e2e::mock_okx::MockOkx);

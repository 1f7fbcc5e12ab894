//! The connector conformance kit against Alpaca (US equities), through its
//! mock on the shared fault core: the shared behaviour on AAPL (the
//! suite's fractional bracket refused by name, as Alpaca's OCO orders take
//! whole shares), every fault, a blocked account, the key pair, the clock
//! and reconciliation after a crash.

tradeplane_e2e::mocked_venue_conformance!(tradeplane_e2e::mock_alpaca::MockAlpaca);

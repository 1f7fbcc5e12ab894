//! The connector conformance kit against the embedded paper exchange:
//! the behaviour every venue shares (paper has no network to fault), and
//! the perpetual checks.

tradeplane_e2e::venue_conformance!(tradeplane_e2e::conformance::Paper);
tradeplane_e2e::perp_venue_conformance!(tradeplane_e2e::conformance::Paper);

//! The connector conformance kit against the embedded paper exchange:
//! the behaviour every venue shares (paper has no network to fault).

tradeplane_e2e::venue_conformance!(tradeplane_e2e::conformance::Paper);

//! A tradable instrument in canonical form.

use crate::words::word_enum;

word_enum! {
    /// What kind of contract an instrument is.
    pub enum InstrumentKind {
        Spot => "spot",
        Perpetual => "perpetual",
        Future => "future",
        /// A listed stock, quoted in USD.
        Equity => "equity",
    }
}

/// One instrument: `BINANCE:BTC/USDT` is venue `BINANCE`, base `BTC`,
/// quote `USDT`, spot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instrument {
    /// The venue the symbol named, upper case; empty when it named none.
    pub venue: String,
    pub base: String,
    /// Empty for continuous futures such as `NQ1!`.
    pub quote: String,
    pub kind: InstrumentKind,
    /// Canonical symbol: `BTC/USDT`, `BTC/USDT:PERP`, `NQ1!`, `AAPL`.
    pub symbol: String,
}

impl Instrument {
    /// A spot pair `BASE/QUOTE` on no particular venue.
    pub fn spot(base: &str, quote: &str) -> Self {
        Self {
            venue: String::new(),
            base: base.to_string(),
            quote: quote.to_string(),
            kind: InstrumentKind::Spot,
            symbol: format!("{base}/{quote}"),
        }
    }
}

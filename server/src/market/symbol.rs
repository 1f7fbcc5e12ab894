//! Symbol normalization: every common spelling of an instrument
//! (`BINANCE:BTCUSDT`, `BTCUSDT.P`, `BTC/USDT`, `BTC-USD`, `btcusdt`, `NQ1!`,
//! `NASDAQ:AAPL`) becomes one canonical [`Instrument`].

use std::collections::HashMap;

use super::instrument::{Instrument, InstrumentKind};

/// Quote assets recognized at the end of a concatenated symbol such as
/// `BTCUSDT`, longest first so that `USDT` wins over `USD`.
const KNOWN_QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "USD", "EUR", "GBP", "JPY", "TRY", "BRL",
    "AUD", "DAI", "BTC", "ETH", "BNB",
];

/// Stock exchanges as TradingView's `{{exchange}}` names them: a ticker
/// on one of them is a US equity quoted in USD.
const STOCK_EXCHANGES: &[&str] = &[
    "NASDAQ",
    "NYSE",
    "AMEX",
    "ARCA",
    "BATS",
    "NYSEARCA",
    "NYSEAMERICAN",
    "NYSEMKT",
    "CBOE",
    "IEX",
    "OTC",
];
/// The quote currency of every equity.
const EQUITY_QUOTE: &str = "USD";
/// Longest accepted stock ticker, share class included (`BRK.B`).
const MAX_TICKER_LEN: usize = 10;
/// Longest accepted raw symbol.
const MAX_SYMBOL_LEN: usize = 64;
/// Longest accepted asset code.
const MAX_ASSET_LEN: usize = 20;

/// Turns raw symbols into canonical instruments, with an operator-supplied
/// map of extra spellings.
#[derive(Debug, Clone, Default)]
pub struct SymbolNormalizer {
    overrides: HashMap<String, Instrument>,
}

impl SymbolNormalizer {
    /// Builds a normalizer; `symbol_map` maps raw spellings (any case) to
    /// canonical targets such as `"BINANCE:BTC/USDT"` or `"BTC/USDT:PERP"`.
    pub fn new<'a>(
        symbol_map: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, String> {
        let mut overrides = HashMap::new();
        for (raw, canonical) in symbol_map {
            overrides.insert(raw.trim().to_uppercase(), parse_canonical(canonical)?);
        }
        Ok(Self { overrides })
    }

    /// Normalizes `raw`; `venue_hint` (TradingView's `{{exchange}}`) is used
    /// when the symbol carries no `VENUE:` prefix. A ticker on a stock
    /// exchange (`NASDAQ:AAPL`, or `AAPL` with the hint `NASDAQ`) is an
    /// equity.
    pub fn normalize(&self, raw: &str, venue_hint: &str) -> Result<Instrument, String> {
        self.normalize_with(raw, venue_hint, false)
    }

    /// Normalizes a symbol for a venue that trades `venue_kinds`: at a
    /// broker that trades stocks only, a bare ticker such as `AAPL` (an
    /// equity's canonical symbol) is a US equity too, while a crypto pair
    /// still reads as one.
    pub fn normalize_for_venue(
        &self,
        raw: &str,
        venue_kinds: &[InstrumentKind],
    ) -> Result<Instrument, String> {
        self.normalize_with(raw, "", venue_kinds == [InstrumentKind::Equity])
    }

    fn normalize_with(
        &self,
        raw: &str,
        venue_hint: &str,
        bare_ticker_is_stock: bool,
    ) -> Result<Instrument, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("symbol is empty".into());
        }
        if raw.len() > MAX_SYMBOL_LEN {
            return Err(format!("symbol is longer than {MAX_SYMBOL_LEN} characters"));
        }
        if raw.contains("{{") {
            return Err(format!(
                "`{raw}` is a TradingView placeholder that was not filled in"
            ));
        }
        let upper = raw.to_uppercase();
        let (venue, rest) = match upper.split_once(':') {
            // `BTC/USDT:USDT` (ccxt perpetual) has its colon after a slash.
            Some((venue, rest)) if !venue.contains('/') => (venue.trim().to_string(), rest.trim()),
            _ => (venue_hint.trim().to_uppercase(), upper.as_str()),
        };
        if !venue.is_empty()
            && !venue
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!("venue `{venue}` is not a plain code"));
        }
        let mut instrument = match self
            .overrides
            .get(&upper)
            .or_else(|| self.overrides.get(rest))
        {
            Some(mapped) => mapped.clone(),
            None if STOCK_EXCHANGES.contains(&venue.as_str()) => parse_ticker(rest)?,
            None if bare_ticker_is_stock && venue.is_empty() && is_ticker(rest) => {
                parse_ticker(rest)?
            }
            None => parse_pair(rest)?,
        };
        if instrument.venue.is_empty() {
            instrument.venue = venue;
        }
        Ok(instrument)
    }
}

/// Parses a canonical target from the symbol map: `[VENUE:]BASE/QUOTE[:PERP]`
/// or a continuous future such as `NQ1!`.
pub fn parse_canonical(text: &str) -> Result<Instrument, String> {
    let upper = text.trim().to_uppercase();
    let (venue, rest) = match upper.split_once(':') {
        Some((venue, rest)) if !venue.contains('/') => (venue.to_string(), rest),
        _ => (String::new(), upper.as_str()),
    };
    if !rest.contains('/') && !rest.ends_with('!') {
        return Err(format!(
            "`{text}` is not canonical: write BASE/QUOTE, e.g. BTC/USDT"
        ));
    }
    let mut instrument = parse_pair(rest)?;
    instrument.venue = venue;
    Ok(instrument)
}

/// Whether a canonical symbol (`BTC/USDT:PERP`) names a perpetual.
pub fn is_perpetual(canonical: &str) -> bool {
    parse_canonical(canonical).is_ok_and(|i| i.kind == InstrumentKind::Perpetual)
}

fn parse_pair(symbol: &str) -> Result<Instrument, String> {
    // Continuous futures: NQ1!, ES2!.
    if let Some(root) = symbol.strip_suffix('!') {
        let base = root.trim_end_matches(|c: char| c.is_ascii_digit());
        if base.is_empty() || base.len() == root.len() || !is_code(base) {
            return Err(format!(
                "`{symbol}` is not a continuous future such as NQ1!"
            ));
        }
        return Ok(instrument(
            base,
            "",
            InstrumentKind::Future,
            symbol.to_string(),
        ));
    }

    let (pair, perpetual) = if let Some(pair) = symbol.strip_suffix(".P") {
        (pair, true)
    } else if let Some(pair) = symbol.strip_suffix(":PERP") {
        (pair, true)
    } else if let Some((pair, settle)) = symbol.split_once(':') {
        // ccxt style BTC/USDT:USDT
        if !is_code(settle) {
            return Err(format!("`{symbol}` has an unreadable settlement suffix"));
        }
        (pair, true)
    } else if let Some(pair) = symbol.strip_suffix("PERP").filter(|p| !p.is_empty()) {
        (pair.trim_end_matches(['-', '_']), true)
    } else {
        (symbol, false)
    };

    let (base, quote) = match pair.split_once(['/', '-', '_']) {
        Some((base, quote)) => (base, quote),
        None => split_concatenated(pair)
            .ok_or_else(|| format!("cannot tell base from quote in `{symbol}`; write it as BASE/QUOTE or add it to signals.symbol_map"))?,
    };
    for (what, code) in [("base", base), ("quote", quote)] {
        if code.is_empty() || code.len() > MAX_ASSET_LEN || !is_code(code) {
            return Err(format!(
                "{what} asset `{code}` in `{symbol}` is not a plain asset code"
            ));
        }
    }
    let kind = if perpetual {
        InstrumentKind::Perpetual
    } else {
        InstrumentKind::Spot
    };
    let canonical = if perpetual {
        format!("{base}/{quote}:PERP")
    } else {
        format!("{base}/{quote}")
    };
    Ok(instrument(base, quote, kind, canonical))
}

/// A stock ticker (`AAPL`, `BRK.B`) as an equity quoted in USD.
fn parse_ticker(ticker: &str) -> Result<Instrument, String> {
    if !is_ticker(ticker) {
        return Err(format!(
            "`{ticker}` is not a stock ticker such as AAPL or BRK.B"
        ));
    }
    Ok(instrument(
        ticker,
        EQUITY_QUOTE,
        InstrumentKind::Equity,
        ticker.to_string(),
    ))
}

/// Letters and digits, at most [`MAX_TICKER_LEN`], with at most one `.`
/// before a share class.
fn is_ticker(text: &str) -> bool {
    let mut parts = text.split('.');
    let root = parts.next().unwrap_or_default();
    let class = parts.next();
    text.len() <= MAX_TICKER_LEN
        && parts.next().is_none()
        && root.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && is_code(root)
        && class.is_none_or(is_code)
}

fn split_concatenated(pair: &str) -> Option<(&str, &str)> {
    KNOWN_QUOTES.iter().find_map(|quote| {
        let base = pair.strip_suffix(quote)?;
        (!base.is_empty()).then_some((base, *quote))
    })
}

fn is_code(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn instrument(base: &str, quote: &str, kind: InstrumentKind, symbol: String) -> Instrument {
    Instrument {
        venue: String::new(),
        base: base.to_string(),
        quote: quote.to_string(),
        kind,
        symbol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(raw: &str) -> Instrument {
        SymbolNormalizer::default().normalize(raw, "").unwrap()
    }

    #[test]
    fn every_common_spelling_is_one_instrument() {
        for raw in [
            "BINANCE:BTCUSDT",
            "BTC/USDT",
            "btcusdt",
            "BTC-USDT",
            "btc_usdt",
            " BTCUSDT ",
        ] {
            let i = norm(raw);
            assert_eq!(
                (i.base.as_str(), i.quote.as_str(), i.symbol.as_str()),
                ("BTC", "USDT", "BTC/USDT"),
                "{raw}"
            );
            assert_eq!(i.kind, InstrumentKind::Spot);
        }
        assert_eq!(norm("BINANCE:BTCUSDT").venue, "BINANCE");
        assert_eq!(norm("BTC-USD").symbol, "BTC/USD");
    }

    #[test]
    fn perpetuals_and_futures() {
        for raw in [
            "BTCUSDT.P",
            "BINANCE:BTCUSDT.P",
            "BTC/USDT:USDT",
            "BTCUSDTPERP",
            "BTC-USDT-PERP",
        ] {
            let i = norm(raw);
            assert_eq!(i.symbol, "BTC/USDT:PERP", "{raw}");
            assert_eq!(i.kind, InstrumentKind::Perpetual, "{raw}");
        }
        let nq = norm("CME_MINI:NQ1!");
        assert_eq!(
            (nq.venue.as_str(), nq.base.as_str(), nq.symbol.as_str()),
            ("CME_MINI", "NQ", "NQ1!")
        );
        assert_eq!(nq.kind, InstrumentKind::Future);
    }

    #[test]
    fn venue_hint_applies_only_without_prefix() {
        let n = SymbolNormalizer::default();
        assert_eq!(n.normalize("BTCUSDT", "binance").unwrap().venue, "BINANCE");
        assert_eq!(
            n.normalize("COINBASE:BTCUSD", "binance").unwrap().venue,
            "COINBASE"
        );
    }

    #[test]
    fn a_ticker_on_a_stock_exchange_is_an_equity() {
        let n = SymbolNormalizer::default();
        for (raw, hint) in [
            ("NASDAQ:AAPL", ""),
            ("nasdaq:aapl", ""),
            ("AAPL", "NASDAQ"),
            ("AAPL", "nyse"),
            ("NYSEARCA:AAPL", "BINANCE"),
        ] {
            let i = n.normalize(raw, hint).unwrap();
            assert_eq!(
                (i.base.as_str(), i.quote.as_str(), i.symbol.as_str()),
                ("AAPL", "USD", "AAPL"),
                "{raw} on {hint}"
            );
            assert_eq!(i.kind, InstrumentKind::Equity, "{raw}");
        }
        assert_eq!(n.normalize("NASDAQ:AAPL", "").unwrap().venue, "NASDAQ");
        let class = n.normalize("BRK.B", "NYSE").unwrap();
        assert_eq!(
            (class.symbol.as_str(), class.kind),
            ("BRK.B", InstrumentKind::Equity)
        );
        for raw in [
            "NASDAQ:AA$PL",
            "NYSE:BRK.B.C",
            "NYSE:TOOLONGTICKER",
            "NYSE:1AB",
        ] {
            assert!(n.normalize(raw, "").is_err(), "{raw:?} should be refused");
        }
        // Without a stock exchange a bare ticker is no instrument, unless
        // the venue trades stocks only; crypto pairs stay crypto there.
        assert!(n.normalize("AAPL", "").is_err());
        let stocks = [InstrumentKind::Equity];
        let at_broker = n.normalize_for_venue("AAPL", &stocks).unwrap();
        assert_eq!(
            (at_broker.symbol.as_str(), at_broker.kind),
            ("AAPL", InstrumentKind::Equity)
        );
        assert_eq!(
            n.normalize_for_venue("BTC/USDT", &stocks).unwrap().kind,
            InstrumentKind::Spot
        );
        assert!(
            n.normalize_for_venue("AAPL", &[InstrumentKind::Spot])
                .is_err()
        );
    }

    #[test]
    fn symbol_map_overrides() {
        let map = [("XBTUSD".to_string(), "KRAKEN:BTC/USD".to_string())];
        let n = SymbolNormalizer::new(map.iter().map(|(a, b)| (a, b))).unwrap();
        let i = n.normalize("xbtusd", "").unwrap();
        assert_eq!((i.venue.as_str(), i.symbol.as_str()), ("KRAKEN", "BTC/USD"));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let n = SymbolNormalizer::default();
        for raw in [
            "",
            "   ",
            "{{ticker}}",
            "BTC$USDT",
            "XYZ",
            "/USDT",
            "BTC/",
            "!",
            "1!",
            "BTC/USDT/ETH",
        ] {
            assert!(n.normalize(raw, "").is_err(), "{raw:?} should be refused");
        }
        assert!(parse_canonical("BTCUSDT").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,80}", hint in "\\PC{0,10}") {
            let _ = SymbolNormalizer::default().normalize(&raw, &hint);
        }

        #[test]
        fn spellings_agree(base in "[A-Z]{2,6}", quote in prop::sample::select(vec!["USDT", "USDC", "EUR"])) {
            prop_assume!(!KNOWN_QUOTES.iter().any(|q| base.ends_with(q)));
            let n = SymbolNormalizer::default();
            let slash = n.normalize(&format!("{base}/{quote}"), "").unwrap();
            let glued = n.normalize(&format!("binance:{}{}", base.to_lowercase(), quote), "").unwrap();
            let dashed = n.normalize(&format!("{base}-{quote}"), "").unwrap();
            prop_assert_eq!(&slash.symbol, &glued.symbol);
            prop_assert_eq!(&slash.symbol, &dashed.symbol);
            prop_assert_eq!(slash.symbol, format!("{base}/{quote}"));
        }

        #[test]
        fn canonical_output_round_trips(base in "[A-Z]{2,6}", quote in "[A-Z]{3,5}", perp in any::<bool>()) {
            let n = SymbolNormalizer::default();
            let raw = if perp { format!("{base}/{quote}:PERP") } else { format!("{base}/{quote}") };
            let once = n.normalize(&raw, "").unwrap();
            let twice = n.normalize(&once.symbol, "").unwrap();
            prop_assert_eq!(once, twice);
        }
    }
}

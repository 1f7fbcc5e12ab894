//! Any text in a single field: decimals, symbols and times.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradeplane_server::{
    market::{decimal::parse_decimal, symbol::SymbolNormalizer},
    signals::validate::parse_time,
};

fuzz_target!(|text: &str| {
    let _ = parse_decimal(text);
    let _ = SymbolNormalizer::default().normalize(text, "");
    let _ = parse_time(text);
});

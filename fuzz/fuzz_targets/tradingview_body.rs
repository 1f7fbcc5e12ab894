//! Any webhook body: the TradingView parser and then the validator must
//! answer with a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradeplane_server::{
    market::symbol::SymbolNormalizer,
    signals::{config::SignalsConfig, validate::validate},
    webhook::tradingview::parse_body,
};

fuzz_target!(|body: &[u8]| {
    if let Ok(parsed) = parse_body(body) {
        let _ = validate(
            &parsed.signal,
            &SymbolNormalizer::default(),
            &SignalsConfig::default(),
            chrono::Utc::now(),
            |_| None,
        );
    }
});

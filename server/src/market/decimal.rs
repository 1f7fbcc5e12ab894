//! Exact decimal parsing for prices and quantities. Binary floats never
//! touch a price: text goes straight to [`Decimal`]. NaN, infinity,
//! exponents and unfilled TradingView placeholders are refused.

use rust_decimal::Decimal;

/// Most significant digits accepted (what [`Decimal`] holds exactly).
const MAX_DIGITS: usize = 28;

/// Parses a plain decimal such as `"0.0015"`, `"42"` or `"-3.5"`.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("is empty".into());
    }
    if trimmed.contains("{{") {
        return Err(format!(
            "`{trimmed}` is a TradingView placeholder that was not filled in"
        ));
    }
    let unsigned = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(format!("`{}` is not a decimal number", shorten(trimmed)));
    }
    let significant = whole.trim_start_matches('0').len() + fraction.len();
    if significant > MAX_DIGITS {
        return Err(format!(
            "`{}` has more than {MAX_DIGITS} digits",
            shorten(trimmed)
        ));
    }
    let normalized = match (whole.is_empty(), fraction.is_empty()) {
        (true, _) => format!("0.{fraction}"),
        (false, true) => whole.to_string(),
        (false, false) => format!("{whole}.{fraction}"),
    };
    let value: Decimal = normalized
        .parse()
        .map_err(|_| format!("`{}` is out of range", shorten(trimmed)))?;
    Ok(if trimmed.starts_with('-') {
        -value
    } else {
        value
    })
}

fn shorten(text: &str) -> String {
    text.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_decimals() {
        assert_eq!(parse_decimal("0.0015").unwrap().to_string(), "0.0015");
        assert_eq!(parse_decimal(" 42 ").unwrap(), Decimal::from(42));
        assert_eq!(parse_decimal("-3.5").unwrap().to_string(), "-3.5");
        assert_eq!(parse_decimal(".5").unwrap().to_string(), "0.5");
        assert_eq!(parse_decimal("5.").unwrap().to_string(), "5");
        assert_eq!(parse_decimal("+1").unwrap(), Decimal::ONE);
    }

    #[test]
    fn refuses_what_is_not_exact() {
        for bad in [
            "",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e5",
            "1,5",
            "0x10",
            "1.2.3",
            ".",
            "-",
            "--1",
            "{{close}}",
            "1 000",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_decimal("12345678901234567890123456789").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,64}") {
            let _ = parse_decimal(&text);
        }

        #[test]
        fn round_trips_exactly(mantissa in any::<i64>(), scale in 0u32..12) {
            let value = Decimal::new(mantissa, scale);
            prop_assert_eq!(parse_decimal(&value.to_string()).unwrap(), value);
        }
    }
}

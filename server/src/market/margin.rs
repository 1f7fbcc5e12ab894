//! Margin of linear perpetuals (quoted and settled in the quote asset,
//! e.g. USDT): leverage and margin mode, and the arithmetic of initial
//! and maintenance margin, unrealised profit and the liquidation price.
//! Venue-neutral: a connector maps these to its venue's settings, the
//! paper exchange computes with them.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

use crate::words::word_enum;

/// The highest leverage a pipeline may ask for (Binance USDⓈ-M's cap).
pub const MAX_LEVERAGE: u32 = 125;

/// Maintenance margin rate of the paper exchange: 0.5 % of the notional
/// at the mark price (one tier for every size, unlike a real venue).
pub const MAINTENANCE_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

word_enum! {
    /// Whose money backs a perpetual position.
    pub enum MarginMode {
        /// The position's own margin alone: a liquidation loses at most it.
        Isolated => "isolated",
        /// The whole account's quote balance backs every cross position.
        Cross => "cross",
    }
}

impl Serialize for MarginMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for MarginMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        MarginMode::from_word(&word)
            .ok_or_else(|| D::Error::custom(format!("unknown margin mode `{word}`")))
    }
}

/// How a symbol's perpetual positions are margined on a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Leverage {
    /// Notional per unit of margin, 1 to [`MAX_LEVERAGE`].
    pub leverage: u32,
    pub mode: MarginMode,
}

impl Leverage {
    /// What a venue applies before anything is set: 1x isolated, the
    /// setting that cannot lose more than a spot trade.
    pub const DEFAULT: Leverage = Leverage {
        leverage: 1,
        mode: MarginMode::Isolated,
    };

    /// The margin that opens `notional` at this leverage.
    pub fn initial_margin(self, notional: Decimal) -> Decimal {
        notional.abs() / Decimal::from(self.leverage.max(1))
    }
}

/// Unrealised profit of the signed `quantity` (long > 0) entered at
/// `entry`, at the `mark` price.
pub fn unrealized(quantity: Decimal, entry: Decimal, mark: Decimal) -> Decimal {
    quantity * (mark - entry)
}

/// The maintenance margin of the signed `quantity` at `mark`.
pub fn maintenance(quantity: Decimal, mark: Decimal) -> Decimal {
    quantity.abs() * mark * MAINTENANCE_RATE
}

/// Whether a position must be liquidated: the `collateral` backing it
/// (an isolated position's margin; for cross, the account's equity less
/// the other positions' profit) plus its unrealised profit has fallen to
/// its maintenance margin.
pub fn liquidates(quantity: Decimal, entry: Decimal, collateral: Decimal, mark: Decimal) -> bool {
    !quantity.is_zero()
        && collateral + unrealized(quantity, entry, mark) <= maintenance(quantity, mark)
}

/// The mark price at which [`liquidates`] starts to hold: the `p` where
/// `collateral + q (p - entry) = rate |q| p`. `None` when flat, or when no
/// positive price liquidates (a long backed by more than its notional).
pub fn liquidation_price(
    quantity: Decimal,
    entry: Decimal,
    collateral: Decimal,
) -> Option<Decimal> {
    let divisor = quantity - MAINTENANCE_RATE * quantity.abs();
    if quantity.is_zero() || divisor.is_zero() {
        return None;
    }
    let price = (quantity * entry - collateral) / divisor;
    (price > Decimal::ZERO).then(|| price.round_dp(8).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn an_isolated_ten_times_long_liquidates_just_under_a_tenth_down() {
        let (quantity, entry) = (d("0.1"), d("50000"));
        let margin = Leverage {
            leverage: 10,
            mode: MarginMode::Isolated,
        }
        .initial_margin(quantity * entry);
        assert_eq!(margin, d("500"));
        // 500 + 0.1 (p - 50000) = 0.0005 p  =>  p = 4500 / 0.0995
        let price = liquidation_price(quantity, entry, margin).expect("a price");
        assert_eq!(price, d("45226.13065327"));
        assert!(!liquidates(quantity, entry, margin, d("45300")));
        assert!(liquidates(quantity, entry, margin, d("45226")));
        // The short mirror: 500 - 0.1 (p - 50000) = 0.0005 p.
        let short = liquidation_price(-quantity, entry, margin).expect("a price");
        assert_eq!(short, d("54726.36815920"));
        assert!(liquidates(-quantity, entry, margin, d("54727")));
        assert!(!liquidates(-quantity, entry, margin, d("54700")));
    }

    #[test]
    fn a_long_backed_by_its_whole_notional_never_liquidates() {
        assert_eq!(liquidation_price(d("1"), d("100"), d("100")), None);
        assert_eq!(liquidation_price(Decimal::ZERO, d("100"), d("1")), None);
        assert!(!liquidates(Decimal::ZERO, d("100"), Decimal::ZERO, d("1")));
    }

    proptest! {
        /// At the liquidation price the position's equity is its
        /// maintenance margin (to rounding), for any size, side, entry
        /// and leverage.
        #[test]
        fn equity_meets_maintenance_at_the_liquidation_price(
            lots in 1i64..1_000_000,
            long in any::<bool>(),
            cents in 100i64..10_000_000,
            leverage in 1u32..=MAX_LEVERAGE,
        ) {
            let quantity = Decimal::new(if long { lots } else { -lots }, 4);
            let entry = Decimal::new(cents, 2);
            let margin = Leverage { leverage, mode: MarginMode::Isolated }
                .initial_margin(quantity * entry);
            if let Some(price) = liquidation_price(quantity, entry, margin) {
                let equity = margin + unrealized(quantity, entry, price);
                let gap = (equity - maintenance(quantity, price)).abs();
                prop_assert!(gap <= quantity.abs() * Decimal::new(1, 7), "gap {gap}");
                // A long liquidates below its entry, a short above.
                prop_assert_eq!(price < entry, long);
            } else {
                prop_assert!(long && leverage == 1);
            }
        }
    }
}

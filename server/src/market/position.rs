//! A holding of one instrument built from fills: signed quantity, average
//! cost, the day's realised profit and the time of the last fill.

use super::side::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One day in milliseconds: realised profit counts per UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// A holding of one symbol, from its fills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Signed: long > 0.
    pub quantity: Decimal,
    pub average_cost: Decimal,
    /// Realised profit (negative: loss) on `day`.
    pub realized: Decimal,
    /// The UTC day (days since the epoch) `realized` counts.
    pub day: i64,
    /// When the last fill happened (ms since the epoch; 0: never).
    #[serde(default)]
    pub last_fill_ms: i64,
}

impl Position {
    /// Books one fill.
    pub fn apply(&mut self, side: Side, quantity: Decimal, price: Decimal, time_ms: i64) {
        self.last_fill_ms = self.last_fill_ms.max(time_ms);
        let day = time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.realized = Decimal::ZERO;
        }
        let signed = side.signed(quantity);
        let same_direction =
            self.quantity.is_zero() || (self.quantity > Decimal::ZERO) == (signed > Decimal::ZERO);
        if same_direction {
            let total = self.quantity + signed;
            self.average_cost =
                (self.average_cost * self.quantity.abs() + price * quantity) / total.abs();
            self.quantity = total;
            return;
        }
        let closed = quantity.min(self.quantity.abs());
        let direction = if self.quantity > Decimal::ZERO {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
        self.realized += (price - self.average_cost) * closed * direction;
        self.quantity += signed;
        if self.quantity.is_zero() {
            self.average_cost = Decimal::ZERO;
        } else if (self.quantity > Decimal::ZERO) == (signed > Decimal::ZERO) {
            // Flipped: the remainder opened at this price.
            self.average_cost = price;
        }
    }

    /// The profit realised on the day of `now_ms`.
    pub fn realized_on(&self, now_ms: i64) -> Decimal {
        if self.day == now_ms.div_euclid(DAY_MS) {
            self.realized
        } else {
            Decimal::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn positions_average_in_and_realise_out() {
        let mut p = Position::default();
        p.apply(Side::Buy, d("1"), d("100"), 0);
        p.apply(Side::Buy, d("1"), d("200"), 0);
        assert_eq!((p.quantity, p.average_cost), (d("2"), d("150")));
        p.apply(Side::Sell, d("0.5"), d("110"), 0);
        assert_eq!(p.realized, d("-20"));
        assert_eq!(p.quantity, d("1.5"));
        p.apply(Side::Sell, d("2.5"), d("100"), 0);
        assert_eq!(p.quantity, d("-1"), "flipped short");
        assert_eq!(p.average_cost, d("100"));
        assert_eq!(p.realized, d("-95"));
        assert_eq!(p.realized_on(DAY_MS), Decimal::ZERO, "yesterday's profit");
        p.apply(Side::Buy, d("1"), d("90"), DAY_MS);
        assert_eq!(p.realized, d("10"), "a new day starts from zero");
        assert_eq!(p.realized_on(DAY_MS), d("10"));
        assert_eq!(p.last_fill_ms, DAY_MS);
        assert!(p.quantity.is_zero());
    }

    #[test]
    fn positions_survive_a_round_trip_through_json() {
        let mut p = Position::default();
        p.apply(Side::Buy, d("0.015"), d("64120.5"), 1_700_000_000_000);
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Position>(&text).unwrap(), p);
    }
}

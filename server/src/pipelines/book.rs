//! What the workers remember between executions: each pipeline's
//! positions (from its own fills), its last fill and its recent orders.
//! Rebuilt from the store at start-up.

use std::collections::{HashMap, VecDeque};

use rust_decimal::Decimal;
use tradeplane_api::{Order, ProtoEnum, Side};

use crate::{market::decimal::parse_decimal, proto_time::now_ms};

/// One day in milliseconds: realised profit counts per UTC day.
const DAY_MS: i64 = 86_400_000;
/// The window of the orders-per-minute count.
const MINUTE_MS: i64 = 60_000;

/// A pipeline's holding of one symbol, from its own fills.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// Signed: long > 0.
    pub quantity: Decimal,
    pub average_cost: Decimal,
    /// Realised profit (negative: loss) on `day`.
    pub realized: Decimal,
    pub day: i64,
}

impl Position {
    /// Books one fill.
    pub fn apply(&mut self, side: Side, quantity: Decimal, price: Decimal, time_ms: i64) {
        let day = time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.realized = Decimal::ZERO;
        }
        let signed = if side == Side::Sell {
            -quantity
        } else {
            quantity
        };
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
}

/// Positions, fills and recent orders per pipeline.
#[derive(Default)]
pub struct Book {
    positions: HashMap<(String, String), Position>,
    last_fill_ms: HashMap<String, i64>,
    recent_orders: HashMap<String, VecDeque<i64>>,
}

impl Book {
    /// The pipeline's position in `symbol`.
    pub fn position(&self, pipeline: &str, symbol: &str) -> Position {
        self.positions
            .get(&(pipeline.to_string(), symbol.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Books the fills of `order` past the first `already`.
    pub fn book_order(&mut self, pipeline: &str, order: &Order, already: usize) {
        let symbol = order
            .instrument
            .as_ref()
            .map(|i| i.symbol.clone())
            .unwrap_or_default();
        let side = match Side::known(order.side, "side") {
            Ok(side) => side,
            Err(err) => {
                tracing::error!(order = %order.id, error = %err, "order not booked");
                return;
            }
        };
        for fill in order.fills.iter().skip(already) {
            let time = fill
                .time
                .as_ref()
                .map(crate::proto_time::timestamp_ms)
                .unwrap_or_else(now_ms);
            let (Ok(quantity), Ok(price)) =
                (parse_decimal(&fill.quantity), parse_decimal(&fill.price))
            else {
                continue;
            };
            self.positions
                .entry((pipeline.to_string(), symbol.clone()))
                .or_default()
                .apply(side, quantity, price, time);
            let last = self.last_fill_ms.entry(pipeline.to_string()).or_default();
            *last = (*last).max(time);
        }
    }

    /// Counts an order the pipeline placed at `now`.
    pub fn count_order(&mut self, pipeline: &str, now: i64) {
        self.recent_orders
            .entry(pipeline.to_string())
            .or_default()
            .push_back(now);
    }

    /// How many orders the pipeline placed in the minute before `now`.
    pub fn orders_in_last_minute(&mut self, pipeline: &str, now: i64) -> usize {
        let recent = self.recent_orders.entry(pipeline.to_string()).or_default();
        while recent.front().is_some_and(|t| now - t >= MINUTE_MS) {
            recent.pop_front();
        }
        recent.len()
    }

    /// The pipeline's realised profit (negative: loss) on the day of `now`.
    pub fn realized_today(&self, pipeline: &str, now: i64) -> Decimal {
        let today = now.div_euclid(DAY_MS);
        self.positions
            .iter()
            .filter(|((p, _), position)| p == pipeline && position.day == today)
            .map(|(_, position)| position.realized)
            .sum()
    }

    /// When the pipeline's last fill happened.
    pub fn last_fill_ms(&self, pipeline: &str) -> Option<i64> {
        self.last_fill_ms.get(pipeline).copied()
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
        p.apply(Side::Buy, d("1"), d("90"), DAY_MS);
        assert_eq!(p.realized, d("10"), "a new day starts from zero");
        assert!(p.quantity.is_zero());
    }

    #[test]
    fn orders_leave_the_minute_window() {
        let mut book = Book::default();
        book.count_order("p", 0);
        book.count_order("p", 30_000);
        assert_eq!(book.orders_in_last_minute("p", 59_999), 2);
        assert_eq!(book.orders_in_last_minute("p", 60_000), 1);
        assert_eq!(book.orders_in_last_minute("other", 60_000), 0);
    }
}

//! What the workers remember between executions besides positions (which
//! the order desk keeps): each pipeline's recent orders, for the
//! orders-per-minute rule. Rebuilt at start-up from the last minute of
//! orders.

use std::collections::{HashMap, VecDeque};

/// The window of the orders-per-minute count.
pub const MINUTE_MS: i64 = 60_000;

/// Recent orders per pipeline.
#[derive(Default)]
pub struct Book {
    recent_orders: HashMap<String, VecDeque<i64>>,
}

impl Book {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

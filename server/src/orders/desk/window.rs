//! What the pipelines traded in a window of time: their orders' fills
//! replayed the way the ledger books them, so that a fill in the window
//! realises profit against the position the fills before it built; and
//! the positions the book holds now. (Serialized without the pipeline's
//! id, for readers that name the pipeline.)

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{OrderDesk, ledger};
use crate::{
    market::position::Position,
    model::order::{Fill, Order},
    store::{OrderQuery, StoreError, walk_orders},
};

/// A pipeline's trading on one account in one quote currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traded {
    #[serde(skip)]
    pub pipeline_id: String,
    /// `exchange/account`.
    pub account: String,
    pub quote: String,
    /// Profit realised in the window (negative: loss), in `quote`.
    pub realized: Decimal,
    /// Fees paid in the window, by the asset they were paid in.
    pub fees: BTreeMap<String, Decimal>,
    pub fills: u64,
}

/// A pipeline's open position, as the book holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Held {
    #[serde(skip)]
    pub pipeline_id: String,
    /// `exchange/account` of the orders that built it.
    pub account: String,
    pub symbol: String,
    /// Signed: long > 0.
    pub quantity: Decimal,
    pub average_cost: Decimal,
}

/// A window's trading, and the open positions now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowBook {
    pub traded: Vec<Traded>,
    pub held: Vec<Held>,
}

impl OrderDesk {
    /// What each pipeline traded in `[start_ms, end_ms)`, and what the
    /// pipelines hold now.
    pub async fn window_book(&self, start_ms: i64, end_ms: i64) -> Result<WindowBook, StoreError> {
        let orders = walk_orders(&*self.store, OrderQuery::default()).await?;
        let (traded, accounts) = replay(&orders, start_ms, end_ms);
        let held = self
            .positions()
            .await?
            .into_iter()
            .filter(|(_, _, position)| !position.quantity.is_zero())
            .map(|(pipeline_id, symbol, position)| Held {
                account: accounts
                    .get(&(pipeline_id.clone(), symbol.clone()))
                    .cloned()
                    .unwrap_or_default(),
                pipeline_id,
                symbol,
                quantity: position.quantity,
                average_cost: position.average_cost,
            })
            .collect();
        Ok(WindowBook { traded, held })
    }
}

/// Replays the fills of the pipelines' `orders` (newest first, as the
/// store lists them) into positions; returns what fills in
/// `[start_ms, end_ms)` did, and the account of each (pipeline, symbol).
fn replay(
    orders: &[Order],
    start_ms: i64,
    end_ms: i64,
) -> (Vec<Traded>, HashMap<(String, String), String>) {
    let mut fills: BTreeMap<(&str, &str), Vec<(&Order, &Fill)>> = BTreeMap::new();
    for order in orders.iter().rev() {
        if order.origin.pipeline_id.is_empty() {
            continue;
        }
        let key = (order.origin.pipeline_id.as_str(), order.symbol());
        let booked = fills.entry(key).or_default();
        booked.extend(order.fills.iter().map(|fill| (order, fill)));
    }
    let mut traded: BTreeMap<(String, String, String), Traded> = BTreeMap::new();
    let mut accounts = HashMap::new();
    for ((pipeline_id, symbol), mut booked) in fills {
        // Stable: fills of one time keep the order they were made in.
        booked.sort_by_key(|(_, fill)| fill.time_ms);
        let mut position = Position::default();
        for (order, fill) in booked {
            let account = format!("{}/{}", order.exchange, order.account);
            let before = position.realized_on(fill.time_ms);
            ledger::book_fill(&mut position, order, fill);
            accounts.insert(
                (pipeline_id.to_string(), symbol.to_string()),
                account.clone(),
            );
            if fill.time_ms < start_ms || fill.time_ms >= end_ms {
                continue;
            }
            let quote = order.instrument.quote.clone();
            let row = traded
                .entry((pipeline_id.to_string(), account.clone(), quote.clone()))
                .or_insert_with(|| Traded {
                    pipeline_id: pipeline_id.to_string(),
                    account,
                    quote,
                    ..Default::default()
                });
            row.realized += position.realized_on(fill.time_ms) - before;
            row.fills += 1;
            if !fill.fee.is_zero() {
                *row.fees.entry(fill.fee_asset.clone()).or_default() += fill.fee;
            }
        }
    }
    (traded.into_values().collect(), accounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{market::side::Side, model::order::OrderTicket};

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// A filled order of pipeline `p-1` on paper, one fill at `time_ms`.
    fn filled(side: Side, quantity: &str, price: &str, fee: &str, time_ms: i64) -> Order {
        let ticket = OrderTicket::market(side, "BTC", "USDT", d(quantity));
        let mut order = Order::new(&ticket, ("paper", "default"), Default::default(), time_ms);
        order.origin.pipeline_id = "p-1".into();
        order.fills.push(Fill {
            trade_id: format!("t-{time_ms}"),
            quantity: d(quantity),
            price: d(price),
            fee: d(fee),
            fee_asset: "USDT".into(),
            time_ms,
        });
        order
    }

    #[test]
    fn a_window_counts_its_own_fills_against_the_position_before_it() {
        let hour = 3_600_000;
        // Newest first, as the store lists them.
        let orders = [
            filled(Side::Sell, "1", "130", "0.13", 30 * hour),
            filled(Side::Sell, "1", "120", "0.12", 20 * hour),
            filled(Side::Buy, "2", "100", "0.2", 10 * hour),
        ];
        let (traded, accounts) = replay(&orders, 15 * hour, 25 * hour);
        assert_eq!(
            traded,
            [Traded {
                pipeline_id: "p-1".into(),
                account: "paper/default".into(),
                quote: "USDT".into(),
                realized: d("20"),
                fees: [("USDT".to_string(), d("0.12"))].into(),
                fills: 1,
            }],
            "the buy before the window set the cost; the sell after it is not counted"
        );
        assert_eq!(
            accounts[&("p-1".to_string(), orders[0].symbol().to_string())],
            "paper/default"
        );
        let (across_midnight, _) = replay(&orders, 15 * hour, 31 * hour);
        assert_eq!(across_midnight[0].realized, d("50"), "a UTC day apart");
        assert_eq!(across_midnight[0].fills, 2);
    }
}

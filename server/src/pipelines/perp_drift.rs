//! Position drift on perpetuals: the pipelines' signed positions in a
//! perpetual (long above zero, short below), summed per venue account,
//! against the account's signed position at the venue
//! ([`crate::orders::exchanges::Exchange::positions`]). Any difference is
//! a drift (a position closed, reduced, added to or opened the other way
//! outside tradeplane); under `resync` each pipeline's book takes its
//! share of the venue's signed figure. A group with an entry or exit still
//! open is left for the next round: its fill may be at the venue and not
//! yet in the book.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use super::{Pipelines, drift::confirmed, spec::Compiled};
use crate::{
    market::{account, position::Position, symbol::is_perpetual},
    model::order::{Order, OrderRole},
};

/// Pipelines' signed positions, by (venue account key, symbol).
type Books = BTreeMap<(String, String), Vec<(String, Decimal)>>;

impl Pipelines {
    /// Compares the pipelines' perpetual positions with their venues'
    /// and applies each pipeline's policy; returns the drifts found, by
    /// pipeline id. A pipeline whose venue cannot be read keeps the drift
    /// it had.
    pub(super) async fn reconcile_perpetuals(
        &self,
        positions: &[(String, String, Position)],
        open: &[Order],
        before: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let snapshot = self.snapshot();
        let mut books = Books::new();
        for (pipeline_id, symbol, position) in positions {
            let Some(compiled) = snapshot.get(pipeline_id) else {
                continue;
            };
            if position.quantity.is_zero() || !is_perpetual(symbol) {
                continue;
            }
            let venue = account::key(&compiled.exchange, &compiled.account);
            books
                .entry((venue, symbol.clone()))
                .or_default()
                .push((pipeline_id.clone(), position.quantity));
        }
        let mut found = HashMap::new();
        let mut venues: HashMap<String, Option<HashMap<String, Decimal>>> = HashMap::new();
        for ((venue, symbol), holders) in books {
            if holders.iter().any(|(id, _)| trading(open, id, &symbol)) {
                keep_drifts(&mut found, before, &holders);
                continue;
            }
            if !venues.contains_key(&venue) {
                let read = self.venue_positions(&venue).await;
                venues.insert(venue.clone(), read);
            }
            let Some(Some(held)) = venues.get(&venue) else {
                keep_drifts(&mut found, before, &holders);
                continue;
            };
            let at_venue = held.get(&symbol).copied().unwrap_or_default();
            let booked: Decimal = holders.iter().map(|(_, q)| *q).sum();
            if at_venue == booked {
                continue;
            }
            let detail = format!(
                "the pipelines' book holds {booked} {symbol} on {venue}, the venue {at_venue}"
            );
            for (pipeline_id, quantity) in holders {
                let Some(compiled) = snapshot.get(&pipeline_id) else {
                    continue;
                };
                if confirmed(compiled, before, &pipeline_id, &detail) {
                    self.adopt_share(compiled, &symbol, (quantity, booked, at_venue), &detail)
                        .await;
                }
                found.insert(pipeline_id, detail.clone());
            }
        }
        found
    }

    /// Resyncs a pipeline's `quantity` of `booked` to its share of what
    /// the venue holds (the whole of it for a lone pipeline).
    async fn adopt_share(
        &self,
        compiled: &Compiled,
        symbol: &str,
        (quantity, booked, at_venue): (Decimal, Decimal, Decimal),
        why: &str,
    ) {
        let share = (quantity * at_venue / booked).round_dp(8);
        self.resync(compiled, symbol, share, why).await;
    }

    /// The signed position per symbol of the venue account `venue` (an
    /// [`account::key`]); `None` when it cannot be read.
    async fn venue_positions(&self, venue: &str) -> Option<HashMap<String, Decimal>> {
        let (name, held_by) = account::split(venue);
        let exchange = self.desk.exchange(name, held_by).ok()?;
        match exchange.positions().await {
            Ok(positions) => {
                let mut held: HashMap<String, Decimal> = HashMap::new();
                for position in positions {
                    *held.entry(position.symbol).or_default() += position.quantity;
                }
                Some(held)
            }
            Err(err) => {
                tracing::warn!(venue, error = %err, "cannot read the venue's positions to reconcile; next round");
                None
            }
        }
    }
}

/// Whether the pipeline has an entry or an exit open in `symbol` (its
/// protective orders rest for as long as it holds the position).
fn trading(open: &[Order], pipeline_id: &str, symbol: &str) -> bool {
    open.iter().any(|o| {
        o.origin.pipeline_id == pipeline_id
            && o.symbol() == symbol
            && !matches!(
                o.origin.role,
                Some(OrderRole::StopLoss | OrderRole::TakeProfit)
            )
    })
}

/// Carries the drifts the holders had into this round.
fn keep_drifts(
    found: &mut HashMap<String, String>,
    before: &HashMap<String, String>,
    holders: &[(String, Decimal)],
) {
    for (id, _) in holders {
        if let Some(detail) = before.get(id) {
            found.insert(id.clone(), detail.clone());
        }
    }
}

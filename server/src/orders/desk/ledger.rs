//! The desk's running totals, kept as each order change is recorded: what
//! paper fills have moved in each asset, and every pipeline's positions.
//! They are saved as snapshots in the same write as the order change that
//! moved them, so start-up reads a few rows instead of every order.

use std::collections::{BTreeMap, HashMap};

use crate::{
    market::position::Position,
    model::order::Order,
    orders::exchanges::paper::settlement,
    store::{OrderQuery, Snapshot, Store, StoreError, walk_orders},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Scope of the paper exchange's settled balance changes (one row).
pub(super) const PAPER_SCOPE: &str = "paper.settled";
/// Scope of pipeline positions (one row per pipeline and symbol).
pub(super) const POSITION_SCOPE: &str = "pipeline.position";
/// Scope of the row that says whether the ledger was built from the
/// order history yet (databases made before it existed were not).
const BUILT_SCOPE: &str = "ledger";

/// A position as it is saved.
#[derive(Serialize, Deserialize)]
struct SavedPosition {
    pipeline_id: String,
    symbol: String,
    #[serde(flatten)]
    position: Position,
}

/// Running totals over every recorded fill.
#[derive(Default)]
pub(super) struct Ledger {
    /// The version of the last snapshot made.
    version: i64,
    /// What paper fills have added to (negative: taken from) each asset.
    paper_settled: BTreeMap<String, Decimal>,
    /// Positions by pipeline id and symbol.
    positions: HashMap<(String, String), Position>,
    /// Fills already booked, per open order (by client order id).
    booked: HashMap<String, usize>,
}

impl Ledger {
    /// Loads the ledger: from its snapshots, or, the first time on a
    /// database that has orders from before the ledger, by booking every
    /// stored order once and saving the result. `open` are the open
    /// orders; `paper` names the paper exchange.
    pub async fn load(store: &dyn Store, open: &[Order], paper: &str) -> Result<Self, StoreError> {
        let built = store.snapshots(BUILT_SCOPE).await?;
        if built.iter().all(|s| s.version > 0) {
            let paper = store.snapshots(PAPER_SCOPE).await?;
            let positions = store.snapshots(POSITION_SCOPE).await?;
            return Self::restore(paper, positions, open);
        }
        let mut ledger = Self::default();
        let mut owners: HashMap<String, String> = HashMap::new();
        let history = walk_orders(store, OrderQuery::default()).await?;
        tracing::info!(
            orders = history.len(),
            "building the ledger from the order history, once"
        );
        for mut order in history {
            let origin = &mut order.origin;
            if origin.pipeline_id.is_empty() && !origin.execution_id.is_empty() {
                if !owners.contains_key(&origin.execution_id) {
                    let owner = store
                        .get_execution(&origin.execution_id)
                        .await?
                        .map(|e| e.pipeline_id)
                        .unwrap_or_default();
                    owners.insert(origin.execution_id.clone(), owner);
                }
                origin.pipeline_id = owners[&origin.execution_id].clone();
            }
            ledger.book(&order, order.exchange == paper);
        }
        let paper = json(&ledger.paper_settled);
        let mut snapshots = vec![ledger.snapshot(PAPER_SCOPE, "paper", paper)];
        let positions: Vec<_> = ledger.positions.clone().into_iter().collect();
        for ((pipeline_id, symbol), position) in positions {
            let key = format!("{pipeline_id}/{symbol}");
            let saved = SavedPosition {
                pipeline_id,
                symbol,
                position,
            };
            snapshots.push(ledger.snapshot(POSITION_SCOPE, &key, json(&saved)));
        }
        snapshots.push(ledger.snapshot(BUILT_SCOPE, "built", json(&true)));
        store.save_snapshots(&snapshots).await?;
        Ok(ledger)
    }

    /// The ledger as saved, with the fills of the still-open `open` orders
    /// counted as booked.
    fn restore(
        paper: Vec<Snapshot>,
        positions: Vec<Snapshot>,
        open: &[Order],
    ) -> Result<Self, StoreError> {
        let mut ledger = Self::default();
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("saved {what} cannot be read: {e}"))
        };
        for snapshot in paper {
            ledger.version = ledger.version.max(snapshot.version);
            ledger.paper_settled =
                serde_json::from_str(&snapshot.body).map_err(|e| corrupt("paper balances", e))?;
        }
        for snapshot in positions {
            ledger.version = ledger.version.max(snapshot.version);
            let saved: SavedPosition =
                serde_json::from_str(&snapshot.body).map_err(|e| corrupt("position", e))?;
            ledger
                .positions
                .insert((saved.pipeline_id, saved.symbol), saved.position);
        }
        ledger.booked = open
            .iter()
            .map(|o| (o.client_order_id.clone(), o.fills.len()))
            .collect();
        Ok(ledger)
    }

    /// Books the fills of `order` not booked yet and returns the snapshots
    /// to save with it. `paper`: the order is on the paper exchange.
    pub fn book(&mut self, order: &Order, paper: bool) -> Vec<Snapshot> {
        let booked = if order.status.is_open() {
            self.booked
                .insert(order.client_order_id.clone(), order.fills.len())
        } else {
            self.booked.remove(&order.client_order_id)
        }
        .unwrap_or(0);
        if order.fills.len() <= booked {
            return Vec::new();
        }
        let side = order.side;
        let fills = &order.fills[booked..];
        let instrument = &order.instrument;
        let mut snapshots = Vec::new();
        if paper {
            for fill in fills {
                for (asset, change) in settlement(side, &instrument.base, &instrument.quote, fill) {
                    *self.paper_settled.entry(asset).or_default() += change;
                }
            }
            let body = json(&self.paper_settled);
            snapshots.push(self.snapshot(PAPER_SCOPE, "paper", body));
        }
        if !order.origin.pipeline_id.is_empty() {
            let key = (order.origin.pipeline_id.clone(), order.symbol().to_string());
            let position = self.positions.entry(key.clone()).or_default();
            for fill in fills {
                // The position holds what the account holds: a fee taken in
                // the base asset is paid for at the fill's notional.
                let moved = fill.base_moved(side, &instrument.base);
                if moved > Decimal::ZERO {
                    let price = (fill.price * fill.quantity / moved).round_dp(12);
                    position.apply(side, moved, price, fill.time_ms);
                }
            }
            let saved = SavedPosition {
                pipeline_id: key.0,
                symbol: key.1,
                position: *position,
            };
            let key = format!("{}/{}", saved.pipeline_id, saved.symbol);
            snapshots.push(self.snapshot(POSITION_SCOPE, &key, json(&saved)));
        }
        snapshots
    }

    /// A snapshot with the next version.
    fn snapshot(&mut self, scope: &str, key: &str, body: String) -> Snapshot {
        self.version += 1;
        Snapshot {
            scope: scope.to_string(),
            key: key.to_string(),
            version: self.version,
            body,
        }
    }

    /// What paper fills have moved in each asset.
    pub fn paper_settled(&self) -> &BTreeMap<String, Decimal> {
        &self.paper_settled
    }

    /// The pipeline's position in `symbol`.
    pub fn position(&self, pipeline_id: &str, symbol: &str) -> Position {
        self.positions
            .get(&(pipeline_id.to_string(), symbol.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Every pipeline's position in every symbol it traded.
    pub fn positions(&self) -> impl Iterator<Item = (&(String, String), &Position)> {
        self.positions.iter()
    }

    /// Sets the pipeline's quantity in `symbol` (a resync with its venue)
    /// and returns the snapshot to save.
    pub fn set_quantity(&mut self, pipeline_id: &str, symbol: &str, quantity: Decimal) -> Snapshot {
        let key = (pipeline_id.to_string(), symbol.to_string());
        let position = self.positions.entry(key).or_default();
        position.quantity = quantity;
        if quantity.is_zero() {
            position.average_cost = Decimal::ZERO;
        }
        let saved = SavedPosition {
            pipeline_id: pipeline_id.to_string(),
            symbol: symbol.to_string(),
            position: *position,
        };
        let key = format!("{pipeline_id}/{symbol}");
        self.snapshot(POSITION_SCOPE, &key, json(&saved))
    }

    /// The pipeline's positions in every symbol.
    pub fn positions_of<'a>(&'a self, pipeline_id: &'a str) -> impl Iterator<Item = &'a Position> {
        self.positions
            .iter()
            .filter(move |((p, _), _)| p == pipeline_id)
            .map(|(_, position)| position)
    }
}

/// `value` as JSON (maps of strings and decimals always serialize).
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

//! The desk's running totals, kept in the store: what paper fills have
//! moved in each asset, and every pipeline's position in each symbol. The
//! store books an order change's new fills into them inside the write that
//! saves the change (see [`Bookkeeping`]), so that replicas sharing one
//! database book one after the other and every fill is booked once; every
//! reader reads them from there.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    market::{instrument::InstrumentKind, margin::Leverage, position::Position},
    model::order::{Fill, Order},
    orders::exchanges::paper::{PaperPerp, perp_settlement, settlement},
    store::{Bookkeeping, OrderQuery, Snapshot, Store, StoreError, TotalKey, walk_orders},
};

/// Scope of the paper exchange's settled balance changes: what fills moved
/// in each asset, summed over [`PAPER_SHARDS`] rows (and the one row
/// `paper` of databases from before the shards). Every paper fill books
/// into one of them, by its order's id: writers on several replicas then
/// wait on one another's row locks a sixteenth as often.
const PAPER_SCOPE: &str = "paper.settled";
/// How many rows the paper balances are booked over.
const PAPER_SHARDS: u32 = 16;
/// Scope of the paper exchange's perpetuals (one row per symbol: the
/// position and its leverage). Unsharded: a perpetual fill realises
/// profit from the position before it.
const PERP_SCOPE: &str = "paper.perp";
/// Scope of pipeline positions (one row per pipeline and symbol).
const POSITION_SCOPE: &str = "pipeline.position";
/// Scope of the row that says whether the totals were built from the
/// order history yet (databases made before they existed were not).
const BUILT_SCOPE: &str = "ledger";

/// A position as it is saved.
#[derive(Serialize, Deserialize, Default)]
struct SavedPosition {
    pipeline_id: String,
    symbol: String,
    #[serde(flatten)]
    position: Position,
}

/// What paper fills have added to (negative: taken from) each asset.
pub(super) type Settled = BTreeMap<String, Decimal>;

/// The paper exchange's perpetuals, by symbol.
pub(super) type Perps = BTreeMap<String, PaperPerp>;

/// Books fills into the totals; `paper` names the paper exchange.
pub(super) struct Ledger {
    paper: String,
}

impl Bookkeeping for Ledger {
    fn totals(&self, order: &Order) -> Vec<TotalKey> {
        let mut totals = Vec::with_capacity(3);
        if order.exchange == self.paper {
            totals.push((PAPER_SCOPE.to_string(), paper_shard(&order.id)));
            if is_perpetual(order) {
                totals.push((PERP_SCOPE.to_string(), order.symbol().to_string()));
            }
        }
        if !order.origin.pipeline_id.is_empty() {
            let key = position_key(&order.origin.pipeline_id, order.symbol());
            totals.push((POSITION_SCOPE.to_string(), key));
        }
        totals
    }

    fn book(
        &self,
        order: &Order,
        booked: usize,
        current: Vec<Option<String>>,
    ) -> Result<Vec<String>, StoreError> {
        let fills = order.fills.get(booked..).unwrap_or_default();
        let (side, instrument) = (order.side, &order.instrument);
        let mut current = current.into_iter();
        let mut booked = Vec::with_capacity(3);
        if order.exchange == self.paper {
            let mut settled: Settled = parse(current.next().flatten(), "paper balances")?;
            if is_perpetual(order) {
                let mut perp: PaperPerp = parse(current.next().flatten(), "perpetual")?;
                for fill in fills {
                    let assets = (instrument.base.as_str(), instrument.quote.as_str());
                    let change = perp_settlement(&mut perp, assets, side, fill);
                    *settled.entry(instrument.quote.clone()).or_default() += change;
                }
                booked.push(json(&settled));
                booked.push(json(&perp));
            } else {
                for fill in fills {
                    for (asset, change) in
                        settlement(side, &instrument.base, &instrument.quote, fill)
                    {
                        *settled.entry(asset).or_default() += change;
                    }
                }
                booked.push(json(&settled));
            }
        }
        if !order.origin.pipeline_id.is_empty() {
            let mut saved: SavedPosition = parse(current.next().flatten(), "position")?;
            saved.pipeline_id = order.origin.pipeline_id.clone();
            saved.symbol = order.symbol().to_string();
            for fill in fills {
                book_fill(&mut saved.position, order, fill);
            }
            booked.push(json(&saved));
        }
        Ok(booked)
    }
}

impl Ledger {
    /// The ledger of a desk whose paper exchange is named `paper`. The
    /// first time on a database that has orders from before the totals
    /// existed, it books every stored order once and saves the result.
    pub async fn open(store: &dyn Store, paper: &str) -> Result<Self, StoreError> {
        let ledger = Self {
            paper: paper.to_string(),
        };
        let built = store.snapshots(BUILT_SCOPE, "").await?;
        if built.iter().any(|s| s.version <= 0) {
            ledger.build(store).await?;
        }
        Ok(ledger)
    }

    /// Books the whole order history into fresh totals and saves them.
    async fn build(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut totals: HashMap<TotalKey, String> = HashMap::new();
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
            let keys = self.totals(&order);
            let current = keys.iter().map(|key| totals.remove(key)).collect();
            let bodies = self.book(&order, 0, current)?;
            totals.extend(keys.into_iter().zip(bodies));
        }
        let snapshot = |(scope, key), body| Snapshot {
            scope,
            key,
            version: 1,
            body,
        };
        let mut snapshots: Vec<_> = totals.into_iter().map(|(k, b)| snapshot(k, b)).collect();
        let built = (BUILT_SCOPE.to_string(), "built".to_string());
        snapshots.push(snapshot(built, json(&true)));
        store.save_snapshots(&snapshots).await
    }
}

/// What paper fills have moved in each asset.
pub(super) async fn paper_settled(store: &dyn Store) -> Result<Settled, StoreError> {
    let mut settled = Settled::new();
    for shard in store.snapshots(PAPER_SCOPE, "").await? {
        let moved: Settled = parse(Some(shard.body), "paper balances")?;
        for (asset, change) in moved {
            *settled.entry(asset).or_default() += change;
        }
    }
    Ok(settled)
}

/// The paper exchange's perpetuals, by symbol.
pub(super) async fn paper_perps(store: &dyn Store) -> Result<Perps, StoreError> {
    let mut perps = Perps::new();
    for row in store.snapshots(PERP_SCOPE, "").await? {
        perps.insert(row.key, parse(Some(row.body), "perpetual")?);
    }
    Ok(perps)
}

/// Books one of `order`'s fills into a position of its pipeline.
pub(super) fn book_fill(position: &mut Position, order: &Order, fill: &Fill) {
    // The position holds what the account holds: a fee taken in the base
    // asset is paid for at the fill's notional.
    let moved = fill.base_moved(order.side, &order.instrument.base);
    if moved > Decimal::ZERO {
        let price = (fill.price * fill.quantity / moved).round_dp(12);
        position.apply(order.side, moved, price, fill.time_ms);
    }
}

/// Saves the leverage of a paper perpetual (what the paper exchange
/// restores with its position).
pub(super) async fn set_paper_leverage(
    store: &dyn Store,
    symbol: &str,
    leverage: Leverage,
) -> Result<(), StoreError> {
    let adjustment = Box::new(move |current: Option<&str>| {
        let mut perp: PaperPerp = parse(current.map(str::to_string), "perpetual")?;
        perp.leverage = Some(leverage);
        Ok(json(&perp))
    });
    store.adjust_total(PERP_SCOPE, symbol, adjustment).await
}

/// Whether `order` trades a perpetual.
fn is_perpetual(order: &Order) -> bool {
    order.instrument.kind == InstrumentKind::Perpetual
}

/// The row of the paper balances that the fills of order `id` book into.
fn paper_shard(id: &str) -> String {
    let hash = id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    format!("shard-{:02}", hash % PAPER_SHARDS)
}

/// The positions of `pipeline_id` (every pipeline's: empty), as
/// (pipeline id, symbol, position).
pub(super) async fn positions(
    store: &dyn Store,
    pipeline_id: &str,
) -> Result<Vec<(String, String, Position)>, StoreError> {
    let prefix = if pipeline_id.is_empty() {
        String::new()
    } else {
        position_key(pipeline_id, "")
    };
    let mut positions = Vec::new();
    for snapshot in store.snapshots(POSITION_SCOPE, &prefix).await? {
        let saved: SavedPosition = parse(Some(snapshot.body), "position")?;
        if pipeline_id.is_empty() || saved.pipeline_id == pipeline_id {
            positions.push((saved.pipeline_id, saved.symbol, saved.position));
        }
    }
    Ok(positions)
}

/// Sets the pipeline's quantity in `symbol` (a resync with its venue).
pub(super) async fn set_quantity(
    store: &dyn Store,
    pipeline_id: &str,
    symbol: &str,
    quantity: Decimal,
) -> Result<(), StoreError> {
    let (pipeline, symbol_name) = (pipeline_id.to_string(), symbol.to_string());
    let adjustment = Box::new(move |current: Option<&str>| {
        let mut saved: SavedPosition = parse(current.map(str::to_string), "position")?;
        saved.pipeline_id = pipeline;
        saved.symbol = symbol_name;
        saved.position.quantity = quantity;
        if quantity.is_zero() {
            saved.position.average_cost = Decimal::ZERO;
        }
        Ok(json(&saved))
    });
    let key = position_key(pipeline_id, symbol);
    store.adjust_total(POSITION_SCOPE, &key, adjustment).await
}

/// The key of a pipeline's position in `symbol`.
fn position_key(pipeline_id: &str, symbol: &str) -> String {
    format!("{pipeline_id}/{symbol}")
}

/// A saved total (`None`: none yet, the default).
fn parse<T: DeserializeOwned + Default>(body: Option<String>, what: &str) -> Result<T, StoreError> {
    match body {
        Some(body) => serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("saved {what} cannot be read: {e}"))),
        None => Ok(T::default()),
    }
}

/// `value` as JSON (maps of strings and decimals always serialize).
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

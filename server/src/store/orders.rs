//! Orders: their full record, found by id, client order id or the
//! PlaceOrder `request_id`.

use super::{AuditRow, StoreError};
use crate::{
    market::side::Side,
    model::order::{Order, OrderStatus},
};
use async_trait::async_trait;
use std::sync::Arc;

/// What inserting an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderInsert {
    Inserted,
    /// An order with this `request_id` or client order id exists: here it is.
    Existing(Box<Order>),
}

/// Filter and page for listing orders, newest first.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub statuses: Vec<OrderStatus>,
    pub side: Option<Side>,
    pub execution_id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Running state kept beside the orders (a paper balance sheet, a
/// pipeline's position), moved by their fills. Each is one row, named by
/// scope and key, with a version that counts its changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub scope: String,
    pub key: String,
    pub version: i64,
    /// The state, as JSON.
    pub body: String,
}

/// Names a running total: its scope and key.
pub type TotalKey = (String, String);

/// Books fills into running totals. The store calls it inside the write
/// that saves an order change, with the totals it names read and locked
/// there, so that writers on several replicas book one after the other
/// and every fill is booked once.
pub trait Bookkeeping: Send + Sync + 'static {
    /// The totals the fills of `order` move.
    fn totals(&self, order: &Order) -> Vec<TotalKey>;
    /// The totals after booking `order.fills[booked..]`: `current` holds
    /// the stored body of each of [`Bookkeeping::totals`] (`None`: none
    /// yet), in that order; the answer holds the new ones, in that order.
    fn book(
        &self,
        order: &Order,
        booked: usize,
        current: Vec<Option<String>>,
    ) -> Result<Vec<String>, StoreError>;
}

/// A change to one running total, worked out from its stored body
/// (`None`: none yet) inside the write that saves it.
pub type Adjustment = Box<dyn FnOnce(Option<&str>) -> Result<String, StoreError> + Send>;

/// What saving an order change did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderUpdate {
    /// Saved, with its audit events (chained).
    Saved(Vec<AuditRow>),
    /// Not saved: the stored order is ahead of this copy (see
    /// [`Order::is_behind`]). Here it is.
    Behind(Box<Order>),
}

/// What an update of `order` does, given the stored copy: the number of
/// its fills already booked, or the stored copy it is behind.
pub(crate) fn booked_fills(order: &Order, stored: Option<Order>) -> Result<usize, Box<Order>> {
    match stored {
        Some(stored) if order.is_behind(&stored) => Err(Box::new(stored)),
        Some(stored) => Ok(stored.fills.len()),
        None => Ok(0),
    }
}

/// Storage of orders.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Stores new orders, each with its optional `request_id`, in one
    /// transaction (orders placed together, like the legs of an OCO
    /// group): all of them, or none when one with a given `request_id` or
    /// client order id exists (then the first such is returned).
    async fn insert_orders(
        &self,
        orders: &[(&Order, Option<&str>)],
    ) -> Result<OrderInsert, StoreError>;
    /// Stores a new order, unless one with its `request_id` or client
    /// order id exists.
    async fn insert_order(
        &self,
        order: &Order,
        request_id: Option<&str>,
    ) -> Result<OrderInsert, StoreError> {
        self.insert_orders(&[(order, request_id)]).await
    }
    /// Saves an order's new state unless the stored copy is ahead of it
    /// and, in the same transaction, books its new fills (those beyond the
    /// stored copy's) with `books` and appends the audit events that
    /// report it.
    async fn update_order(
        &self,
        order: &Order,
        books: Arc<dyn Bookkeeping>,
        audit: Vec<AuditRow>,
    ) -> Result<OrderUpdate, StoreError>;
    /// Changes one running total, read and written in one transaction.
    async fn adjust_total(
        &self,
        scope: &str,
        key: &str,
        adjustment: Adjustment,
    ) -> Result<(), StoreError>;
    /// Saves snapshots on their own, each only over an older version.
    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError>;
    /// The snapshots of `scope` whose keys start with `key_prefix`.
    async fn snapshots(&self, scope: &str, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError>;
    /// One order by id.
    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError>;
    /// The order a PlaceOrder `request_id` created, if any.
    async fn order_for_request(&self, request_id: &str) -> Result<Option<Order>, StoreError>;
    /// Orders matching `query`, newest first.
    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError>;
    /// How many orders the executions of `pipeline_id` placed since
    /// `since_ms` under their own request id (`request_prefix` followed by
    /// the execution's id): not the protective orders placed for them.
    async fn count_pipeline_orders(
        &self,
        pipeline_id: &str,
        since_ms: i64,
        request_prefix: &str,
    ) -> Result<u64, StoreError>;
}

/// Snapshots of `scope` from rows of key, version and body.
pub(crate) fn snapshot_rows(scope: &str, rows: Vec<(String, i64, String)>) -> Vec<Snapshot> {
    rows.into_iter()
        .map(|(key, version, body)| Snapshot {
            scope: scope.to_string(),
            key,
            version,
            body,
        })
        .collect()
}

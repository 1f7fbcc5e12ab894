//! Orders: their full record, found by id, client order id or the
//! PlaceOrder `request_id`.

use super::{AuditRow, StoreError};
use crate::{
    market::side::Side,
    model::order::{Order, OrderStatus},
};
use async_trait::async_trait;

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
/// pipeline's position) and written in the same transaction as the order
/// change it follows, so that start-up reads it instead of every order.
/// A snapshot replaces the stored one only when its version is higher:
/// writes that commit out of order cannot take it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub scope: String,
    pub key: String,
    pub version: i64,
    /// The state, as JSON.
    pub body: String,
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
    /// Saves an order's new state and, in the same transaction, the
    /// snapshots that follow from it and the audit events that report it
    /// (returned chained).
    async fn update_order(
        &self,
        order: &Order,
        snapshots: &[Snapshot],
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError>;
    /// Saves snapshots on their own.
    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError>;
    /// Every snapshot of `scope`.
    async fn snapshots(&self, scope: &str) -> Result<Vec<Snapshot>, StoreError>;
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

//! Orders: their full record, found by id, client order id or the
//! PlaceOrder `request_id`.

use async_trait::async_trait;
use tradeplane_api::Order;

use super::StoreError;

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
    pub statuses: Vec<i32>,
    pub side: Option<i32>,
    pub execution_id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only ids strictly below this one (the page cursor).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Storage of orders.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Stores a new order, unless one with its `request_id` or client
    /// order id exists.
    async fn insert_order(
        &self,
        order: &Order,
        request_id: Option<&str>,
    ) -> Result<OrderInsert, StoreError>;
    /// Saves an order's new state.
    async fn update_order(&self, order: &Order) -> Result<(), StoreError>;
    /// One order by id.
    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError>;
    /// The order a PlaceOrder `request_id` created, if any.
    async fn order_for_request(&self, request_id: &str) -> Result<Option<Order>, StoreError>;
    /// Orders matching `query`, newest first.
    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError>;
}

//! Walks over every order matching a filter, for rebuilding state at
//! start-up from open and recent orders (never from the whole history).

use crate::model::order::Order;

use super::{OrderQuery, OrderStore, StoreError};

/// Rows read per page.
const WALK_PAGE: u32 = 1000;

/// Every order matching `filter` (its page fields are ignored), oldest
/// first.
pub async fn walk_orders(
    store: &dyn OrderStore,
    filter: OrderQuery,
) -> Result<Vec<Order>, StoreError> {
    let mut all: Vec<Order> = Vec::new();
    loop {
        let query = OrderQuery {
            before_id: all.last().map(|o| o.id.clone()),
            limit: WALK_PAGE,
            ..filter.clone()
        };
        let rows = store.list_orders(&query).await?;
        if rows.is_empty() {
            break;
        }
        all.extend(rows);
    }
    all.reverse();
    Ok(all)
}

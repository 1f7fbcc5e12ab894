//! Whole-table walks for rebuilding state at start-up.

use tradeplane_api::{Execution, Order};

use super::{ExecutionQuery, ExecutionQueue, OrderQuery, OrderStore, StoreError};

/// Rows read per page when a whole table is walked.
const WALK_PAGE: u32 = 1000;

/// Every order, oldest first (for rebuilding state at start-up).
pub async fn all_orders(store: &dyn OrderStore) -> Result<Vec<Order>, StoreError> {
    walk(
        |before_id| async move {
            let query = OrderQuery {
                before_id,
                limit: WALK_PAGE,
                ..Default::default()
            };
            store.list_orders(&query).await
        },
        |o| &o.id,
    )
    .await
}

/// Every execution, oldest first (for rebuilding state at start-up).
pub async fn all_executions(store: &dyn ExecutionQueue) -> Result<Vec<Execution>, StoreError> {
    walk(
        |before_id| async move {
            let query = ExecutionQuery {
                before_id,
                limit: WALK_PAGE,
                ..Default::default()
            };
            store.list_executions(&query).await
        },
        |e| &e.id,
    )
    .await
}

/// Reads newest-first pages (each before the last id seen) until one is
/// empty; returns the rows oldest first.
async fn walk<T, Page, Next>(page: Page, id: fn(&T) -> &String) -> Result<Vec<T>, StoreError>
where
    Page: Fn(Option<String>) -> Next,
    Next: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut all: Vec<T> = Vec::new();
    loop {
        let rows = page(all.last().map(|row| id(row).clone())).await?;
        if rows.is_empty() {
            break;
        }
        all.extend(rows);
    }
    all.reverse();
    Ok(all)
}

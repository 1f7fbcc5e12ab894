//! Orders: inserts that are idempotent across replicas, updates that
//! commit with their snapshots and audit events, and reads.
//!
//! An insert never checks before it writes: `ON CONFLICT DO NOTHING` lets
//! the unique constraints on `client_order_id` and `request_id` decide,
//! and when one of them refuses a member of the group (because another
//! replica committed it first, waiting for that commit if need be), the
//! group is rolled back and the order that holds the key is returned.

use crate::store::lists;
use async_trait::async_trait;
use prost::Message;
use sqlx::{PgConnection, Postgres};
use std::{collections::HashMap, sync::Arc};
use tradeplane_api as pb;

use super::PostgresStore;
use crate::{
    codec::enums::Mirrored,
    model::order::Order,
    store::{
        Adjustment, AuditRow, Bookkeeping, OrderInsert, OrderQuery, OrderStore, OrderUpdate,
        Snapshot, StoreError, TotalKey,
        orders::{booked_fills, snapshot_rows},
        query::{decode, fetch_bodies, fetch_body},
    },
};

#[async_trait]
impl OrderStore for PostgresStore {
    async fn insert_orders(
        &self,
        orders: &[(&Order, Option<&str>)],
    ) -> Result<OrderInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        for &(order, request_id) in orders {
            let inserted = sqlx::query(
                "INSERT INTO orders (id, client_order_id, request_id, exchange, symbol, side, \
                 status, execution_id, pipeline_id, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(&order.id)
            .bind(&order.client_order_id)
            .bind(request_id)
            .bind(&order.exchange)
            .bind(order.symbol())
            .bind(order.side.number())
            .bind(order.status.number())
            .bind(&order.origin.execution_id)
            .bind(&order.origin.pipeline_id)
            .bind(pb::Order::from(order).encode_to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Each statement reads the latest commits, so the
                // conflicting order, committed or earlier in this group,
                // is visible here.
                let existing = holder_of(&mut tx, order, request_id).await?;
                tx.rollback().await?;
                return Ok(OrderInsert::Existing(Box::new(existing)));
            }
        }
        tx.commit().await?;
        Ok(OrderInsert::Inserted)
    }

    async fn update_order(
        &self,
        order: &Order,
        books: Arc<dyn Bookkeeping>,
        audit: Vec<AuditRow>,
    ) -> Result<OrderUpdate, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row lock orders this write after any other of this order's.
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM orders WHERE id = $1 FOR UPDATE")
                .bind(&order.id)
                .fetch_optional(&mut *tx)
                .await?;
        let stored = stored
            .map(|body| decode::<pb::Order, _>("order", &body))
            .transpose()?;
        let booked = match booked_fills(order, stored) {
            Ok(booked) => booked,
            Err(ahead) => return Ok(OrderUpdate::Behind(ahead)),
        };
        if order.fills.len() > booked {
            let totals = books.totals(order);
            // Locked in one order by every writer: no deadlock.
            let mut locking: Vec<&TotalKey> = totals.iter().collect();
            locking.sort();
            let mut locked = HashMap::new();
            for total in locking {
                locked.insert(total, lock_total(&mut tx, &total.0, &total.1).await?);
            }
            let current = totals
                .iter()
                .map(|total| locked.remove(total).flatten())
                .collect();
            let bodies = books.book(order, booked, current)?;
            for ((scope, key), body) in totals.iter().zip(bodies) {
                write_total(&mut tx, scope, key, &body).await?;
            }
        }
        sqlx::query("UPDATE orders SET status = $2, body = $3 WHERE id = $1")
            .bind(&order.id)
            .bind(order.status.number())
            .bind(pb::Order::from(order).encode_to_vec())
            .execute(&mut *tx)
            .await?;
        let audit = super::audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(OrderUpdate::Saved(audit))
    }

    async fn adjust_total(
        &self,
        scope: &str,
        key: &str,
        adjustment: Adjustment,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let current = lock_total(&mut tx, scope, key).await?;
        let body = adjustment(current.as_deref())?;
        write_total(&mut tx, scope, key, &body).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        save_snapshots(&mut tx, snapshots).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn snapshots(&self, scope: &str, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT key, version, body FROM snapshots WHERE scope = $1 AND starts_with(key, $2)",
        )
        .bind(scope)
        .bind(key_prefix)
        .fetch_all(&self.pool)
        .await?;
        Ok(snapshot_rows(scope, rows))
    }

    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        fetch_body::<_, pb::Order, _>(&self.pool, "orders", id, "order").await
    }

    async fn order_for_request(&self, request_id: &str) -> Result<Option<Order>, StoreError> {
        let body: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM orders WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
        body.map(|body| decode::<pb::Order, _>("order", &body))
            .transpose()
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError> {
        fetch_bodies::<_, pb::Order, _>(lists::orders::<Postgres>(query), &self.pool, "order").await
    }

    async fn count_pipeline_orders(
        &self,
        pipeline_id: &str,
        since_ms: i64,
        request_prefix: &str,
    ) -> Result<u64, StoreError> {
        let count: i64 =
            lists::pipeline_orders_since::<Postgres>(pipeline_id, since_ms, request_prefix)
                .build_query_scalar()
                .fetch_one(&self.pool)
                .await?;
        Ok(count.max(0) as u64)
    }
}

/// The first stored order that holds `order`'s client order id or
/// `request_id`: the one an insert of `order` conflicted with.
async fn holder_of(
    tx: &mut PgConnection,
    order: &Order,
    request_id: Option<&str>,
) -> Result<Order, StoreError> {
    let body: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM orders WHERE client_order_id = $1 OR request_id = $2 \
         ORDER BY id LIMIT 1",
    )
    .bind(&order.client_order_id)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let body = body.ok_or_else(|| {
        StoreError::Unavailable(format!(
            "order {} conflicts with a stored order by id only",
            order.id
        ))
    })?;
    decode::<pb::Order, _>("order", &body)
}

/// Upserts snapshots inside the caller's transaction, each only over an
/// older version: the row lock the upsert takes makes concurrent writers
/// of one snapshot compare versions one after the other.
async fn save_snapshots(tx: &mut PgConnection, snapshots: &[Snapshot]) -> Result<(), StoreError> {
    for snapshot in snapshots {
        sqlx::query(
            "INSERT INTO snapshots (scope, key, version, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope, key) DO UPDATE SET version = excluded.version, \
             body = excluded.body WHERE excluded.version > snapshots.version",
        )
        .bind(&snapshot.scope)
        .bind(&snapshot.key)
        .bind(snapshot.version)
        .bind(&snapshot.body)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Locks a running total for the rest of the transaction (creating its
/// row, empty, if it has none yet) and returns its body (`None`: none yet).
/// One statement: the upsert's no-op update takes the row's lock.
async fn lock_total(
    tx: &mut PgConnection,
    scope: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    let body: String = sqlx::query_scalar(
        "INSERT INTO snapshots AS s (scope, key, version, body) VALUES ($1, $2, 0, '') \
         ON CONFLICT (scope, key) DO UPDATE SET version = s.version RETURNING s.body",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Some(body).filter(|body| !body.is_empty()))
}

/// Saves a locked running total's new body as its next version.
async fn write_total(
    tx: &mut PgConnection,
    scope: &str,
    key: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE snapshots SET version = version + 1, body = $3 WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(body)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

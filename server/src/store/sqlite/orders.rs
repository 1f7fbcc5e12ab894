//! Orders: idempotent insert, updates and reads.

use crate::store::lists;
use async_trait::async_trait;
use prost::Message;
use rusqlite::OptionalExtension;
use sqlx::Sqlite;
use std::sync::Arc;
use tradeplane_api as pb;

use super::SqliteStore;
use crate::store::query::{decode, fetch_bodies, fetch_body};
use crate::{
    codec::enums::Mirrored,
    model::order::Order,
    store::{
        Adjustment, AuditRow, Bookkeeping, OrderInsert, OrderQuery, OrderStore, OrderUpdate,
        Snapshot, StoreError,
        orders::{booked_fills, snapshot_rows},
    },
};

/// An order's columns, computed on the calling thread.
struct OrderRow {
    id: String,
    client_order_id: String,
    exchange: String,
    symbol: String,
    side: i32,
    status: i32,
    execution_id: String,
    pipeline_id: String,
    body: Vec<u8>,
}

impl OrderRow {
    fn new(order: &Order) -> Self {
        Self {
            id: order.id.clone(),
            client_order_id: order.client_order_id.clone(),
            exchange: order.exchange.clone(),
            symbol: order.symbol().to_string(),
            side: order.side.number(),
            status: order.status.number(),
            execution_id: order.origin.execution_id.clone(),
            pipeline_id: order.origin.pipeline_id.clone(),
            body: pb::Order::from(order).encode_to_vec(),
        }
    }
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn insert_orders(
        &self,
        orders: &[(&Order, Option<&str>)],
    ) -> Result<OrderInsert, StoreError> {
        let rows: Vec<(OrderRow, Option<String>)> = orders
            .iter()
            .map(|(order, request_id)| (OrderRow::new(order), request_id.map(str::to_string)))
            .collect();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            for (row, request_id) in rows {
            let existing: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT body FROM orders WHERE client_order_id = ?1 OR (?2 IS NOT NULL AND request_id = ?2)",
                    rusqlite::params![row.client_order_id, request_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(body) = existing {
                return Ok(OrderInsert::Existing(Box::new(decode::<pb::Order, _>(
                    "order", &body,
                )?)));
            }
            tx.execute(
                "INSERT INTO orders (id, client_order_id, request_id, exchange, symbol, side, status, execution_id, pipeline_id, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![
                    row.id,
                    row.client_order_id,
                    request_id,
                    row.exchange,
                    row.symbol,
                    row.side,
                    row.status,
                    row.execution_id,
                    row.pipeline_id,
                    row.body
                ],
            )?;
            }
            tx.commit()?;
            Ok(OrderInsert::Inserted)
        })
        .await
    }

    async fn update_order(
        &self,
        order: &Order,
        books: Arc<dyn Bookkeeping>,
        audit: Vec<AuditRow>,
    ) -> Result<OrderUpdate, StoreError> {
        let row = OrderRow::new(order);
        let order = order.clone();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let stored: Option<Vec<u8>> = tx
                .query_row("SELECT body FROM orders WHERE id = ?1", [&row.id], |r| {
                    r.get(0)
                })
                .optional()?;
            let stored = stored
                .map(|body| decode::<pb::Order, _>("order", &body))
                .transpose()?;
            let booked = match booked_fills(&order, stored) {
                Ok(booked) => booked,
                Err(ahead) => return Ok(OrderUpdate::Behind(ahead)),
            };
            if order.fills.len() > booked {
                let totals = books.totals(&order);
                let mut current = Vec::with_capacity(totals.len());
                for (scope, key) in &totals {
                    current.push(read_total(&tx, scope, key)?.map(|(_, body)| body));
                }
                let bodies = books.book(&order, booked, current)?;
                for ((scope, key), body) in totals.iter().zip(bodies) {
                    write_total(&tx, scope, key, &body)?;
                }
            }
            tx.execute(
                "UPDATE orders SET status = ?2, body = ?3 WHERE id = ?1",
                rusqlite::params![row.id, row.status, row.body],
            )?;
            let audit = super::audit::append(&tx, audit)?;
            tx.commit()?;
            Ok(OrderUpdate::Saved(audit))
        })
        .await
    }

    async fn adjust_total(
        &self,
        scope: &str,
        key: &str,
        adjustment: Adjustment,
    ) -> Result<(), StoreError> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let current = read_total(&tx, &scope, &key)?;
            let body = adjustment(current.as_ref().map(|(_, body)| body.as_str()))?;
            write_total(&tx, &scope, &key, &body)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        let snapshots = snapshots.to_vec();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            save_snapshots(&tx, &snapshots)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn snapshots(&self, scope: &str, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT key, version, body FROM snapshots \
             WHERE scope = ?1 AND substr(key, 1, length(?2)) = ?2",
        )
        .bind(scope)
        .bind(key_prefix)
        .fetch_all(&self.readers)
        .await?;
        Ok(snapshot_rows(scope, rows))
    }

    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        fetch_body::<_, pb::Order, _>(&self.readers, "orders", id, "order").await
    }

    async fn order_for_request(&self, request_id: &str) -> Result<Option<Order>, StoreError> {
        let body: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM orders WHERE request_id = ?")
                .bind(request_id)
                .fetch_optional(&self.readers)
                .await?;
        body.map(|body| decode::<pb::Order, _>("order", &body))
            .transpose()
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError> {
        fetch_bodies::<_, pb::Order, _>(lists::orders::<Sqlite>(query), &self.readers, "order")
            .await
    }

    async fn count_pipeline_orders(
        &self,
        pipeline_id: &str,
        since_ms: i64,
        request_prefix: &str,
    ) -> Result<u64, StoreError> {
        let count: i64 =
            lists::pipeline_orders_since::<Sqlite>(pipeline_id, since_ms, request_prefix)
                .build_query_scalar()
                .fetch_one(&self.readers)
                .await?;
        Ok(count.max(0) as u64)
    }
}

/// Upserts snapshots, each only over an older version.
fn save_snapshots(conn: &rusqlite::Connection, snapshots: &[Snapshot]) -> Result<(), StoreError> {
    for snapshot in snapshots {
        conn.execute(
            "INSERT INTO snapshots (scope, key, version, body) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope, key) DO UPDATE SET version = excluded.version, body = excluded.body \
             WHERE excluded.version > snapshots.version",
            rusqlite::params![snapshot.scope, snapshot.key, snapshot.version, snapshot.body],
        )?;
    }
    Ok(())
}

/// A running total's version and body, if it has been saved.
fn read_total(
    conn: &rusqlite::Connection,
    scope: &str,
    key: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT version, body FROM snapshots WHERE scope = ?1 AND key = ?2",
            [scope, key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Saves a running total's new body as its next version.
fn write_total(
    conn: &rusqlite::Connection,
    scope: &str,
    key: &str,
    body: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO snapshots (scope, key, version, body) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (scope, key) DO UPDATE SET version = snapshots.version + 1, body = excluded.body",
        [scope, key, body],
    )?;
    Ok(())
}

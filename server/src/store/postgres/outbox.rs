//! The notification outbox on PostgreSQL, shared by every replica.
//! Queuing is one transaction: the deliveries (a delivery already there
//! is kept, `ON CONFLICT DO NOTHING`) and the cursor, which only moves
//! forward. A claim is one statement that locks the oldest due
//! deliveries with `FOR UPDATE SKIP LOCKED` and leases them: a delivery
//! another replica is claiming right now is passed over, and one it has
//! claimed no longer matches once its lease is re-read, so no two claims
//! take the same delivery.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Postgres};

use super::PostgresStore;
use crate::store::{
    Delivery, DeliveryQuery, DeliveryState, NewDelivery, OutboxDepth, OutboxStore, Settlement,
    StoreError,
    deliveries::{self, SETTLE_SQL, claim_sql, delivery_row, settled},
};

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn outbox_cursor(&self) -> Result<i64, StoreError> {
        deliveries::outbox_cursor::<Postgres>(&self.pool).await
    }

    async fn queue_deliveries(
        &self,
        through: i64,
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if !deliveries.is_empty() {
            let sequences: Vec<i64> = deliveries.iter().map(|d| d.sequence).collect();
            let subscriptions: Vec<&str> =
                deliveries.iter().map(|d| d.subscription.as_str()).collect();
            let bodies: Vec<&str> = deliveries.iter().map(|d| d.body.as_str()).collect();
            let created: Vec<i64> = deliveries.iter().map(|d| d.created_ms).collect();
            sqlx::query(
                "INSERT INTO outbox_deliveries \
                 (sequence, subscription, state, next_attempt_ms, body, created_ms) \
                 SELECT q.sequence, q.subscription, $5, q.created_ms, q.body, q.created_ms \
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[]) \
                 AS q (sequence, subscription, body, created_ms) \
                 ON CONFLICT (sequence, subscription) DO NOTHING",
            )
            .bind(sequences)
            .bind(subscriptions)
            .bind(bodies)
            .bind(created)
            .bind(DeliveryState::Pending.word())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE outbox_cursor SET sequence = GREATEST(sequence, $1) WHERE id = 1")
            .bind(through)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(claim_sql("FOR UPDATE SKIP LOCKED")))
            .bind(DeliveryState::Pending.word())
            .bind(now_ms)
            .bind(i64::from(limit))
            .bind(lease_until_ms)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows
            .iter()
            .map(delivery_row)
            .collect::<Result<Vec<_>, _>>()?;
        deliveries::oldest_first(&mut claimed);
        Ok(claimed)
    }

    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        let (state, next_attempt_ms, error) = settled(settlement);
        let settled = sqlx::query(SETTLE_SQL)
            .bind(state.word())
            .bind(next_attempt_ms)
            .bind(error)
            .bind(claimed.sequence)
            .bind(&claimed.subscription)
            .bind(DeliveryState::Pending.word())
            .bind(claimed.lease_until_ms)
            .execute(&self.pool)
            .await?;
        Ok(settled.rows_affected() == 1)
    }

    async fn query_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        deliveries::query_deliveries::<Postgres>(&self.pool, query).await
    }

    async fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        deliveries::outbox_depth::<Postgres>(&self.pool).await
    }
}

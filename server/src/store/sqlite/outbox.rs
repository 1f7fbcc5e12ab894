//! The notification outbox. Writes run on the writer thread, each in its
//! batch's transaction, which SQLite holds with `BEGIN IMMEDIATE`: a claim
//! reads and leases its deliveries with no other writer in between, in
//! this process or another.

use async_trait::async_trait;
use rusqlite::params;
use sqlx::Sqlite;

use super::SqliteStore;
use crate::store::{
    Delivery, DeliveryQuery, DeliveryState, NewDelivery, OutboxDepth, OutboxStore, Settlement,
    StoreError,
    deliveries::{self, SETTLE_SQL, StoredDelivery, claim_sql, settled},
};

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_cursor(&self) -> Result<i64, StoreError> {
        deliveries::outbox_cursor::<Sqlite>(&self.readers).await
    }

    async fn queue_deliveries(
        &self,
        through: i64,
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError> {
        let deliveries = deliveries.to_vec();
        self.run(move |conn| {
            let mut insert = conn.prepare_cached(
                "INSERT INTO outbox_deliveries \
                 (sequence, subscription, state, next_attempt_ms, body, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?4) \
                 ON CONFLICT (sequence, subscription) DO NOTHING",
            )?;
            for delivery in &deliveries {
                insert.execute(params![
                    delivery.sequence,
                    delivery.subscription,
                    DeliveryState::Pending.word(),
                    delivery.created_ms,
                    delivery.body,
                ])?;
            }
            conn.execute(
                "UPDATE outbox_cursor SET sequence = MAX(sequence, ?1) WHERE id = 1",
                [through],
            )?;
            Ok(())
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.run(move |conn| {
            let mut claim = conn.prepare_cached(&claim_sql(""))?;
            let stored = claim
                .query_map(
                    params![
                        DeliveryState::Pending.word(),
                        now_ms,
                        i64::from(limit),
                        lease_until_ms,
                    ],
                    |row| {
                        Ok(StoredDelivery {
                            sequence: row.get(0)?,
                            subscription: row.get(1)?,
                            body: row.get(2)?,
                            state: row.get(3)?,
                            attempts: row.get(4)?,
                            next_attempt_ms: row.get(5)?,
                            last_error: row.get(6)?,
                            created_ms: row.get(7)?,
                            lease_until_ms: row.get(8)?,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let mut claimed = stored
                .into_iter()
                .map(StoredDelivery::into_delivery)
                .collect::<Result<Vec<_>, _>>()?;
            deliveries::oldest_first(&mut claimed);
            Ok(claimed)
        })
        .await
    }

    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        let (sequence, subscription, lease) = (
            claimed.sequence,
            claimed.subscription.clone(),
            claimed.lease_until_ms,
        );
        let (state, next_attempt_ms, error) = settled(settlement);
        let error = error.map(str::to_string);
        self.run(move |conn| {
            let settled = conn.execute(
                SETTLE_SQL,
                params![
                    state.word(),
                    next_attempt_ms,
                    error,
                    sequence,
                    subscription,
                    DeliveryState::Pending.word(),
                    lease,
                ],
            )?;
            Ok(settled == 1)
        })
        .await
    }

    async fn query_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        deliveries::query_deliveries::<Sqlite>(&self.readers, query).await
    }

    async fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        deliveries::outbox_depth::<Sqlite>(&self.readers).await
    }
}

//! Notification subscriptions: inserts (idempotent on `request_id`,
//! unique by name, both held by the table's constraints across replicas)
//! and deletes, each with its audit events in one transaction, and reads.

use async_trait::async_trait;
use prost::Message;
use sqlx::{Postgres, QueryBuilder};
use tradeplane_api::Subscription;

use super::{PostgresStore, audit};
use crate::store::query::{decode, fetch_bodies};
use crate::store::{AuditRow, StoreError, SubscriptionInsert, SubscriptionStore};

#[async_trait]
impl SubscriptionStore for PostgresStore {
    /// The insert skips any conflict; then a row of the same
    /// `request_id` (committed by a concurrent replay, which the insert
    /// waited for) is the replay, and otherwise the name is taken.
    async fn insert_subscription(
        &self,
        subscription: &Subscription,
        request_id: Option<&str>,
        events: Vec<AuditRow>,
    ) -> Result<SubscriptionInsert, StoreError> {
        let seen = |body: Vec<u8>| -> Result<SubscriptionInsert, StoreError> {
            let first = decode::<Subscription, _>("subscription", &body)?;
            Ok(SubscriptionInsert::RequestSeen(Box::new(first)))
        };
        let replay = "SELECT body FROM notify_subscriptions WHERE request_id = $1";
        let mut tx = self.pool.begin().await?;
        if let Some(body) = sqlx::query_scalar(replay)
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            return seen(body);
        }
        let inserted = sqlx::query(
            "INSERT INTO notify_subscriptions (name, request_id, body) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&subscription.name)
        .bind(request_id)
        .bind(subscription.encode_to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return match sqlx::query_scalar(replay)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?
            {
                Some(body) => seen(body),
                None => Ok(SubscriptionInsert::NameTaken),
            };
        }
        let events = audit::append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(SubscriptionInsert::Inserted(events))
    }

    async fn delete_subscription(
        &self,
        name: &str,
        events: Vec<AuditRow>,
    ) -> Result<Option<Vec<AuditRow>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM notify_subscriptions WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
        let events = audit::append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(Some(events))
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let sql =
            QueryBuilder::<Postgres>::new("SELECT body FROM notify_subscriptions ORDER BY name");
        fetch_bodies::<_, Subscription, _>(sql, &self.pool, "subscription").await
    }
}

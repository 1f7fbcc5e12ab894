//! Notification subscriptions: inserts (idempotent on `request_id`,
//! unique by name) and deletes, each with its audit events in one
//! transaction, and reads.

use async_trait::async_trait;
use prost::Message;
use rusqlite::{OptionalExtension, params};
use sqlx::{QueryBuilder, Sqlite};
use tradeplane_api::Subscription;

use super::{SqliteStore, audit};
use crate::store::query::{decode, fetch_bodies};
use crate::store::{AuditRow, StoreError, SubscriptionInsert, SubscriptionStore};

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn insert_subscription(
        &self,
        subscription: &Subscription,
        request_id: Option<&str>,
        events: Vec<AuditRow>,
    ) -> Result<SubscriptionInsert, StoreError> {
        let subscription = subscription.clone();
        let request_id = request_id.map(str::to_string);
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            if let Some(request_id) = &request_id {
                let seen: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT body FROM notify_subscriptions WHERE request_id = ?1",
                        [request_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(body) = seen {
                    return Ok(SubscriptionInsert::RequestSeen(Box::new(decode::<
                        Subscription,
                        _,
                    >(
                        "subscription",
                        &body,
                    )?)));
                }
            }
            let inserted = tx.execute(
                "INSERT INTO notify_subscriptions (name, request_id, body) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![subscription.name, request_id, subscription.encode_to_vec()],
            )?;
            if inserted == 0 {
                return Ok(SubscriptionInsert::NameTaken);
            }
            let events = audit::append(&tx, events)?;
            tx.commit()?;
            Ok(SubscriptionInsert::Inserted(events))
        })
        .await
    }

    async fn delete_subscription(
        &self,
        name: &str,
        events: Vec<AuditRow>,
    ) -> Result<Option<Vec<AuditRow>>, StoreError> {
        let name = name.to_string();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            if tx.execute("DELETE FROM notify_subscriptions WHERE name = ?1", [name])? == 0 {
                return Ok(None);
            }
            let events = audit::append(&tx, events)?;
            tx.commit()?;
            Ok(Some(events))
        })
        .await
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let sql =
            QueryBuilder::<Sqlite>::new("SELECT body FROM notify_subscriptions ORDER BY name");
        fetch_bodies::<_, Subscription, _>(sql, &self.readers, "subscription").await
    }
}

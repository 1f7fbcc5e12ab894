//! Notification subscriptions made through the API, unique by name. Each
//! is stored as its `tradeplane.v1.Subscription`, channel secrets
//! included: the store hands them only to the notifier, which shows them
//! redacted and never logs them. Creating and deleting one is audited in
//! the same transaction.

use async_trait::async_trait;
use tradeplane_api::Subscription;

use super::{AuditRow, StoreError};

/// What inserting a subscription did. (No `Debug`: it holds secrets.)
#[derive(Clone, PartialEq)]
pub enum SubscriptionInsert {
    /// Stored, with these audit events (chained).
    Inserted(Vec<AuditRow>),
    /// A subscription was already created for this `request_id`: here it
    /// is, as stored.
    RequestSeen(Box<Subscription>),
    /// Another stored subscription has this name.
    NameTaken,
}

/// Storage of the API's notification subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Stores `subscription` and appends `audit` (unchained) in one
    /// transaction, unless its `request_id` was seen (checked first, so
    /// that a replay always finds its subscription) or its name is taken.
    async fn insert_subscription(
        &self,
        subscription: &Subscription,
        request_id: Option<&str>,
        audit: Vec<AuditRow>,
    ) -> Result<SubscriptionInsert, StoreError>;
    /// Deletes the subscription `name` and appends `audit` in one
    /// transaction; `None` (and nothing appended) when there was none.
    async fn delete_subscription(
        &self,
        name: &str,
        audit: Vec<AuditRow>,
    ) -> Result<Option<Vec<AuditRow>>, StoreError>;
    /// Every stored subscription, by name.
    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;
}

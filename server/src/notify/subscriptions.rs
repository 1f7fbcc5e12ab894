//! Managing subscriptions: those of the configuration (read only) and
//! those made through the API (created, deleted, each audited in the
//! write's transaction), one namespace of names for both, and a test
//! message sent straight through a subscription's channel.

use std::sync::Arc;

use tradeplane_api::{Subscription as Wire, SubscriptionSource};

use super::{
    channel::{Message, SendError, Severity},
    registry::Registry,
    subscription::{Invalid, Subscription},
    wire,
};
use crate::{
    api_error::ApiError,
    audit::{AuditEntry, AuditLog},
    proto_time::{ms_to_timestamp, now_ms},
    store::{Store, StoreError, SubscriptionInsert},
};

/// The subscriptions, as the NotificationService manages them.
pub struct Subscriptions {
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
}

/// `invalid` as a request's error: the field under `subscription.`.
fn refused(invalid: Invalid) -> ApiError {
    ApiError::invalid_field(
        "INVALID_SUBSCRIPTION",
        &format!("subscription.{}", invalid.field),
        invalid.description,
    )
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound {
        what: "subscription",
        id: name.to_string(),
    }
}

impl Subscriptions {
    /// Subscriptions over `registry`, stored in `store`, audited on
    /// `audit`.
    pub fn new(registry: Arc<Registry>, store: Arc<dyn Store>, audit: Arc<AuditLog>) -> Self {
        Self {
            registry,
            store,
            audit,
        }
    }

    /// Checks and stores `requested` (its output-only fields set here),
    /// unless `request_id` made one already: then that one is answered.
    /// Answers it as shown, secrets redacted.
    pub async fn create(
        &self,
        mut requested: Wire,
        request_id: &str,
        mut entry: AuditEntry,
    ) -> Result<Wire, ApiError> {
        let config = wire::config_of(&requested).map_err(refused)?;
        Subscription::open(&config).map_err(refused)?;
        if self.registry.configured(&config.name).is_some() {
            return Err(ApiError::name_taken("subscription", &config.name));
        }
        requested.source = SubscriptionSource::Api as i32;
        requested.create_time = Some(ms_to_timestamp(now_ms()));
        entry.target = config.name.clone();
        entry.detail = format!("channel {}", config.channel.kind());
        let request_id = (!request_id.is_empty()).then_some(request_id);
        let stored = match self
            .store
            .insert_subscription(&requested, request_id, vec![entry.row(now_ms())])
            .await?
        {
            SubscriptionInsert::Inserted(rows) => {
                self.audit.published(&rows);
                self.registry.changed();
                requested
            }
            SubscriptionInsert::RequestSeen(first) => *first,
            SubscriptionInsert::NameTaken => {
                return Err(ApiError::name_taken("subscription", &config.name));
            }
        };
        Ok(shown_stored(&stored)?)
    }

    /// Every subscription, configured and stored, by name, as shown.
    pub async fn list(&self) -> Result<Vec<Wire>, ApiError> {
        let mut all: Vec<Wire> = self
            .registry
            .sections()
            .iter()
            .map(|section| wire::shown(section, SubscriptionSource::Config, None))
            .collect();
        for stored in self.store.list_subscriptions().await? {
            all.push(shown_stored(&stored)?);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The subscription `name`, as shown.
    pub async fn get(&self, name: &str) -> Result<Wire, ApiError> {
        self.list()
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| not_found(name))
    }

    /// Deletes the stored subscription `name`; one of the configuration
    /// is refused.
    pub async fn delete(&self, name: &str, mut entry: AuditEntry) -> Result<(), ApiError> {
        if self.registry.configured(name).is_some() {
            return Err(ApiError::FailedPrecondition {
                reason: "CONFIGURED_SUBSCRIPTION",
                message: format!(
                    "subscription `{name}` is in the configuration file: remove it there"
                ),
            });
        }
        entry.target = name.to_string();
        let rows = self
            .store
            .delete_subscription(name, vec![entry.row(now_ms())])
            .await?
            .ok_or_else(|| not_found(name))?;
        self.audit.published(&rows);
        self.registry.changed();
        Ok(())
    }

    /// Sends one test message through `name`'s channel now; the error
    /// says why it was not delivered.
    pub async fn test(&self, name: &str) -> Result<Result<(), SendError>, ApiError> {
        let subscription = match self.registry.configured(name) {
            Some(configured) => configured,
            None => {
                let stored = self
                    .store
                    .list_subscriptions()
                    .await?
                    .into_iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| not_found(name))?;
                let config = wire::config_of(&stored).map_err(corrupt)?;
                Arc::new(Subscription::open(&config).map_err(corrupt)?)
            }
        };
        let message = Message {
            id: format!("test_{}", uuid::Uuid::now_v7().simple()),
            kind: "test".into(),
            severity: Severity::Info,
            title: "tradeplane test message".into(),
            text: format!("Subscription `{name}` reaches this channel."),
            time_ms: now_ms(),
            buttons: Vec::new(),
        };
        Ok(subscription.channel.send(&message).await)
    }
}

/// A stored subscription that no longer reads is corrupt data.
fn corrupt(invalid: Invalid) -> StoreError {
    StoreError::Corrupt(invalid.to_string())
}

/// A stored subscription as shown: secrets redacted.
fn shown_stored(stored: &Wire) -> Result<Wire, StoreError> {
    let config = wire::config_of(stored).map_err(corrupt)?;
    Ok(wire::shown(
        &config,
        SubscriptionSource::Api,
        stored.create_time,
    ))
}

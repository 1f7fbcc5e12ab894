//! Run-time settings changed through the admin API (rate limits,
//! allowlists, the webhook secret, the halt, breakers): typed keys, and
//! one way to change a setting. A change is saved together with its audit
//! event in one store transaction, and put in force in memory only after
//! that commit, so that nothing is in force that is not durable and
//! audited.

use std::{marker::PhantomData, sync::Arc};

use crate::{
    audit::{AuditEntry, AuditLog},
    proto_time::now_ms,
    store::{SettingStore, StoreError},
};
use serde::{Serialize, de::DeserializeOwned};

/// A setting's key and the type of its value (stored as JSON).
pub struct Setting<T> {
    key: String,
    value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Setting<T> {
    /// The setting stored under `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: PhantomData,
        }
    }

    /// Its saved value, if it was ever changed.
    pub async fn load(&self, store: &dyn SettingStore) -> Result<Option<T>, StoreError> {
        let Some(json) = store.get_setting(&self.key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("setting `{}`: {e}", self.key)))
    }
}

/// Changes run-time settings.
pub struct Settings {
    store: Arc<dyn SettingStore>,
    audit: Arc<AuditLog>,
}

impl Settings {
    /// Changes saved to `store`, audited on `audit`.
    pub fn new(store: Arc<dyn SettingStore>, audit: Arc<AuditLog>) -> Self {
        Self { store, audit }
    }

    /// Saves `value` as `setting` with `entry` in one transaction, then
    /// puts it in force with `apply` and returns what that returns. When
    /// the save fails nothing is applied and nothing is audited.
    pub async fn change<T, R>(
        &self,
        setting: &Setting<T>,
        value: T,
        entry: AuditEntry,
        apply: impl FnOnce(T) -> R,
    ) -> Result<R, StoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        let json = serde_json::to_string(&value)
            .map_err(|e| StoreError::Unencodable(format!("setting `{}`: {e}", setting.key)))?;
        let rows = self
            .store
            .put_setting(&setting.key, json, vec![entry.row(now_ms())])
            .await?;
        self.audit.published(&rows);
        Ok(apply(value))
    }
}

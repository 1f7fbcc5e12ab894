//! API keys: random 256-bit tokens with a `tpk_` prefix, kept only as
//! SHA-256 hashes. Active keys live in memory, so checking a key on every
//! call costs one hash and one map lookup; last-used times are written
//! back in batches.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use sha2::{Digest, Sha256};
use tradeplane_api::{ApiKey, ProtoEnum, Role};

use crate::{
    api_error::ApiError,
    audit::AuditEntry,
    proto_time::ms_to_timestamp,
    store::{ApiKeyInsert, ApiKeyRow, AuditRow, KeyStore, StoreError},
};

/// Every token starts with this, so a leaked one is easy to recognise.
pub const TOKEN_PREFIX: &str = "tpk_";
/// Name of the key created (or adopted) at start.
pub const BOOTSTRAP_KEY_NAME: &str = "admin";
/// A configured admin key shorter than this is refused.
const MIN_CONFIGURED_KEY_LEN: usize = 32;

/// The authenticated caller of a gRPC call (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    /// The client address, when known.
    pub address: Option<std::net::IpAddr>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Missing,
    Invalid,
    Expired,
}

impl KeyRefusal {
    /// The metric label and lowercase reason.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRefusal::Missing => "missing_api_key",
            KeyRefusal::Invalid => "invalid_api_key",
            KeyRefusal::Expired => "expired_api_key",
        }
    }
}

struct ActiveKey {
    id: String,
    name: String,
    role: Role,
    expire_ms: Option<i64>,
    last_used_ms: AtomicI64,
    saved_last_used_ms: AtomicI64,
}

/// The key registry.
pub struct ApiKeys {
    store: Arc<dyn KeyStore>,
    active: RwLock<HashMap<[u8; 32], Arc<ActiveKey>>>,
}

/// What to create.
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub ttl: Option<Duration>,
    pub request_id: Option<String>,
}

impl ApiKeys {
    /// Loads the active keys from the store.
    pub async fn load(store: Arc<dyn KeyStore>) -> Result<Self, StoreError> {
        let keys = Self {
            store,
            active: RwLock::new(HashMap::new()),
        };
        for row in keys.store.list_api_keys().await? {
            keys.activate(&row);
        }
        Ok(keys)
    }

    /// Reads the keys again: keys created elsewhere (another replica)
    /// become usable here, revoked or deleted ones stop working. A key
    /// already active keeps its last-use bookkeeping.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let rows = self.store.list_api_keys().await?;
        let live: HashSet<&[u8]> = rows
            .iter()
            .filter(|row| row.revoked_ms.is_none())
            .map(|row| row.token_hash.as_slice())
            .collect();
        if let Ok(mut active) = self.active.write() {
            active.retain(|hash, _| live.contains(hash.as_slice()));
        }
        for row in rows.iter().filter(|row| row.revoked_ms.is_none()) {
            let known = <[u8; 32]>::try_from(row.token_hash.as_slice()).is_ok_and(|hash| {
                self.active
                    .read()
                    .is_ok_and(|active| active.contains_key(&hash))
            });
            if !known {
                self.activate(row);
            }
        }
        Ok(())
    }

    fn activate(&self, row: &ApiKeyRow) {
        let Ok(hash) = <[u8; 32]>::try_from(row.token_hash.as_slice()) else {
            tracing::warn!(key = %row.id, "API key with a malformed hash ignored");
            return;
        };
        if row.revoked_ms.is_some() {
            return;
        }
        let role = match Role::known(row.role, "role") {
            Ok(role) => role,
            Err(err) => {
                tracing::error!(key = %row.id, error = %err, "API key with an unknown role ignored");
                return;
            }
        };
        let last_used = row.last_used_ms.unwrap_or(0);
        let key = ActiveKey {
            id: row.id.clone(),
            name: row.name.clone(),
            role,
            expire_ms: row.expire_ms,
            last_used_ms: AtomicI64::new(last_used),
            saved_last_used_ms: AtomicI64::new(last_used),
        };
        if let Ok(mut active) = self.active.write() {
            active.insert(hash, Arc::new(key));
        }
    }

    /// Checks a bearer token; on success the key's use is noted.
    pub fn authenticate(&self, token: Option<&str>, now_ms: i64) -> Result<Caller, KeyRefusal> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(KeyRefusal::Missing)?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let key = self
            .active
            .read()
            .ok()
            .and_then(|active| active.get(&hash).cloned())
            .ok_or(KeyRefusal::Invalid)?;
        if key.expire_ms.is_some_and(|expire| expire <= now_ms) {
            return Err(KeyRefusal::Expired);
        }
        key.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
        Ok(Caller {
            key_id: key.id.clone(),
            name: key.name.clone(),
            role: key.role,
            address: None,
        })
    }

    /// Creates a key and, in the same write, the audit event `report`
    /// (its target and detail filled in here); the token is returned here
    /// and never again, with the stored event.
    pub async fn create(
        &self,
        new: NewKey,
        now_ms: i64,
        mut report: AuditEntry,
    ) -> Result<(ApiKey, String, Vec<AuditRow>), ApiError> {
        validate_name(&new.name)?;
        if new.role == Role::Unspecified {
            return Err(ApiError::invalid_field(
                "INVALID_ROLE",
                "role",
                "choose ROLE_VIEWER, ROLE_SUBMITTER, ROLE_TRADER or ROLE_ADMIN",
            ));
        }
        if let Some(request_id) = &new.request_id
            && let Some(first) = self
                .store
                .list_api_keys()
                .await?
                .into_iter()
                .find(|row| row.request_id.as_ref() == Some(request_id))
        {
            return Err(ApiError::AlreadyExists {
                what: "api key",
                id: first.id,
            });
        }
        if self.is_active_name(&new.name) {
            return Err(ApiError::invalid_field(
                "DUPLICATE_NAME",
                "name",
                format!("an active key is already named `{}`", new.name),
            ));
        }
        let token = generate_token();
        let expire_ms = new
            .ttl
            .map(|ttl| now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)));
        let row = new_row(
            &token,
            &new.name,
            new.role,
            now_ms,
            expire_ms,
            new.request_id,
        );
        report.target = row.id.clone();
        report.detail = format!(
            "name={} role={}",
            row.name,
            super::policy::role_name(new.role)
        );
        match self
            .store
            .insert_api_key(row.clone(), vec![report.row(now_ms)])
            .await?
        {
            ApiKeyInsert::Inserted(audit) => {
                self.activate(&row);
                Ok((to_proto(&row), token, audit))
            }
            ApiKeyInsert::RequestSeen(first) => Err(ApiError::AlreadyExists {
                what: "api key",
                id: first.id,
            }),
        }
    }

    /// Every key's metadata, with up-to-date last-used times.
    pub async fn list(&self, include_revoked: bool) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self.store.list_api_keys().await?;
        let active = self.active.read().ok();
        Ok(rows
            .into_iter()
            .filter(|row| include_revoked || row.revoked_ms.is_none())
            .map(|row| {
                let mut key = to_proto(&row);
                let live = active
                    .as_ref()
                    .and_then(|a| a.values().find(|k| k.id == row.id).cloned());
                if let Some(live) = live {
                    let used = live.last_used_ms.load(Ordering::Relaxed);
                    key.last_used_time = (used > 0).then(|| ms_to_timestamp(used));
                }
                key
            })
            .collect())
    }

    /// Revokes a key at once, in memory and durably, with the audit event
    /// `report` (its detail filled in here) in the same write; a key
    /// revoked before gets no second event.
    pub async fn revoke(
        &self,
        id: &str,
        now_ms: i64,
        mut report: AuditEntry,
    ) -> Result<(ApiKey, Vec<AuditRow>), ApiError> {
        report.target = id.to_string();
        // Revoking is rare: the key's name for the event is read first.
        if let Some(key) = self
            .store
            .list_api_keys()
            .await?
            .into_iter()
            .find(|row| row.id == id)
        {
            report.detail = format!("name={}", key.name);
        }
        let (row, audit) = self
            .store
            .revoke_api_key(id, now_ms, vec![report.row(now_ms)])
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "api key",
                id: id.to_string(),
            })?;
        if let Ok(mut active) = self.active.write() {
            active.retain(|_, key| key.id != id);
        }
        Ok((to_proto(&row), audit))
    }

    /// Writes last-used times that changed since the previous flush.
    pub async fn flush_usage(&self) -> Result<(), StoreError> {
        let changed: Vec<(String, i64)> = self
            .active
            .read()
            .map(|active| {
                active
                    .values()
                    .filter_map(|key| {
                        let used = key.last_used_ms.load(Ordering::Relaxed);
                        let saved = key.saved_last_used_ms.swap(used, Ordering::Relaxed);
                        (used != saved).then(|| (key.id.clone(), used))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if changed.is_empty() {
            return Ok(());
        }
        self.store.record_key_use(changed).await
    }

    /// Makes sure an admin can get in on first start. A configured key
    /// (`TRADEPLANE_ADMIN_KEY`) is adopted; otherwise `key_file` is read, or
    /// created with a new key (mode 0600) when no admin key exists yet. The
    /// token is never logged. A key an admin revoked stays revoked.
    pub async fn bootstrap(
        &self,
        configured: &str,
        key_file: &Path,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let token = if !configured.is_empty() {
            if configured.len() < MIN_CONFIGURED_KEY_LEN {
                anyhow::bail!(
                    "invalid configuration key `security.admin_key`: must be at least {MIN_CONFIGURED_KEY_LEN} characters"
                );
            }
            configured.to_string()
        } else if key_file.exists() || !self.has_active_admin() {
            super::load_or_create_secret(key_file, generate_token)?
        } else {
            return Ok(());
        };
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .store
            .list_api_keys()
            .await?
            .iter()
            .any(|row| row.token_hash == hash);
        if !known {
            let row = new_row(&token, BOOTSTRAP_KEY_NAME, Role::Admin, now_ms, None, None);
            match self.store.insert_api_key(row.clone(), Vec::new()).await {
                Ok(_) => {
                    tracing::info!(file = %key_file.display(), "bootstrap admin key installed");
                }
                // Replicas that start together with one configured key:
                // the first to insert it wins, the others read it.
                Err(err) => {
                    let installed = self.store.list_api_keys().await?;
                    if !installed.iter().any(|row| row.token_hash == hash) {
                        return Err(err.into());
                    }
                }
            }
        }
        // Another replica may have installed it since this one loaded its
        // keys.
        self.reload().await?;
        Ok(())
    }

    fn has_active_admin(&self) -> bool {
        self.active
            .read()
            .is_ok_and(|active| active.values().any(|k| k.role == Role::Admin))
    }

    fn is_active_name(&self, name: &str) -> bool {
        self.active
            .read()
            .is_ok_and(|active| active.values().any(|k| k.name == name))
    }
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "INVALID_NAME",
            "name",
            "1 to 64 characters of letters, digits, `-`, `_`, `.` or `@`",
        ))
    }
}

/// A new random token: `tpk_` and 256 random bits in hex.
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

fn new_row(
    token: &str,
    name: &str,
    role: Role,
    now_ms: i64,
    expire_ms: Option<i64>,
    request_id: Option<String>,
) -> ApiKeyRow {
    ApiKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        role: role as i32,
        prefix: token.chars().take(TOKEN_PREFIX.len() + 8).collect(),
        token_hash: Sha256::digest(token.as_bytes()).to_vec(),
        create_ms: now_ms,
        expire_ms,
        last_used_ms: None,
        revoked_ms: None,
        request_id,
    }
}

fn to_proto(row: &ApiKeyRow) -> ApiKey {
    ApiKey {
        id: row.id.clone(),
        name: row.name.clone(),
        role: row.role,
        prefix: row.prefix.clone(),
        create_time: Some(ms_to_timestamp(row.create_ms)),
        expire_time: row.expire_ms.map(ms_to_timestamp),
        last_used_time: row.last_used_ms.map(ms_to_timestamp),
        revoked: row.revoked_ms.is_some(),
    }
}

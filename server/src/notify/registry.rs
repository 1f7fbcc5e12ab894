//! The live subscriptions: those of the configuration, opened once at
//! start, and those made through the API, read from the store at most
//! once per poll interval (sooner after this process created or deleted
//! one), each opened once and kept while its stored form is unchanged. So
//! every replica delivers to a subscription created on any of them
//! without a restart, and stops when it is deleted.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use super::{
    config::{NotifyConfig, SubscriptionConfig},
    subscription::Subscription,
    wire,
};
use crate::store::{Store, StoreError};

/// The subscriptions in force, by name.
pub type Live = HashMap<String, Arc<Subscription>>;

/// The subscriptions of the configuration and of the store.
pub struct Registry {
    store: Arc<dyn Store>,
    /// The configuration's entries, as written (shown redacted).
    sections: Vec<SubscriptionConfig>,
    /// The configuration's subscriptions, opened.
    configured: Live,
    /// How long a read of the store stays current.
    refresh_every: Duration,
    /// Moved by every create and delete in this process.
    generation: AtomicU64,
    cache: Mutex<Cache>,
}

/// The last read of the store.
#[derive(Default)]
struct Cache {
    /// When it was read and at which generation; `None` before the first.
    read: Option<(Instant, u64)>,
    live: Arc<Live>,
    /// Each stored subscription as last read, and what opening it gave
    /// (`None`: it could not be opened, which was logged once).
    opened: HashMap<String, (tradeplane_api::Subscription, Option<Arc<Subscription>>)>,
}

impl Registry {
    /// The registry of `config`'s subscriptions and those `store` holds;
    /// a configured subscription that cannot work, or a name used twice,
    /// is named.
    pub fn open(config: &NotifyConfig, store: Arc<dyn Store>) -> Result<Arc<Self>, String> {
        let mut configured = Live::new();
        for section in &config.subscriptions {
            let subscription = Subscription::open(section).map_err(|e| e.to_string())?;
            if configured
                .insert(subscription.name.clone(), Arc::new(subscription))
                .is_some()
            {
                return Err(format!(
                    "notify.subscriptions: the name `{}` is used twice",
                    section.name
                ));
            }
        }
        Ok(Arc::new(Self {
            store,
            sections: config.subscriptions.clone(),
            configured,
            refresh_every: config.poll_interval,
            generation: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
        }))
    }

    /// The configuration's entries.
    pub fn sections(&self) -> &[SubscriptionConfig] {
        &self.sections
    }

    /// The configured subscription `name`, opened.
    pub fn configured(&self, name: &str) -> Option<Arc<Subscription>> {
        self.configured.get(name).cloned()
    }

    /// Makes the next [`Registry::current`] read the store: a
    /// subscription was created or deleted.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The subscriptions in force now: the configured ones and the stored
    /// ones as last read, read again when that read is older than the
    /// poll interval or older than a change made here.
    pub async fn current(&self) -> Result<Arc<Live>, StoreError> {
        let mut cache = self.cache.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        let fresh = cache
            .read
            .is_some_and(|(at, seen)| seen == generation && at.elapsed() < self.refresh_every);
        if fresh {
            return Ok(cache.live.clone());
        }
        let stored = self.store.list_subscriptions().await?;
        let mut opened = HashMap::new();
        let mut live = self.configured.clone();
        for wire in stored {
            let kept = cache
                .opened
                .remove(&wire.name)
                .filter(|(before, _)| *before == wire)
                .map(|(_, subscription)| subscription);
            let subscription = kept.unwrap_or_else(|| open_stored(&wire));
            // A name the configuration took since keeps its configured
            // subscription.
            if let Some(subscription) = &subscription {
                live.entry(wire.name.clone())
                    .or_insert_with(|| subscription.clone());
            }
            opened.insert(wire.name.clone(), (wire, subscription));
        }
        cache.live = Arc::new(live);
        cache.opened = opened;
        cache.read = Some((Instant::now(), generation));
        Ok(cache.live.clone())
    }
}

/// A stored subscription, opened; one that no longer opens (a check made
/// stricter since) is logged, by name only, and left out.
fn open_stored(stored: &tradeplane_api::Subscription) -> Option<Arc<Subscription>> {
    let opened = wire::config_of(stored)
        .map_err(|e| e.to_string())
        .and_then(|config| Subscription::open(&config).map_err(|e| e.to_string()));
    match opened {
        Ok(subscription) => Some(Arc::new(subscription)),
        Err(error) => {
            tracing::warn!(subscription = %stored.name, %error, "a stored subscription cannot be opened; it gets no deliveries");
            None
        }
    }
}

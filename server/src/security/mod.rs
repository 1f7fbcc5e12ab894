//! Security: API keys and roles on every gRPC call, rate limits, IP
//! allowlists, the webhook secret, the trading halt, the audit log and TLS.
//!
//! Access is decided in two places only: the gRPC [`AuthLayer`] (with the
//! one [`policy`] table) and the webhook handler's checks. Handlers find
//! the authenticated [`Caller`] in their request's extensions.

pub mod allowlist;
pub mod config;
mod convert;
pub mod keys;
mod layer;
pub mod policy;
pub mod rate_limit;
mod service;
pub mod tls;
pub mod webhook_secret;

use std::{
    net::IpAddr,
    path::Path,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use ipnet::IpNet;
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use tradeplane_api::{AuditOutcome, Surface};

pub use keys::Caller;
pub use layer::AuthLayer;
pub use service::SecurityAdminGrpc;

use crate::{
    audit::{AuditEntry, AuditLog},
    controls::halt::{HaltState, TradingHalt},
    observe::CallTrace,
    proto_time::now_ms,
    settings::{Setting, Settings},
    store::{Store, StoreError},
};
use allowlist::{Allowlists, surface_name};
use config::{SecurityConfig, WebhookConfig};
use keys::ApiKeys;
use rate_limit::{Client, Limits, RateLimiter};
use webhook_secret::{SecretState, WebhookSecret};

/// How often last-used times of API keys are written back.
const KEY_USE_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// The rate limits changed through the admin API.
fn rate_limits_setting() -> Setting<Limits> {
    Setting::new("rate_limits")
}

/// The rotated webhook secret.
fn webhook_secret_setting() -> Setting<SecretState> {
    Setting::new("webhook_secret")
}

/// The trading halt.
fn halt_setting() -> Setting<HaltState> {
    Setting::new("trading_halt")
}

/// A surface's IP allowlist.
fn allowlist_setting(surface: Surface) -> Setting<Vec<IpNet>> {
    Setting::new(format!("allowlist.{}", surface_name(surface)))
}

/// Everything security-related the server shares.
pub struct Security {
    pub keys: ApiKeys,
    pub limiter: RateLimiter,
    pub allowlists: Allowlists,
    pub webhook_secret: WebhookSecret,
    pub halt: Arc<TradingHalt>,
    pub audit: Arc<AuditLog>,
    /// Changes of the run-time settings.
    pub settings: Settings,
    store: Arc<dyn Store>,
    auth_failures: Counter<u64>,
    allowlist_rejections: Counter<u64>,
    rate_limited: Counter<u64>,
}

/// Why a webhook caller was refused before its body was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddressRefusal {
    NotAllowed,
    RateLimited(Duration),
}

impl Security {
    /// Halts (or resumes) trading for the caller `entry` names, saving
    /// the flag and its audit event (`entry`, with the reason as detail)
    /// in one write; a flag already so changes nothing.
    pub async fn set_halt(
        &self,
        halted: bool,
        reason: String,
        mut entry: AuditEntry,
    ) -> Result<HaltState, StoreError> {
        let current = self.halt.state();
        if current.halted == halted {
            return Ok(current);
        }
        let state = HaltState {
            halted,
            reason: reason.clone(),
            actor: entry.actor.clone(),
            change_ms: now_ms(),
        };
        entry.detail = reason;
        self.settings
            .change(&halt_setting(), state.clone(), entry, |state| {
                self.halt.apply(state)
            })
            .await?;
        Ok(state)
    }

    /// Applies what the database holds now: the API keys, the halt, rate
    /// limits, allowlists and a rotated webhook passphrase. With several
    /// replicas on one database, this is how a change made through one of
    /// them reaches the others.
    pub async fn reload(&self) -> Result<(), crate::store::StoreError> {
        self.keys.reload().await?;
        let store = &*self.store;
        if let Some(state) = halt_setting().load(store).await? {
            self.halt.apply(state);
        }
        if let Some(limits) = rate_limits_setting().load(store).await? {
            self.limiter.set_limits(limits);
        }
        for surface in [Surface::Webhook, Surface::Grpc] {
            if let Some(nets) = allowlist_setting(surface).load(store).await? {
                self.allowlists.set(surface, nets);
            }
        }
        if let Some(state) = webhook_secret_setting().load(store).await? {
            self.webhook_secret.install(state);
        }
        Ok(())
    }

    /// Loads keys and run-time settings, creates the bootstrap admin key
    /// and the webhook passphrase on first start, and starts the audit log.
    pub async fn open(
        config: &SecurityConfig,
        webhook: &WebhookConfig,
        data_dir: &Path,
        store: Arc<dyn Store>,
        meter: &Meter,
    ) -> anyhow::Result<Arc<Self>> {
        let now = now_ms();
        let keys = ApiKeys::load(store.clone()).await?;
        keys.bootstrap(&config.admin_key, &data_dir.join("admin.key"), now)
            .await?;

        let limits = rate_limits_setting()
            .load(&*store)
            .await?
            .unwrap_or(config.rate_limits);
        let mut webhook_nets = webhook.allowlist.clone();
        if webhook.tradingview_preset {
            webhook_nets.extend(allowlist::tradingview_preset());
        }
        let allowlists = Allowlists::new(
            allowlist_setting(Surface::Webhook)
                .load(&*store)
                .await?
                .unwrap_or(webhook_nets),
            allowlist_setting(Surface::Grpc)
                .load(&*store)
                .await?
                .unwrap_or_else(|| config.grpc_allowlist.clone()),
        );
        let passphrase = if webhook.passphrase.is_empty() {
            load_or_create_secret(&data_dir.join("webhook.secret"), || {
                hex::encode(rand::random::<[u8; 32]>())
            })?
        } else {
            webhook.passphrase.clone()
        };
        let stored_secret = webhook_secret_setting().load(&*store).await?;
        if stored_secret.is_some() {
            tracing::info!(
                "the webhook passphrase was rotated through the admin API; the configured one is not used"
            );
        }
        let webhook_secret = WebhookSecret::new(&passphrase, stored_secret);
        let halt = Arc::new(TradingHalt::new(halt_setting().load(&*store).await?));
        let audit = AuditLog::start(store.clone(), meter, config.auth_failure_audit_window).await?;
        let settings = Settings::new(store.clone(), audit.clone());

        let auth_failures = meter
            .u64_counter("tradeplane.auth.failures")
            .with_description("Authentication and authorization failures, by surface and reason")
            .build();
        let allowlist_rejections = meter
            .u64_counter("tradeplane.allowlist.rejections")
            .with_description("Calls refused by an IP allowlist, by surface")
            .build();
        let rate_limited = meter
            .u64_counter("tradeplane.rate_limited")
            .with_description("Requests refused by a rate limit, by surface and scope")
            .build();
        for (surface, scope) in [("grpc", "api_key"), ("webhook", "client_ip")] {
            rate_limited.add(
                0,
                &[
                    KeyValue::new("surface", surface),
                    KeyValue::new("scope", scope),
                ],
            );
            allowlist_rejections.add(0, &[KeyValue::new("surface", surface)]);
        }
        let observed = halt.clone();
        meter
            .u64_observable_gauge("tradeplane.trading.halted")
            .with_description("1 while trading is halted")
            .with_callback(move |gauge| gauge.observe(u64::from(observed.is_halted()), &[]))
            .build();

        let security = Arc::new(Self {
            keys,
            limiter: RateLimiter::new(limits),
            allowlists,
            webhook_secret,
            halt,
            audit,
            settings,
            store,
            auth_failures,
            allowlist_rejections,
            rate_limited,
        });
        let observed = Arc::downgrade(&security);
        meter
            .u64_observable_gauge("tradeplane.rate_limit.buckets")
            .with_description("Token buckets held in memory (bounded)")
            .with_callback(move |gauge| {
                if let Some(security) = observed.upgrade() {
                    gauge.observe(security.limiter.bucket_count() as u64, &[]);
                }
            })
            .build();
        tokio::spawn(flush_key_use(Arc::downgrade(&security)));
        Ok(security)
    }

    /// Counts a refused caller: the failure metric, the allowlist metric
    /// for `ip_not_allowed`, and an aggregated audit event.
    pub fn refuse(
        &self,
        surface: &'static str,
        reason: &'static str,
        actor: &str,
        ip: Option<IpAddr>,
    ) {
        self.auth_failures.add(
            1,
            &[
                KeyValue::new("surface", surface),
                KeyValue::new("reason", reason),
            ],
        );
        if reason == "ip_not_allowed" {
            self.allowlist_rejections
                .add(1, &[KeyValue::new("surface", surface)]);
        }
        self.audit.note_auth_failure(surface, reason, actor, ip);
    }

    /// Pre-registers the failure series of a surface.
    pub fn register_failure_reasons(&self, surface: &'static str, reasons: &[&'static str]) {
        for reason in reasons {
            self.auth_failures.add(
                0,
                &[
                    KeyValue::new("surface", surface),
                    KeyValue::new("reason", *reason),
                ],
            );
        }
    }

    /// Takes a token from `client`'s bucket; counts a refusal.
    pub fn take_token(&self, surface: &'static str, client: &Client) -> Result<(), Duration> {
        self.limiter
            .check(client, Instant::now(), now_ms())
            .inspect_err(|_| {
                self.rate_limited.add(
                    1,
                    &[
                        KeyValue::new("surface", surface),
                        KeyValue::new("scope", client.scope()),
                    ],
                );
            })
    }

    /// The webhook's address checks: allowlist, then the per-address limit.
    pub fn check_webhook_address(&self, ip: IpAddr) -> Result<(), AddressRefusal> {
        if !self.allowlists.allows(Surface::Webhook, ip) {
            self.refuse("webhook", "ip_not_allowed", "webhook", Some(ip));
            return Err(AddressRefusal::NotAllowed);
        }
        self.take_token("webhook", &Client::ClientIp(ip))
            .map_err(AddressRefusal::RateLimited)
    }

    /// Writes what is buffered (auth-failure counts, key use) before the
    /// store closes.
    pub async fn shutdown(&self) {
        self.audit.flush_auth_failures().await;
        if let Err(err) = self.keys.flush_usage().await {
            tracing::warn!(error = %err, "API key last-used times not saved");
        }
    }
}

/// An audit entry for the gRPC call `request` doing `action` on `target`.
pub fn audit_entry<T>(
    request: &tonic::Request<T>,
    action: &'static str,
    target: impl Into<String>,
) -> AuditEntry {
    let caller = request.extensions().get::<Caller>();
    AuditEntry {
        actor: caller
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "unknown".into()),
        source_address: caller
            .and_then(|c| c.address)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        action,
        target: target.into(),
        outcome: AuditOutcome::Success,
        detail: String::new(),
        trace_id: request
            .extensions()
            .get::<CallTrace>()
            .map(|t| t.trace_id().to_string())
            .unwrap_or_default(),
    }
}

async fn flush_key_use(security: Weak<Security>) {
    let mut ticker = tokio::time::interval(KEY_USE_FLUSH_INTERVAL);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(security) = security.upgrade() else {
            return;
        };
        if let Err(err) = security.keys.flush_usage().await {
            tracing::warn!(error = %err, "API key last-used times not saved");
        }
    }
}

/// Reads a secret file, or creates it with `generate()` and mode 0600.
pub fn load_or_create_secret(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_string()),
        Ok(_) => anyhow::bail!("secret file {} is empty", path.display()),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            anyhow::bail!("cannot read secret file {}: {err}", path.display())
        }
        Err(_) => {}
    }
    let secret = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create secret file {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a secret");
    Ok(secret)
}

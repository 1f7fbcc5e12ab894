//! Security settings: API keys, rate limits, allowlists and the webhook's
//! secrets.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// API keys, rate limits and the gRPC allowlist.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// A bootstrap admin key to adopt instead of generating
    /// `<data_dir>/admin.key` (at least 32 characters).
    pub admin_key: String,
    /// Allowed gRPC client networks; empty allows every address. Health
    /// checks are always allowed.
    pub grpc_allowlist: Vec<IpNet>,
    /// Token buckets; a rate of 0 disables a limit.
    pub rate_limits: crate::security::rate_limit::Limits,
    /// Authentication failures are written to the audit log as one event
    /// per surface and reason each window.
    #[serde(with = "humantime_serde")]
    pub auth_failure_audit_window: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            admin_key: String::new(),
            grpc_allowlist: Vec::new(),
            rate_limits: Default::default(),
            auth_failure_audit_window: Duration::from_secs(10),
        }
    }
}

/// The TradingView webhook surface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Shared passphrase expected in the body. Empty: read or generate
    /// `<data_dir>/webhook.secret`.
    pub passphrase: String,
    /// Secret for `X-Signature: sha256=<hex>` bodies from other sources;
    /// empty disables signature authentication.
    pub hmac_secret: String,
    /// Allowed client networks; empty allows every address.
    pub allowlist: Vec<IpNet>,
    /// Adds TradingView's published webhook addresses to the allowlist.
    pub tradingview_preset: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy
    /// you control).
    pub trust_forwarded_for: bool,
    /// Largest accepted body.
    pub body_limit_bytes: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            passphrase: String::new(),
            hmac_secret: String::new(),
            allowlist: Vec::new(),
            tradingview_preset: false,
            trust_forwarded_for: false,
            body_limit_bytes: 16 * 1024,
        }
    }
}

//! Storage tuning.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Storage tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Read connections (SQLite).
    pub read_connections: u32,
    /// Connections in the pool (PostgreSQL): reads and writes share them.
    pub pool_size: u32,
    /// How long one statement may run before PostgreSQL cancels it (and
    /// the call answers UNAVAILABLE).
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// How often a replica on a shared database reads the shared state
    /// again although no change was announced (the safety net for a lost
    /// notice).
    #[serde(with = "humantime_serde")]
    pub reload_every: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            read_connections: 4,
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            reload_every: Duration::from_secs(1),
        }
    }
}

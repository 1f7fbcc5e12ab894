//! Storage tuning.

use serde::{Deserialize, Serialize};

/// Storage tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Read connections.
    pub read_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            read_connections: 4,
        }
    }
}

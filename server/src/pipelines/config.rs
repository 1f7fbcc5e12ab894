//! Pipeline and execution worker settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Pipelines and the execution workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelinesConfig {
    /// Executions run at once; 0 only queues them (a node that ingests
    /// while another one trades).
    pub workers: usize,
    /// How long a claimed execution is someone's without a heartbeat (its
    /// worker renews it every third of this while it runs); after that (a
    /// crash, a replica gone) another worker resumes it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Most pipelines (the `pipeline` metric label stays bounded).
    pub max_pipelines: usize,
    /// How often pipeline positions are checked against their venues'
    /// balances.
    #[serde(with = "humantime_serde")]
    pub reconcile_every: Duration,
}

impl Default for PipelinesConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            lease: Duration::from_secs(10),
            max_pipelines: 100,
            reconcile_every: Duration::from_secs(30),
        }
    }
}

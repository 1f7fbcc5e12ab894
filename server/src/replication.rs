//! Several replicas on one database: each applies what the others changed.
//! Every second a replica reads the shared state again (API keys, the halt,
//! rate limits, allowlists, the webhook passphrase, and the pipelines'
//! matching index) and puts it in force, so a change made through any
//! replica holds on all of them within about a second.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{pipelines::Pipelines, security::Security};

/// How often the shared state is read again.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Follows the shared state until `stopped`.
pub async fn follow(
    security: Arc<Security>,
    pipelines: Arc<Pipelines>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(FOLLOW_EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(err) = security.reload().await {
                    tracing::warn!(error = %err, "cannot read the shared security state");
                }
                if let Err(err) = pipelines.reload().await {
                    tracing::warn!(error = %err, "cannot read the shared pipelines");
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

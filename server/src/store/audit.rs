//! The audit log's storage: append-only, and tamper-evident because each
//! event carries the SHA-256 of the one before it. The chain is extended
//! inside the transaction that appends, so that any number of processes
//! writing to one database form one chain.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::StoreError;

/// One audit-log event as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditRow {
    pub sequence: i64,
    pub time_ms: i64,
    pub actor: String,
    pub source_address: String,
    pub action: String,
    pub target: String,
    /// `tradeplane.v1.AuditOutcome` number.
    pub outcome: i32,
    pub detail: String,
    pub trace_id: String,
    pub previous_hash: String,
    pub hash: String,
}

/// Filter and page for listing audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Matches actions starting with this, e.g. `order.`.
    pub action_prefix: Option<String>,
    pub outcome: Option<i32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only sequences strictly below this one (the page cursor).
    pub before_sequence: Option<i64>,
    pub limit: u32,
}

/// Storage of the audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends events in one transaction. Their `sequence`,
    /// `previous_hash` and `hash` are assigned there ([`chain`]), after
    /// the last stored event; returns the events as stored.
    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<Vec<AuditRow>, StoreError>;
    /// Appends `event` as [`AuditStore::append_audit`] does, unless an
    /// event of its action and target is stored: the check and the append
    /// are one transaction, so that of any number of processes trying,
    /// one appends. Returns the event as stored, or `None` when it was
    /// there already.
    async fn append_audit_once(&self, event: AuditRow) -> Result<Option<AuditRow>, StoreError>;
    /// Audit events matching `query`, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError>;
    /// Up to `limit` audit events after `sequence`, oldest first (for
    /// walking the chain).
    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError>;
}

/// Links `events` after the stored event `(sequence, hash)` (`(0, "")`
/// when there is none): numbers them, and sets each one's previous hash
/// and hash.
pub fn chain(events: &mut [AuditRow], last: (i64, String)) {
    let (mut sequence, mut previous) = last;
    for event in events {
        sequence += 1;
        event.sequence = sequence;
        event.previous_hash = previous;
        event.hash = chain_hash(event);
        previous = event.hash.clone();
    }
}

/// The hash of an event: SHA-256 over every field but `hash`, each
/// length-prefixed so that no two events encode alike.
pub fn chain_hash(row: &AuditRow) -> String {
    let mut hasher = Sha256::new();
    hasher.update(row.sequence.to_be_bytes());
    hasher.update(row.time_ms.to_be_bytes());
    hasher.update(row.outcome.to_be_bytes());
    for field in [
        &row.actor,
        &row.source_address,
        &row.action,
        &row.target,
        &row.detail,
        &row.trace_id,
        &row.previous_hash,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// What [`verify_chain`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub events_checked: u64,
    /// The first event whose link or hash does not match.
    pub first_broken: Option<(i64, String)>,
}

/// Walks the whole chain from the first event.
pub async fn verify_chain(store: &dyn AuditStore) -> Result<Verification, StoreError> {
    let mut checked = 0;
    let mut previous = (0i64, String::new());
    loop {
        let page = store.audit_after(previous.0, 1000).await?;
        if page.is_empty() {
            return Ok(Verification {
                events_checked: checked,
                first_broken: None,
            });
        }
        for row in page {
            checked += 1;
            let problem = if row.sequence != previous.0 + 1 {
                Some(format!(
                    "sequence {} follows {}: events are missing",
                    row.sequence, previous.0
                ))
            } else if row.previous_hash != previous.1 {
                Some("previous_hash does not match the event before".to_string())
            } else if row.hash != chain_hash(&row) {
                Some("the event's content does not match its hash".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Verification {
                    events_checked: checked,
                    first_broken: Some((row.sequence, problem)),
                });
            }
            previous = (row.sequence, row.hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_hash() {
        let row = AuditRow {
            sequence: 1,
            time_ms: 2,
            actor: "a".into(),
            action: "x".into(),
            ..Default::default()
        };
        let base = chain_hash(&row);
        let mut moved = row.clone();
        moved.actor = String::new();
        moved.source_address = "a".into();
        assert_ne!(chain_hash(&moved), base, "fields cannot trade bytes");
        let mut later = row.clone();
        later.time_ms = 3;
        assert_ne!(chain_hash(&later), base);
    }
}

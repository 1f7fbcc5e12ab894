//! Signals: the group-committed batch write with deduplication, and reads.

use crate::store::lists;
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sqlx::Sqlite;
use tradeplane_api as pb;

use super::{SqliteStore, executions, writer::WriteJob};
use crate::store::query::{decode, fetch_bodies, fetch_body};
use crate::{
    model::signal::Signal,
    store::{SignalLog, SignalQuery, SignalWrite, SignalWriteResult, StoreError},
};

#[async_trait]
impl SignalLog for SqliteStore {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        self.submit(|reply| WriteJob::Signal(Box::new(write), reply))
            .await
    }

    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        fetch_body::<_, pb::Signal, _>(&self.readers, "signals", id, "signal").await
    }

    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        fetch_bodies::<_, pb::Signal, _>(lists::signals::<Sqlite>(query), &self.readers, "signal")
            .await
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let deleted =
                conn.execute("DELETE FROM signal_dedupe WHERE expires_ms <= ?1", [now_ms])?;
            Ok(deleted as u64)
        })
        .await
    }
}

/// Writes a batch in one transaction. Keys are checked in order inside the
/// transaction, so a duplicate within the batch finds the first write.
pub fn write_signals(
    conn: &mut rusqlite::Connection,
    writes: &[SignalWrite],
) -> Result<Vec<SignalWriteResult>, StoreError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(writes.len());
    {
        let mut find_key = tx.prepare_cached(
            "SELECT signal_id FROM signal_dedupe WHERE key = ?1 AND expires_ms > ?2",
        )?;
        let mut find_signal = tx.prepare_cached("SELECT body FROM signals WHERE id = ?1")?;
        let mut insert_signal = tx.prepare_cached(
            "INSERT INTO signals (id, source, strategy, symbol, outcome, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut remember_key = tx.prepare_cached(
            "INSERT INTO signal_dedupe (key, signal_id, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms",
        )?;
        for write in writes {
            if let Some(dedupe) = &write.dedupe {
                let mut first: Option<String> = None;
                for key in std::iter::once(&dedupe.key).chain(&dedupe.earlier) {
                    if first.is_none() {
                        first = find_key
                            .query_row(rusqlite::params![key, now_ms], |row| row.get(0))
                            .optional()?;
                    }
                }
                if let Some(first) = first {
                    let body: Vec<u8> = find_signal
                        .query_row([&first], |row| row.get(0))
                        .optional()?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "dedupe key points at missing signal {first}"
                            ))
                        })?;
                    results.push(SignalWriteResult::Duplicate(Box::new(decode::<
                        pb::Signal,
                        _,
                    >(
                        "signal", &body
                    )?)));
                    continue;
                }
            }
            insert_signal.execute(rusqlite::params![
                write.id,
                write.source,
                write.strategy,
                write.symbol,
                write.outcome,
                write.body,
            ])?;
            if let Some(dedupe) = &write.dedupe {
                remember_key.execute(rusqlite::params![dedupe.key, write.id, dedupe.expires_ms])?;
            }
            for execution in &write.executions {
                executions::insert_execution(&tx, execution)?;
            }
            results.push(SignalWriteResult::Inserted);
        }
    }
    tx.commit()?;
    Ok(results)
}

//! API keys and run-time settings (each setting written with its audit
//! events in one transaction). Replicas share the keys: a replayed
//! `request_id` is answered by the unique constraint, a revocation keeps
//! its first time, and last-used times only move forward, whichever
//! replica writes them.

use crate::store::rows::api_key_row;
use async_trait::async_trait;

use super::{PostgresStore, audit};
use crate::store::{ApiKeyInsert, ApiKeyRow, AuditRow, KeyStore, SettingStore, StoreError};

const API_KEY_COLUMNS: &str = "id, name, role, prefix, token_hash, create_ms, expire_ms, \
     last_used_ms, revoked_ms, request_id";

#[async_trait]
impl KeyStore for PostgresStore {
    /// Inserts unless a unique column conflicts. A concurrent insert of the
    /// same `request_id` is waited for, so a replay, even one racing the
    /// first request on another replica, finds the key stored first; a
    /// conflict on the id or token alone is an error.
    async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        audit: Vec<AuditRow>,
    ) -> Result<ApiKeyInsert, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_keys ({API_KEY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
        )))
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.role)
        .bind(&key.prefix)
        .bind(&key.token_hash)
        .bind(key.create_ms)
        .bind(key.expire_ms)
        .bind(key.last_used_ms)
        .bind(key.revoked_ms)
        .bind(&key.request_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            let audit = super::audit::append(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(ApiKeyInsert::Inserted(audit));
        }
        tx.rollback().await?;
        let first = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE request_id = $1"
        )))
        .bind(&key.request_id)
        .fetch_optional(&self.pool)
        .await?;
        match first {
            Some(first) => Ok(ApiKeyInsert::RequestSeen(Box::new(api_key_row(&first)?))),
            None => Err(StoreError::Unavailable(format!(
                "API key {} or its token already exists",
                key.id
            ))),
        }
    }

    /// By id in byte order, as SQLite sorts them.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id COLLATE \"C\""
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_key_row).collect()
    }

    /// One statement: the row lock makes the first revocation win.
    async fn revoke_api_key(
        &self,
        id: &str,
        at_ms: i64,
        audit: Vec<AuditRow>,
    ) -> Result<Option<(ApiKeyRow, Vec<AuditRow>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL \
             RETURNING {API_KEY_COLUMNS}"
        )))
        .bind(id)
        .bind(at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = revoked {
            let key = api_key_row(&row)?;
            let audit = super::audit::append(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(Some((key, audit)));
        }
        tx.rollback().await?;
        // Revoked before (a revocation never changes again), or not there.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| api_key_row(row).map(|key| (key, Vec::new())))
            .transpose()
    }

    /// One statement for the batch: each key keeps the latest of its stored
    /// and given times (another replica may have saved a later one), and
    /// rows are locked in id order so that replicas flushing the same keys
    /// cannot deadlock.
    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError> {
        let (ids, times): (Vec<String>, Vec<i64>) = used.into_iter().unzip();
        sqlx::query(
            "WITH used AS ( \
                 SELECT id, MAX(at_ms) AS at_ms FROM UNNEST($1::text[], $2::bigint[]) \
                     AS given (id, at_ms) GROUP BY id \
             ), locked AS MATERIALIZED ( \
                 SELECT k.id, used.at_ms FROM api_keys AS k JOIN used USING (id) \
                 ORDER BY k.id FOR UPDATE OF k \
             ) \
             UPDATE api_keys SET last_used_ms = GREATEST(api_keys.last_used_ms, locked.at_ms) \
             FROM locked WHERE api_keys.id = locked.id",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SettingStore for PostgresStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_setting(
        &self,
        key: &str,
        value: String,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let events = audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(events)
    }
}

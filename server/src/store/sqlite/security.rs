//! API keys and run-time settings (each setting written with its audit
//! events in one transaction).

use crate::store::rows::api_key_row;
use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sqlx::Row;

use super::{SqliteStore, audit};
use crate::store::{ApiKeyInsert, ApiKeyRow, AuditRow, KeyStore, SettingStore, StoreError};

const API_KEY_COLUMNS: &str = "id, name, role, prefix, token_hash, create_ms, expire_ms, \
     last_used_ms, revoked_ms, request_id";

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        audit: Vec<AuditRow>,
    ) -> Result<ApiKeyInsert, StoreError> {
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            if let Some(request_id) = &key.request_id {
                let seen = tx
                    .query_row(
                        &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE request_id = ?1"),
                        [request_id],
                        api_key_from_rusqlite,
                    )
                    .optional()?;
                if let Some(seen) = seen {
                    return Ok(ApiKeyInsert::RequestSeen(Box::new(seen)));
                }
            }
            tx.execute(
                &format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                rusqlite::params![
                    key.id,
                    key.name,
                    key.role,
                    key.prefix,
                    key.token_hash,
                    key.create_ms,
                    key.expire_ms,
                    key.last_used_ms,
                    key.revoked_ms,
                    key.request_id,
                ],
            )?;
            let audit = super::audit::append(&tx, audit)?;
            tx.commit()?;
            Ok(ApiKeyInsert::Inserted(audit))
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"
        )))
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(api_key_row).collect()
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        at_ms: i64,
        audit: Vec<AuditRow>,
    ) -> Result<Option<(ApiKeyRow, Vec<AuditRow>)>, StoreError> {
        let id = id.to_string();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            let revoked = tx.execute(
                "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                rusqlite::params![id, at_ms],
            )?;
            let key = tx
                .query_row(
                    &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                    [&id],
                    api_key_from_rusqlite,
                )
                .optional()?;
            let audit = match revoked {
                0 => Vec::new(),
                _ => super::audit::append(&tx, audit)?,
            };
            tx.commit()?;
            Ok(key.map(|key| (key, audit)))
        })
        .await
    }

    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            {
                let mut update =
                    tx.prepare_cached("UPDATE api_keys SET last_used_ms = ?2 WHERE id = ?1")?;
                for (id, at_ms) in &used {
                    update.execute(rusqlite::params![id, at_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl SettingStore for SqliteStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    async fn put_setting(
        &self,
        key: &str,
        value: String,
        events: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let key = key.to_string();
        self.run(move |conn| {
            let tx = conn.savepoint()?;
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rusqlite::params![key, value],
            )?;
            let events = audit::append(&tx, events)?;
            tx.commit()?;
            Ok(events)
        })
        .await
    }
}

fn api_key_from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        prefix: row.get(3)?,
        token_hash: row.get(4)?,
        create_ms: row.get(5)?,
        expire_ms: row.get(6)?,
        last_used_ms: row.get(7)?,
        revoked_ms: row.get(8)?,
        request_id: row.get(9)?,
    })
}

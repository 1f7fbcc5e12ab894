//! Helpers shared by the readers: filters, pages and body decoding.

use prost::Message;
use sqlx::{QueryBuilder, Sqlite};

use crate::store::StoreError;

/// Decodes a stored protobuf body; `what` names it in the error.
pub fn decode<T: Message + Default>(what: &str, body: &[u8]) -> Result<T, StoreError> {
    T::decode(body).map_err(|e| StoreError::Corrupt(format!("{what} body: {e}")))
}

/// `AND status IN (…)`, unless `statuses` is empty.
pub fn push_statuses(sql: &mut QueryBuilder<Sqlite>, statuses: &[i32]) {
    if statuses.is_empty() {
        return;
    }
    sql.push(" AND status IN (");
    let mut list = sql.separated(", ");
    for status in statuses {
        list.push_bind(*status);
    }
    sql.push(")");
}

/// The time range (ids are UUIDv7, so a time bound is an id bound), the
/// page cursor, newest first, and the page size.
pub fn push_page(
    sql: &mut QueryBuilder<Sqlite>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    before_id: Option<&str>,
    limit: u32,
) {
    if let Some(start) = start_ms {
        sql.push(" AND id >= ").push_bind(uuid_v7_floor(start));
    }
    if let Some(end) = end_ms {
        sql.push(" AND id < ").push_bind(uuid_v7_floor(end));
    }
    if let Some(before) = before_id {
        sql.push(" AND id < ").push_bind(before.to_string());
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
}

/// The smallest UUIDv7 text of millisecond `ms`: ids compare as text in
/// time order, so a time bound is an id bound.
fn uuid_v7_floor(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// Runs a `SELECT body …` built in `sql` and decodes every row.
pub async fn fetch_bodies<T: Message + Default>(
    mut sql: QueryBuilder<Sqlite>,
    readers: &sqlx::SqlitePool,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    use sqlx::Row;
    let rows = sql.build().fetch_all(readers).await?;
    rows.iter()
        .map(|row| decode(what, &row.try_get::<Vec<u8>, _>("body")?))
        .collect()
}

/// The body of the row of `table` with `id`, decoded (`what` names it in
/// errors).
pub async fn fetch_body<T: Message + Default>(
    readers: &sqlx::SqlitePool,
    table: &'static str,
    id: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    use sqlx::Row;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT body FROM {table} WHERE id = ?"
    )))
    .bind(id)
    .fetch_optional(readers)
    .await?;
    row.map(|row| decode(what, &row.try_get::<Vec<u8>, _>("body")?))
        .transpose()
}

/// `AND column = value`, when a value is given.
pub fn push_equal<T>(sql: &mut QueryBuilder<Sqlite>, column: &str, value: Option<&T>)
where
    T: Clone + sqlx::Encode<'static, Sqlite> + sqlx::Type<Sqlite> + Send + 'static,
{
    if let Some(value) = value {
        sql.push(format!(" AND {column} = "))
            .push_bind(value.clone());
    }
}

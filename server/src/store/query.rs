//! What every SQL backend's readers share: filters and pages built for
//! any sqlx database, and the decoding of stored protobuf bodies.

use prost::Message;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use crate::store::StoreError;

/// Decodes a stored protobuf body `P` and reads it as `M` (its domain
/// model through the codec, or `P` itself); `what` names it in errors.
pub fn decode<P, M>(what: &str, body: &[u8]) -> Result<M, StoreError>
where
    P: Message + Default,
    M: TryFrom<P>,
    StoreError: From<M::Error>,
{
    let wire = P::decode(body).map_err(|e| StoreError::Corrupt(format!("{what} body: {e}")))?;
    Ok(M::try_from(wire)?)
}

/// A list's time range (ids are UUIDv7, so a time bound is an id bound),
/// page cursor and page size.
pub struct Page<'a> {
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub before_id: Option<&'a str>,
    pub limit: u32,
}

/// `SELECT body` of one page of `table`, newest first: the rows that pass
/// `filters` (which appends `AND …` terms) and, unless `statuses` is
/// empty, have one of them. Each status is a walk of its own
/// `(status, id)` index, the walks merged: `status IN (…)` would make
/// the database read every row of those statuses and sort them.
pub fn select_page<DB>(
    table: &'static str,
    filters: impl Fn(&mut QueryBuilder<DB>),
    statuses: &[i32],
    page: &Page<'_>,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    i32: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut statuses = statuses.to_vec();
    statuses.sort_unstable();
    statuses.dedup();
    let mut sql = QueryBuilder::<DB>::new("");
    let walk = |sql: &mut QueryBuilder<DB>, status: Option<i32>| {
        sql.push(format!("SELECT id, body FROM {table} WHERE 1 = 1"));
        filters(sql);
        push_equal(sql, "status", status.as_ref());
        push_page(sql, page);
    };
    match statuses.as_slice() {
        [] => walk(&mut sql, None),
        [status] => walk(&mut sql, Some(*status)),
        several => {
            sql.push("SELECT id, body FROM (");
            for (i, status) in several.iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push("SELECT * FROM (");
                walk(&mut sql, Some(*status));
                sql.push(format!(") AS walk{i}"));
            }
            sql.push(") AS walks ORDER BY id DESC LIMIT ")
                .push_bind(i64::from(page.limit));
        }
    }
    sql
}

/// The page's id bounds, newest first, and its size.
fn push_page<DB>(sql: &mut QueryBuilder<DB>, page: &Page<'_>)
where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    if let Some(start) = page.start_ms {
        sql.push(" AND id >= ").push_bind(uuid_v7_floor(start));
    }
    if let Some(end) = page.end_ms {
        sql.push(" AND id < ").push_bind(uuid_v7_floor(end));
    }
    if let Some(before) = page.before_id {
        sql.push(" AND id < ").push_bind(before.to_string());
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(page.limit));
}

/// The smallest UUIDv7 text of millisecond `ms`: ids compare as text in
/// time order, so a time bound is an id bound.
pub fn uuid_v7_floor(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// `AND column = value`, when a value is given.
pub fn push_equal<DB, T>(sql: &mut QueryBuilder<DB>, column: &str, value: Option<&T>)
where
    DB: Database,
    T: Clone + for<'q> Encode<'q, DB> + Type<DB>,
{
    if let Some(value) = value {
        sql.push(format!(" AND {column} = "))
            .push_bind(value.clone());
    }
}

/// Runs a `SELECT body …` built in `sql` on `pool` and decodes every row.
pub async fn fetch_bodies<DB, P, M>(
    mut sql: QueryBuilder<DB>,
    pool: &Pool<DB>,
    what: &str,
) -> Result<Vec<M>, StoreError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    Vec<u8>: for<'r> Decode<'r, DB> + Type<DB>,
    for<'s> &'s str: ColumnIndex<DB::Row>,
    P: Message + Default,
    M: TryFrom<P>,
    StoreError: From<M::Error>,
{
    let rows = sql.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| decode::<P, M>(what, &row.try_get::<Vec<u8>, _>("body")?))
        .collect()
}

/// The body of the row of `table` with `id`, decoded (`what` names it in
/// errors).
pub async fn fetch_body<DB, P, M>(
    pool: &Pool<DB>,
    table: &'static str,
    id: &str,
    what: &str,
) -> Result<Option<M>, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    Vec<u8>: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    for<'s> &'s str: ColumnIndex<DB::Row>,
    P: Message + Default,
    M: TryFrom<P>,
    StoreError: From<M::Error>,
{
    let mut sql = QueryBuilder::<DB>::new(format!("SELECT body FROM {table} WHERE id = "));
    sql.push_bind(id.to_string());
    let mut bodies = fetch_bodies::<DB, P, M>(sql, pool, what).await?;
    Ok(bodies.pop())
}

//! The outbox's rows and reads, built once for every SQL backend: a
//! delivery as stored, how a settlement is written, the listing and the
//! depth.

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use super::{Delivery, DeliveryQuery, DeliveryState, OutboxDepth, Settlement, StoreError};

/// The columns [`StoredDelivery`] is read from, in its field order.
pub const DELIVERY_COLUMNS: &str = "sequence, subscription, body, state, attempts, next_attempt_ms, last_error, created_ms, \
     lease_until_ms";

/// Leases the oldest pending deliveries that are due and that no one
/// holds, and returns them (in no particular order). Binds `$1` pending,
/// `$2` the claim's clock, `$3` the limit and `$4` the lease's end, each
/// first used in that order (so SQLite binds them by position); `lock`
/// is the row-locking clause a shared database needs.
pub fn claim_sql(lock: &str) -> String {
    format!(
        "WITH due AS MATERIALIZED (\
           SELECT sequence, subscription FROM outbox_deliveries \
           WHERE state = $1 AND next_attempt_ms <= $2 AND lease_until_ms < $2 \
           ORDER BY sequence, subscription LIMIT $3 {lock}) \
         UPDATE outbox_deliveries SET lease_until_ms = $4 \
         WHERE (sequence, subscription) IN (SELECT sequence, subscription FROM due) \
         RETURNING {DELIVERY_COLUMNS}"
    )
}

/// Records an attempt at a pending delivery still held by the claim that
/// settles it: the attempt counted, the lease released. Binds `$1`…`$3`
/// what [`settled`] gives, `$4` the sequence, `$5` the subscription, `$6`
/// pending and `$7` the claim's lease end, in that order.
pub const SETTLE_SQL: &str = "UPDATE outbox_deliveries SET state = $1, attempts = attempts + 1, \
     lease_until_ms = 0, next_attempt_ms = COALESCE($2, next_attempt_ms), \
     last_error = COALESCE($3, last_error) \
     WHERE sequence = $4 AND subscription = $5 AND state = $6 AND lease_until_ms = $7";

/// A delivery's row as the database holds it.
pub struct StoredDelivery {
    pub sequence: i64,
    pub subscription: String,
    pub body: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_ms: i64,
    pub last_error: String,
    pub created_ms: i64,
    pub lease_until_ms: i64,
}

impl StoredDelivery {
    /// The delivery; a state no delivery has, or a negative attempt
    /// count, is corrupt data.
    pub fn into_delivery(self) -> Result<Delivery, StoreError> {
        let state = DeliveryState::from_word(&self.state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state `{}`", self.state)))?;
        let attempts = u32::try_from(self.attempts)
            .map_err(|_| StoreError::Corrupt(format!("{} delivery attempts", self.attempts)))?;
        Ok(Delivery {
            sequence: self.sequence,
            subscription: self.subscription,
            body: self.body,
            state,
            attempts,
            next_attempt_ms: self.next_attempt_ms,
            last_error: self.last_error,
            created_ms: self.created_ms,
            lease_until_ms: self.lease_until_ms,
        })
    }
}

/// A delivery from its row (the [`DELIVERY_COLUMNS`], by name).
pub fn delivery_row<R>(row: &R) -> Result<Delivery, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i32: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    StoredDelivery {
        sequence: row.try_get("sequence")?,
        subscription: row.try_get("subscription")?,
        body: row.try_get("body")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        last_error: row.try_get("last_error")?,
        created_ms: row.try_get("created_ms")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
    }
    .into_delivery()
}

/// Puts claimed deliveries in claiming order, oldest (lowest sequence)
/// first: an `UPDATE … RETURNING` answers in no particular order.
pub fn oldest_first(claimed: &mut [Delivery]) {
    claimed.sort_by(|a, b| (a.sequence, &a.subscription).cmp(&(b.sequence, &b.subscription)));
}

/// What a settlement writes: the new state, the next attempt's time and
/// the error, `None` where the stored value stays.
pub fn settled(settlement: &Settlement) -> (DeliveryState, Option<i64>, Option<&str>) {
    match settlement {
        Settlement::Delivered => (DeliveryState::Delivered, None, None),
        Settlement::Retry {
            next_attempt_ms,
            error,
        } => (DeliveryState::Pending, Some(*next_attempt_ms), Some(error)),
        Settlement::Dead { error } => (DeliveryState::Dead, None, Some(error)),
    }
}

/// The sequence of the last audit event turned into deliveries.
pub async fn outbox_cursor<DB>(pool: &Pool<DB>) -> Result<i64, StoreError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    Ok(
        sqlx::query_scalar("SELECT sequence FROM outbox_cursor WHERE id = 1")
            .fetch_one(pool)
            .await?,
    )
}

/// The deliveries `query` names: of its state (or all), newest (highest
/// sequence) first, then by subscription, after the page cursor.
pub async fn query_deliveries<DB>(
    pool: &Pool<DB>,
    query: &DeliveryQuery,
) -> Result<Vec<Delivery>, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'c> &'c str: ColumnIndex<DB::Row>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    i32: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM outbox_deliveries WHERE 1 = 1"
    ));
    if let Some(state) = query.state {
        sql.push(" AND state = ")
            .push_bind(state.word().to_string());
    }
    if let Some(subscription) = &query.subscription {
        sql.push(" AND subscription = ")
            .push_bind(subscription.clone());
    }
    if let Some((sequence, subscription)) = &query.after {
        sql.push(" AND (sequence < ")
            .push_bind(*sequence)
            .push(" OR (sequence = ")
            .push_bind(*sequence)
            .push(" AND subscription > ")
            .push_bind(subscription.clone())
            .push("))");
    }
    sql.push(" ORDER BY sequence DESC, subscription LIMIT ")
        .push_bind(i64::from(query.limit));
    let rows = sql.build().fetch_all(pool).await?;
    rows.iter().map(delivery_row).collect()
}

/// How many deliveries wait and are dead, and when the oldest waiting
/// one was queued.
pub async fn outbox_depth<DB>(pool: &Pool<DB>) -> Result<OutboxDepth, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments: IntoArguments<DB>,
    for<'c> &'c str: ColumnIndex<DB::Row>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    Option<i64>: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(
        "SELECT state, COUNT(*) AS deliveries, MIN(created_ms) AS oldest_ms \
         FROM outbox_deliveries WHERE state IN (",
    );
    sql.push_bind(DeliveryState::Pending.word().to_string())
        .push(", ")
        .push_bind(DeliveryState::Dead.word().to_string())
        .push(") GROUP BY state");
    let mut depth = OutboxDepth::default();
    for row in sql.build().fetch_all(pool).await? {
        let state: String = row.try_get("state")?;
        let deliveries: i64 = row.try_get("deliveries")?;
        let count = u64::try_from(deliveries)
            .map_err(|_| StoreError::Corrupt(format!("{deliveries} {state} deliveries")))?;
        match DeliveryState::from_word(&state) {
            Some(DeliveryState::Pending) => {
                depth.pending = count;
                depth.oldest_pending_ms = row.try_get("oldest_ms")?;
            }
            Some(DeliveryState::Dead) => depth.dead = count,
            _ => return Err(StoreError::Corrupt(format!("delivery state `{state}`"))),
        }
    }
    Ok(depth)
}

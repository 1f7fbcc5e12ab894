//! The list queries, built once for every SQL backend: each takes a
//! list's filter and page and gives the `SELECT` to run, newest first.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{
    ApprovalQuery, AuditQuery, ExecutionQuery, OrderQuery, SignalQuery,
    query::{Page, push_equal, select_page, uuid_v7_floor},
};
use crate::codec::enums::Mirrored;

/// `SELECT count(*)` of the orders the executions of `pipeline_id` placed
/// since `since_ms` under their own request id, `request_prefix` followed
/// by the execution's id.
pub fn pipeline_orders_since<DB>(
    pipeline_id: &str,
    since_ms: i64,
    request_prefix: &str,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new("SELECT count(*) FROM orders WHERE pipeline_id = ");
    sql.push_bind(pipeline_id.to_string())
        .push(" AND id >= ")
        .push_bind(uuid_v7_floor(since_ms))
        .push(" AND request_id = ")
        .push_bind(request_prefix.to_string())
        .push(" || execution_id");
    sql
}

/// `SELECT id, body` of one page of orders.
pub fn orders<DB>(query: &OrderQuery) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    i32: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let filters = |sql: &mut QueryBuilder<DB>| {
        push_equal(sql, "exchange", query.exchange.as_ref());
        push_equal(sql, "symbol", query.symbol.as_ref());
        push_equal(sql, "side", query.side.map(Mirrored::number).as_ref());
        push_equal(sql, "execution_id", query.execution_id.as_ref());
    };
    let statuses: Vec<i32> = query.statuses.iter().map(|s| s.number()).collect();
    select_page(
        "orders",
        filters,
        &statuses,
        &page(query.start_ms, query.end_ms, &query.before_id, query.limit),
    )
}

/// `SELECT id, body` of one page of signals.
pub fn signals<DB>(query: &SignalQuery) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    i32: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let filters = |sql: &mut QueryBuilder<DB>| {
        push_equal(sql, "source", query.source.as_ref());
        push_equal(sql, "symbol", query.symbol.as_ref());
        push_equal(sql, "strategy", query.strategy.as_ref());
        push_equal(sql, "outcome", query.outcome.map(Mirrored::number).as_ref());
    };
    select_page(
        "signals",
        filters,
        &[],
        &page(query.start_ms, query.end_ms, &query.before_id, query.limit),
    )
}

/// `SELECT id, body` of one page of executions.
pub fn executions<DB>(query: &ExecutionQuery) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    i32: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let filters = |sql: &mut QueryBuilder<DB>| {
        push_equal(sql, "pipeline_id", query.pipeline_id.as_ref());
        push_equal(sql, "signal_id", query.signal_id.as_ref());
    };
    let statuses: Vec<i32> = query.statuses.iter().map(|s| s.number()).collect();
    select_page(
        "executions",
        filters,
        &statuses,
        &page(query.start_ms, query.end_ms, &query.before_id, query.limit),
    )
}

fn page<'a>(
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    before_id: &'a Option<String>,
    limit: u32,
) -> Page<'a> {
    Page {
        start_ms,
        end_ms,
        before_id: before_id.as_deref(),
        limit,
    }
}

/// `SELECT columns` of one page of audit events, by sequence.
pub fn audit<DB>(columns: &str, query: &AuditQuery) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    i32: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut sql =
        QueryBuilder::<DB>::new(format!("SELECT {columns} FROM audit_events WHERE 1 = 1"));
    push_equal(&mut sql, "actor", query.actor.as_ref());
    // A prefix compared as a prefix, not a LIKE pattern: it may hold `%`.
    if let Some(prefix) = &query.action_prefix {
        sql.push(" AND substr(action, 1, length(")
            .push_bind(prefix.clone())
            .push(")) = ")
            .push_bind(prefix.clone());
    }
    push_equal(&mut sql, "outcome", query.outcome.as_ref());
    if let Some(start) = query.start_ms {
        sql.push(" AND time_ms >= ").push_bind(start);
    }
    if let Some(end) = query.end_ms {
        sql.push(" AND time_ms < ").push_bind(end);
    }
    if let Some(before) = query.before_sequence {
        sql.push(" AND sequence < ").push_bind(before);
    }
    sql.push(" ORDER BY sequence DESC LIMIT ")
        .push_bind(i64::from(query.limit));
    sql
}

/// The columns [`super::rows::approval_row`] reads.
pub const APPROVAL_COLUMNS: &str = "body, state, decided_by, reason, decide_ms";

/// `SELECT` the approval whose `column` is `value`.
pub fn approval_where<DB>(column: &'static str, value: &str) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE {column} = "
    ));
    sql.push_bind(value.to_string());
    sql
}

/// `SELECT` one page of approvals.
pub fn approvals<DB>(query: &ApprovalQuery) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE 1 = 1"
    ));
    if !query.states.is_empty() {
        sql.push(" AND state IN (");
        let mut states = sql.separated(", ");
        for state in &query.states {
            states.push_bind(state.word().to_string());
        }
        sql.push(")");
    }
    push_equal(&mut sql, "pipeline_id", query.pipeline_id.as_ref());
    if let Some(expire_by) = query.expire_by_ms {
        sql.push(" AND expire_ms <= ").push_bind(expire_by);
    }
    if let Some(before) = &query.before_id {
        sql.push(" AND id < ").push_bind(before.clone());
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(query.limit));
    sql
}

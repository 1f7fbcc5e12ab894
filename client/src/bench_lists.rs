//! `tpctl bench --target list`: the first page of each filter that
//! ListSignals, ListOrders and ListExecutions offer, with a value that
//! matches (taken from the newest row) and one that matches nothing, and a
//! few likely combinations. Each case is requested one call at a time, so
//! that its latency is the query's and not the queue's.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prost_types::Timestamp;
use serde::Serialize;
use tradeplane_api::{
    ExecutionFilter, ExecutionStatus, ListExecutionsRequest, ListOrdersRequest, ListSignalsRequest,
    OrderFilter, OrderStatus, Side, SignalFilter, SignalOutcome,
};

use crate::Client;

/// A value no seeded or real row has.
const NOTHING: &str = "no-such-value";

/// How to run the list bench.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Calls per case, unless `budget` runs out first.
    pub requests: usize,
    /// Most time spent on one case.
    pub budget: Duration,
    /// The page size asked for.
    pub page_size: i32,
}

/// One case's latencies.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub case: String,
    /// Rows on the first page.
    pub rows: usize,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
}

impl ListReport {
    /// A one-line human summary.
    pub fn summary(&self) -> String {
        format!(
            "{:<40} {:>4} rows  {:>5} calls  {:>3} errors  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
            self.case, self.rows, self.requests, self.errors, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

/// A list call with its filter.
enum Call {
    Signals(SignalFilter),
    Orders(OrderFilter),
    Executions(ExecutionFilter),
}

/// Runs every case against `client` and returns their reports.
pub async fn run(client: &Client, options: &ListOptions) -> anyhow::Result<Vec<ListReport>> {
    let mut reports = Vec::new();
    for (case, call) in cases(client).await? {
        reports.push(measure(client, case, &call, options).await?);
    }
    Ok(reports)
}

/// The cases, with matching values taken from the newest signal, order and
/// execution.
async fn cases(client: &Client) -> anyhow::Result<Vec<(String, Call)>> {
    let signal = first(client, &Call::Signals(SignalFilter::default())).await?;
    let order = first(client, &Call::Orders(OrderFilter::default())).await?;
    let execution = first(client, &Call::Executions(ExecutionFilter::default())).await?;
    let (source, symbol, strategy) = match &signal {
        Some(Row::Signal(s)) => (
            s.source.clone(),
            s.instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default(),
            s.strategy.clone(),
        ),
        _ => Default::default(),
    };
    let (exchange, order_symbol, execution_id) = match &order {
        Some(Row::Order(o)) => (
            o.exchange.clone(),
            o.instrument
                .as_ref()
                .map(|i| i.symbol.clone())
                .unwrap_or_default(),
            o.execution_id.clone(),
        ),
        _ => Default::default(),
    };
    let (pipeline_id, signal_id) = match &execution {
        Some(Row::Execution(e)) => (e.pipeline_id.clone(), e.signal_id.clone()),
        _ => Default::default(),
    };
    let now = chrono::Utc::now().timestamp();
    let last_day = (Some(seconds(now - 86_400)), Some(seconds(now + 60)));
    // A day long before any data: 2001-09-09.
    let empty_day = (Some(seconds(1_000_000_000)), Some(seconds(1_000_086_400)));
    let signals =
        |name: &str, filter: SignalFilter| (format!("signals {name}"), Call::Signals(filter));
    let orders = |name: &str, filter: OrderFilter| (format!("orders {name}"), Call::Orders(filter));
    let executions = |name: &str, filter: ExecutionFilter| {
        (format!("executions {name}"), Call::Executions(filter))
    };
    let open_orders = vec![
        OrderStatus::New as i32,
        OrderStatus::Submitted as i32,
        OrderStatus::PartiallyFilled as i32,
    ];
    let waiting = vec![
        ExecutionStatus::Pending as i32,
        ExecutionStatus::Running as i32,
    ];
    Ok(vec![
        signals("unfiltered", SignalFilter::default()),
        signals(
            "source match",
            SignalFilter {
                source: source.clone(),
                ..Default::default()
            },
        ),
        signals(
            "source none",
            SignalFilter {
                source: NOTHING.into(),
                ..Default::default()
            },
        ),
        signals(
            "symbol match",
            SignalFilter {
                symbol: symbol.clone(),
                ..Default::default()
            },
        ),
        signals(
            "symbol none",
            SignalFilter {
                symbol: "NOSUCH/USDT".into(),
                ..Default::default()
            },
        ),
        signals(
            "strategy match",
            SignalFilter {
                strategy: strategy.clone(),
                ..Default::default()
            },
        ),
        signals(
            "strategy none",
            SignalFilter {
                strategy: NOTHING.into(),
                ..Default::default()
            },
        ),
        signals(
            "outcome match",
            SignalFilter {
                outcome: SignalOutcome::Rejected as i32,
                ..Default::default()
            },
        ),
        signals(
            "outcome none",
            SignalFilter {
                outcome: SignalOutcome::Duplicate as i32,
                ..Default::default()
            },
        ),
        signals(
            "time match",
            SignalFilter {
                start_time: last_day.0,
                end_time: last_day.1,
                ..Default::default()
            },
        ),
        signals(
            "time none",
            SignalFilter {
                start_time: empty_day.0,
                end_time: empty_day.1,
                ..Default::default()
            },
        ),
        signals(
            "symbol+strategy match",
            SignalFilter {
                symbol: symbol.clone(),
                strategy: strategy.clone(),
                ..Default::default()
            },
        ),
        signals(
            "symbol+time none",
            SignalFilter {
                symbol: symbol.clone(),
                start_time: empty_day.0,
                end_time: empty_day.1,
                ..Default::default()
            },
        ),
        signals(
            "symbol+outcome none",
            SignalFilter {
                symbol,
                outcome: SignalOutcome::Duplicate as i32,
                ..Default::default()
            },
        ),
        orders("unfiltered", OrderFilter::default()),
        orders(
            "exchange match",
            OrderFilter {
                exchange: exchange.clone(),
                ..Default::default()
            },
        ),
        orders(
            "exchange none",
            OrderFilter {
                exchange: NOTHING.into(),
                ..Default::default()
            },
        ),
        orders(
            "symbol match",
            OrderFilter {
                symbol: order_symbol.clone(),
                ..Default::default()
            },
        ),
        orders(
            "symbol none",
            OrderFilter {
                symbol: "NOSUCH/USDT".into(),
                ..Default::default()
            },
        ),
        orders(
            "status match",
            OrderFilter {
                statuses: vec![OrderStatus::Rejected as i32],
                ..Default::default()
            },
        ),
        orders(
            "statuses match",
            OrderFilter {
                statuses: vec![OrderStatus::Filled as i32, OrderStatus::Canceled as i32],
                ..Default::default()
            },
        ),
        orders(
            "open statuses none",
            OrderFilter {
                statuses: open_orders.clone(),
                ..Default::default()
            },
        ),
        orders(
            "side match",
            OrderFilter {
                side: Side::Sell as i32,
                ..Default::default()
            },
        ),
        orders(
            "execution match",
            OrderFilter {
                execution_id: execution_id.clone(),
                ..Default::default()
            },
        ),
        orders(
            "execution none",
            OrderFilter {
                execution_id: NOTHING.into(),
                ..Default::default()
            },
        ),
        orders(
            "time match",
            OrderFilter {
                start_time: last_day.0,
                end_time: last_day.1,
                ..Default::default()
            },
        ),
        orders(
            "time none",
            OrderFilter {
                start_time: empty_day.0,
                end_time: empty_day.1,
                ..Default::default()
            },
        ),
        orders(
            "symbol+status match",
            OrderFilter {
                symbol: order_symbol.clone(),
                statuses: vec![OrderStatus::Rejected as i32],
                ..Default::default()
            },
        ),
        orders(
            "symbol+open statuses none",
            OrderFilter {
                symbol: order_symbol.clone(),
                statuses: open_orders,
                ..Default::default()
            },
        ),
        orders(
            "exchange+symbol+side match",
            OrderFilter {
                exchange,
                symbol: order_symbol,
                side: Side::Buy as i32,
                ..Default::default()
            },
        ),
        executions("unfiltered", ExecutionFilter::default()),
        executions(
            "pipeline match",
            ExecutionFilter {
                pipeline_id: pipeline_id.clone(),
                ..Default::default()
            },
        ),
        executions(
            "pipeline none",
            ExecutionFilter {
                pipeline_id: NOTHING.into(),
                ..Default::default()
            },
        ),
        executions(
            "signal match",
            ExecutionFilter {
                signal_id,
                ..Default::default()
            },
        ),
        executions(
            "signal none",
            ExecutionFilter {
                signal_id: NOTHING.into(),
                ..Default::default()
            },
        ),
        executions(
            "status match",
            ExecutionFilter {
                statuses: vec![ExecutionStatus::Failed as i32],
                ..Default::default()
            },
        ),
        executions(
            "statuses match",
            ExecutionFilter {
                statuses: vec![
                    ExecutionStatus::Succeeded as i32,
                    ExecutionStatus::Skipped as i32,
                ],
                ..Default::default()
            },
        ),
        executions(
            "waiting statuses none",
            ExecutionFilter {
                statuses: waiting.clone(),
                ..Default::default()
            },
        ),
        executions(
            "time match",
            ExecutionFilter {
                start_time: last_day.0,
                end_time: last_day.1,
                ..Default::default()
            },
        ),
        executions(
            "time none",
            ExecutionFilter {
                start_time: empty_day.0,
                end_time: empty_day.1,
                ..Default::default()
            },
        ),
        executions(
            "pipeline+status match",
            ExecutionFilter {
                pipeline_id: pipeline_id.clone(),
                statuses: vec![ExecutionStatus::Failed as i32],
                ..Default::default()
            },
        ),
        executions(
            "pipeline+waiting none",
            ExecutionFilter {
                pipeline_id,
                statuses: waiting,
                ..Default::default()
            },
        ),
    ])
}

fn seconds(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// The newest row a call returns.
enum Row {
    Signal(tradeplane_api::Signal),
    Order(tradeplane_api::Order),
    Execution(tradeplane_api::Execution),
}

/// The newest row of `call`.
async fn first(client: &Client, call: &Call) -> anyhow::Result<Option<Row>> {
    let rows = fetch(client, call, 1)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(rows.into_iter().next())
}

/// The first page of `call`.
async fn fetch(client: &Client, call: &Call, page_size: i32) -> Result<Vec<Row>, String> {
    let status = |s: tonic::Status| crate::describe_status(&s);
    match call {
        Call::Signals(filter) => client
            .signals()
            .list_signals(ListSignalsRequest {
                page_size,
                filter: Some(filter.clone()),
                ..Default::default()
            })
            .await
            .map(|r| {
                r.into_inner()
                    .signals
                    .into_iter()
                    .map(Row::Signal)
                    .collect()
            })
            .map_err(status),
        Call::Orders(filter) => client
            .orders()
            .list_orders(ListOrdersRequest {
                page_size,
                filter: Some(filter.clone()),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().orders.into_iter().map(Row::Order).collect())
            .map_err(status),
        Call::Executions(filter) => client
            .pipelines()
            .list_executions(ListExecutionsRequest {
                page_size,
                filter: Some(filter.clone()),
                ..Default::default()
            })
            .await
            .map(|r| {
                r.into_inner()
                    .executions
                    .into_iter()
                    .map(Row::Execution)
                    .collect()
            })
            .map_err(status),
    }
}

/// Calls `call` until `options.requests` are done or its budget is spent
/// (one unmeasured call first).
async fn measure(
    client: &Client,
    case: String,
    call: &Call,
    options: &ListOptions,
) -> anyhow::Result<ListReport> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let rows = fetch(client, call, options.page_size)
        .await
        .map_or(0, |rows| rows.len());
    let deadline = Instant::now() + options.budget;
    let (mut errors, mut first_error) = (0, None);
    while (histogram.len() as usize) < options.requests.max(1) && Instant::now() < deadline {
        let started = Instant::now();
        let outcome = fetch(client, call, options.page_size).await;
        histogram.saturating_record(started.elapsed().as_micros().max(1) as u64);
        if let Err(message) = outcome {
            errors += 1;
            first_error.get_or_insert(message);
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(ListReport {
        case,
        rows,
        requests: histogram.len(),
        errors,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
        first_error,
    })
}

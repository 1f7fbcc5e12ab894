//! `tpctl bench`: a closed-loop load generator for the whole service. Each
//! of `concurrency` workers sends one request at a time for `duration`
//! (after an unmeasured warm-up); latencies go into an HDR histogram. The
//! `pipeline` target measures from SubmitSignal to the paper order's fill,
//! through one of `pipelines` enabled pipelines.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::oneshot;
use tradeplane_api::{
    ConcurrencyPolicy, CreatePipelineRequest, OrderStatus, Pipeline, SignalMatch, Sizing,
    SubmitSignalRequest, Trigger, WatchOrdersRequest, sizing, trigger,
};

use crate::Client;

/// The instrument bench traffic uses, so that it never trips the price
/// deviation check of real instruments.
const BENCH_SYMBOL: &str = "BENCHUSDT";

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `grpc.health.v1.Health/Check`: the cost of a call that does nothing.
    Health,
    /// `SignalService/SubmitSignal` with a fresh request id each time:
    /// validation plus a durable write.
    Submit,
    /// `POST /webhooks/tradingview` with the documented template.
    Webhook,
    /// SubmitSignal for a signal one of `pipelines` bench pipelines
    /// matches; measured until its paper order is filled.
    Pipeline,
    /// The first page of every list filter, one call at a time (see
    /// [`crate::bench_lists`]).
    List,
}

/// How to run one bench.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub server: String,
    pub api_key: Option<String>,
    pub webhook_url: String,
    pub passphrase: String,
    pub concurrency: usize,
    /// gRPC connections the workers share (HTTP/2 multiplexes the rest).
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub progress: bool,
    /// Enabled pipelines the `pipeline` target creates (if missing).
    pub pipelines: usize,
}

/// The result of one bench.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub target: Target,
    pub concurrency: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub throughput_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The first failure, to tell what went wrong.
    pub first_error: Option<String>,
}

impl BenchReport {
    /// A one-line human summary.
    pub fn summary(&self) -> String {
        format!(
            "{:<8} {:>9.0} req/s  {:>8} ok  {:>5} errors  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  p999 {:>7.3} ms  max {:>7.3} ms",
            format!("{:?}", self.target).to_lowercase(),
            self.throughput_per_second,
            self.requests - self.errors,
            self.errors,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
        )
    }
}

enum Driver {
    Grpc(Vec<Client>),
    Webhook(reqwest::Client),
    Pipeline(Vec<Client>, Arc<Fills>),
}

/// Fills seen on the WatchOrders stream, by signal id, and the workers
/// waiting for them.
#[derive(Default)]
struct Fills {
    state: Mutex<FillState>,
}

/// Workers waiting by signal id, and fills that came before their waiter.
type FillState = (HashMap<String, oneshot::Sender<()>>, HashSet<String>);

impl Fills {
    fn filled(&self, signal_id: String) {
        if let Ok(mut state) = self.state.lock() {
            match state.0.remove(&signal_id) {
                Some(waiter) => {
                    let _ = waiter.send(());
                }
                None => {
                    state.1.insert(signal_id);
                }
            }
        }
    }

    /// Resolves when `signal_id`'s order is filled.
    fn wait(&self, signal_id: String) -> oneshot::Receiver<()> {
        let (tell, told) = oneshot::channel();
        if let Ok(mut state) = self.state.lock() {
            if state.1.remove(&signal_id) {
                let _ = tell.send(());
            } else {
                state.0.insert(signal_id, tell);
            }
        }
        told
    }
}

/// Creates the bench pipelines (one per strategy `bench-<i>`) unless they
/// exist, and starts following fills.
async fn prepare_pipelines(clients: &[Client], count: usize) -> anyhow::Result<Arc<Fills>> {
    let client = &clients[0];
    for i in 0..count {
        let pipeline = Pipeline {
            name: format!("bench-{i}"),
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Signal(SignalMatch {
                    strategy: format!("bench-{i}"),
                    symbol_glob: "BENCH/*".into(),
                    ..Default::default()
                })),
            }),
            sizing: Some(Sizing {
                method: Some(sizing::Method::FixedQuoteAmount("10".into())),
            }),
            concurrency: ConcurrencyPolicy::Queue as i32,
            ..Default::default()
        };
        let created = client
            .pipelines()
            .create_pipeline(CreatePipelineRequest {
                request_id: format!("bench-pipeline-{i}"),
                pipeline: Some(pipeline),
            })
            .await;
        match created {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => anyhow::bail!("creating bench-{i}: {}", crate::describe_status(&status)),
        }
    }
    let fills = Arc::new(Fills::default());
    let mut orders = client
        .orders()
        .watch_orders(WatchOrdersRequest::default())
        .await
        .map_err(|s| anyhow::anyhow!(crate::describe_status(&s)))?
        .into_inner();
    let seen = fills.clone();
    tokio::spawn(async move {
        while let Some(Ok(event)) = orders.next().await {
            if let Some(order) = event.order
                && order.status == OrderStatus::Filled as i32
                && !order.signal_id.is_empty()
            {
                seen.filled(order.signal_id);
            }
        }
    });
    Ok(fills)
}

/// Runs one bench and returns its report.
pub async fn run(target: Target, options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let driver = match target {
        Target::Health | Target::Submit => {
            let mut clients = Vec::new();
            for _ in 0..options.connections.max(1) {
                clients.push(Client::connect(&options.server, options.api_key.as_deref()).await?);
            }
            Driver::Grpc(clients)
        }
        Target::Pipeline => {
            let mut clients = Vec::new();
            for _ in 0..options.connections.max(1) {
                clients.push(Client::connect(&options.server, options.api_key.as_deref()).await?);
            }
            let fills = prepare_pipelines(&clients, options.pipelines.max(1)).await?;
            Driver::Pipeline(clients, fills)
        }
        Target::List => anyhow::bail!("the list target has a runner of its own: bench_lists::run"),
        Target::Webhook => Driver::Webhook(
            reqwest::Client::builder()
                .pool_max_idle_per_host(options.concurrency)
                .tcp_nodelay(true)
                .build()?,
        ),
    };
    let driver = Arc::new(driver);

    if !options.warmup.is_zero() {
        let warmup_counter = Arc::new(AtomicU64::new(0));
        phase(target, options, &driver, options.warmup, warmup_counter).await?;
    }

    let counter = Arc::new(AtomicU64::new(0));
    let bar = options
        .progress
        .then(|| progress_bar(target, options.duration));
    let ticker = bar.clone().map(|bar| {
        let counter = counter.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let elapsed = started.elapsed();
                bar.set_position(elapsed.as_millis() as u64);
                let done = counter.load(Ordering::Relaxed);
                bar.set_message(format!(
                    "{done} requests, {:.0} req/s",
                    done as f64 / elapsed.as_secs_f64()
                ));
            }
        })
    });
    let started = Instant::now();
    let (histogram, errors, first_error) =
        phase(target, options, &driver, options.duration, counter).await?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let requests = histogram.len();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(BenchReport {
        target,
        concurrency: options.concurrency,
        requests,
        errors,
        seconds,
        throughput_per_second: (requests - errors) as f64 / seconds,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: histogram.max() as f64 / 1000.0,
        first_error,
    })
}

fn progress_bar(target: Target, duration: Duration) -> ProgressBar {
    let bar = ProgressBar::new(duration.as_millis() as u64);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {elapsed_precise} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{target:?}").to_lowercase());
    bar
}

async fn phase(
    target: Target,
    options: &BenchOptions,
    driver: &Arc<Driver>,
    duration: Duration,
    counter: Arc<AtomicU64>,
) -> anyhow::Result<(Histogram<u64>, u64, Option<String>)> {
    let deadline = Instant::now() + duration;
    let mut workers = Vec::with_capacity(options.concurrency);
    let pipelines = options.pipelines.max(1);
    for worker in 0..options.concurrency {
        let driver = driver.clone();
        let counter = counter.clone();
        let webhook_url = options.webhook_url.clone();
        let passphrase = options.passphrase.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut errors = 0u64;
            let mut first_error: Option<String> = None;
            let mut sent = 0usize;
            while Instant::now() < deadline {
                sent += 1;
                // Like the client library: UUIDv7 request ids, unique per call.
                let request_id = uuid::Uuid::now_v7().to_string();
                let started = Instant::now();
                let outcome: Result<(), String> = match driver.as_ref() {
                    Driver::Grpc(clients) => {
                        let client = &clients[worker % clients.len()];
                        match target {
                            Target::Health => client.check("").await.map(|_| ()),
                            _ => client.signals().submit_signal(bench_signal(request_id)).await.map(|_| ()),
                        }
                        .map_err(|status| crate::describe_status(&status))
                    }
                    Driver::Pipeline(clients, fills) => {
                        let client = &clients[worker % clients.len()];
                        let mut signal = bench_signal(request_id);
                        signal.strategy = format!("bench-{}", (worker + sent * 7) % pipelines);
                        // The pipeline sizes it (a signal's own quantity
                        // would override the 10 USDT and fall below the
                        // paper exchange's minimum notional).
                        signal.quantity.clear();
                        match client.signals().submit_signal(signal).await {
                            Ok(reply) => {
                                let id = reply.into_inner().signal.map(|s| s.id).unwrap_or_default();
                                match tokio::time::timeout(Duration::from_secs(10), fills.wait(id)).await {
                                    Ok(Ok(())) => Ok(()),
                                    _ => Err("no fill within 10s".to_string()),
                                }
                            }
                            Err(status) => Err(crate::describe_status(&status)),
                        }
                    }
                    Driver::Webhook(http) => {
                        let body = serde_json::json!({
                            "passphrase": passphrase, "strategy": "bench", "ticker": BENCH_SYMBOL,
                            "action": "buy", "contracts": "0.001", "price": "100", "request_id": request_id,
                        });
                        match http.post(&webhook_url).json(&body).send().await {
                            Ok(response) if response.status().is_success() => Ok(()),
                            Ok(response) => Err(format!("HTTP {}: {}", response.status(), response.text().await.unwrap_or_default())),
                            Err(err) => Err(err.to_string()),
                        }
                    }
                };
                histogram.saturating_record(started.elapsed().as_micros().max(1) as u64);
                if let Err(message) = outcome {
                    errors += 1;
                    first_error.get_or_insert(message);
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>((histogram, errors, first_error))
        }));
    }
    let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let (histogram, worker_errors, worker_first_error) = worker.await??;
        merged.add(histogram)?;
        errors += worker_errors;
        first_error = first_error.or(worker_first_error);
    }
    Ok((merged, errors, first_error))
}

fn bench_signal(request_id: String) -> SubmitSignalRequest {
    SubmitSignalRequest {
        request_id,
        strategy: "bench".into(),
        symbol: BENCH_SYMBOL.into(),
        action: "buy".into(),
        quantity: "0.001".into(),
        price: "100".into(),
        ..Default::default()
    }
}

//! A kill -9 loop over a pipeline with brackets: the real `tradeplane`
//! binary on one SQLite database is SIGKILLed at random moments while a
//! task posts TradingView alerts, and restarted each time. After the last
//! restart every acknowledged alert has exactly one execution, at most one
//! entry or exit order, no execution failed because of a crash, no
//! protective order outlives its position or its OCO sibling, and the
//! paper balances are the stored fills.
//!
//! The moments and the alerts come from a seeded generator; the seed is
//! printed, and `CRASH_LOOP_SEED=<seed>` replays the same plan.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::watch;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, all_executions, all_orders, balances, bracketed_pipeline, create_pipeline, dec,
    eventually, serve_async,
};

/// Kills, each followed by a restart on the same database.
const TRIALS: u64 = 30;
/// The longest a server runs before it is killed.
const MAX_LIFE_MS: u64 = 1_200;
/// The strategy name the alerts carry and the pipeline matches.
const STRATEGY: &str = "crash-loop";
/// The server's settings: the test passphrase, no rate limits, and a short
/// lease so that executions a killed server was running are resumed soon.
const ENV: [(&str, &str); 4] = [
    ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
    (
        "TRADEPLANE_SECURITY__RATE_LIMITS__PER_API_KEY__RATE_PER_SECOND",
        "0",
    ),
    (
        "TRADEPLANE_SECURITY__RATE_LIMITS__PER_CLIENT_IP__RATE_PER_SECOND",
        "0",
    ),
    ("TRADEPLANE_PIPELINES__LEASE", "1s"),
];

/// SplitMix64: a small seeded generator, so that a failing plan replays.
struct Plan(u64);

impl Plan {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The seed from `CRASH_LOOP_SEED`, else from the clock.
fn seed() -> u64 {
    match std::env::var("CRASH_LOOP_SEED") {
        Ok(text) => text.parse().expect("CRASH_LOOP_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    }
}

/// A pipeline buying 100 USDT of BTC on each `buy` of the strategy and
/// closing on `exit`, with a stop 1 % under the fill and a take-profit
/// 1 % over it; alerts queue rather than skip.
fn bracketed() -> Pipeline {
    Pipeline {
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                strategy: STRATEGY.into(),
                ..Default::default()
            })),
        }),
        concurrency: ConcurrencyPolicy::Queue as i32,
        ..bracketed_pipeline("crash-loop", "100", "100", &[("100", "100")])
    }
}

/// An alert as TradingView sends it; `n` makes each one distinct.
fn alert(n: u64, action: &str, price: Decimal) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "strategy": STRATEGY,
        "ticker": "BTCUSDT",
        "exchange": "BINANCE",
        "action": action,
        "price": price.to_string(),
        "comment": format!("alert {n}"),
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

/// An alert the server acknowledged.
struct Acked {
    signal_id: String,
    body: Value,
}

/// What the posting task saw.
#[derive(Default)]
struct Posted {
    acked: Vec<Acked>,
    /// Answers that are neither an acknowledgement nor a crash.
    refused: Vec<String>,
}

/// Posts alerts until `stop`, to whatever server `url` names now: mostly
/// buys, one in six an exit, at a price walking around 50000. An alert
/// that got no answer (the server was killed) is posted again, as
/// TradingView redelivers, until a server acknowledges it.
async fn post_alerts(
    mut plan: Plan,
    url: watch::Receiver<String>,
    stop: Arc<AtomicBool>,
) -> Posted {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    let mut posted = Posted::default();
    let mut price = Decimal::from(50_000);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let action = if plan.below(6) == 0 { "exit" } else { "buy" };
        // Steps of up to ±0.3 %, pulled back inside 48500..51500.
        let step = Decimal::from(plan.below(61)) - Decimal::from(30);
        price = (price * (Decimal::from(10_000) + step) / Decimal::from(10_000)).round_dp(2);
        price = price.clamp(Decimal::from(48_500), Decimal::from(51_500));
        let body = alert(n, action, price);
        loop {
            let target = url.borrow().clone();
            let answer = http
                .post(&target)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            let Ok(answer) = answer else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let status = answer.status();
            let reply: Value = answer.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                let signal_id = reply["signal_id"].as_str().unwrap_or_default().to_string();
                posted.acked.push(Acked { signal_id, body });
                break;
            }
            if status.is_server_error() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            posted.refused.push(format!("{status} {reply} for {body}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5 + plan.below(30))).await;
    }
    posted
}

/// Waits until nothing is in flight: no execution pending or running, and
/// no order new or of unknown outcome (resting brackets stay submitted).
async fn settled(client: &Client) {
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let running = ExecutionFilter {
                statuses: vec![
                    ExecutionStatus::Pending as i32,
                    ExecutionStatus::Running as i32,
                ],
                ..Default::default()
            };
            let running = all_executions(client, running).await;
            let unsettled = OrderFilter {
                statuses: vec![OrderStatus::New as i32, OrderStatus::Unknown as i32],
                ..Default::default()
            };
            let unsettled = all_orders(client, unsettled).await;
            if running.is_empty() && unsettled.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "never settled: executions {running:#?}, orders {unsettled:#?}"
                ))
            }
        },
    )
    .await;
}

fn is_open(order: &Order) -> bool {
    [
        OrderStatus::New as i32,
        OrderStatus::Submitted as i32,
        OrderStatus::PartiallyFilled as i32,
        OrderStatus::Unknown as i32,
    ]
    .contains(&order.status)
}

/// One line about an order: id, role, status and why.
fn brief(order: &Order) -> String {
    let status = OrderStatus::try_from(order.status)
        .map(|s| s.as_str_name())
        .unwrap_or("?");
    format!(
        "{} {} {status} {}",
        order.id,
        role(order).as_str_name(),
        order.status_reason
    )
}

/// One line about several orders.
fn briefs<'a>(orders: impl IntoIterator<Item = &'a &'a Order>) -> String {
    orders
        .into_iter()
        .map(|o| brief(o))
        .collect::<Vec<_>>()
        .join("; ")
}

fn role(order: &Order) -> OrderRole {
    OrderRole::try_from(order.role).unwrap_or(OrderRole::Unspecified)
}

/// An execution failure that names a real refusal (the venue said no),
/// not a process that stopped.
fn is_real_refusal(error: &str) -> bool {
    let crash = ["stopped", "restart", "unknown", "stopping"];
    error.contains("rejected") && !crash.iter().any(|word| error.contains(word))
}

/// What each asset's balance moved by, from the stored fills.
fn settled_by_fills(orders: &[Order]) -> BTreeMap<String, Decimal> {
    let mut moved: BTreeMap<String, Decimal> = BTreeMap::new();
    for order in orders.iter().filter(|o| o.exchange == "paper") {
        let instrument = order.instrument.as_ref().expect("an instrument");
        let buy = order.side == Side::Buy as i32;
        for fill in &order.fills {
            let (quantity, notional, fee) = (
                dec(&fill.quantity),
                dec(&fill.quantity) * dec(&fill.price),
                dec(&fill.fee),
            );
            let (base, quote) = if buy {
                (quantity, -(notional + fee))
            } else {
                (-quantity, notional - fee)
            };
            *moved.entry(instrument.base.clone()).or_default() += base;
            *moved.entry(instrument.quote.clone()).or_default() += quote;
        }
    }
    moved
}

/// Prints what the run did, so that a pass shows what it covered:
/// executions by outcome (and how many a restart resumed), orders by role
/// and status.
fn summarize(executions: &[Execution], orders: &[Order]) {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for execution in executions {
        let status = ExecutionStatus::try_from(execution.status)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        *outcomes
            .entry(format!("{status} {}", execution.skip_reason))
            .or_default() += 1;
    }
    let resumed = executions.iter().filter(|e| e.attempt > 1).count();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for order in orders {
        let status = OrderStatus::try_from(order.status)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        *kinds
            .entry(format!("{} {status}", role(order).as_str_name()))
            .or_default() += 1;
    }
    println!("executions: {outcomes:?}; resumed after a kill: {resumed}");
    println!("orders: {kinds:?}");
}

/// Every broken promise of the final state, as text.
async fn violations(client: &Client, acked: &[Acked]) -> Vec<String> {
    let mut found = Vec::new();
    let executions = all_executions(client, ExecutionFilter::default()).await;
    let orders = all_orders(client, OrderFilter::default()).await;
    summarize(&executions, &orders);
    let mut by_signal: HashMap<&str, Vec<&Execution>> = HashMap::new();
    for execution in &executions {
        by_signal
            .entry(execution.signal_id.as_str())
            .or_default()
            .push(execution);
    }
    let mut by_execution: HashMap<&str, Vec<&Order>> = HashMap::new();
    for order in &orders {
        by_execution
            .entry(order.execution_id.as_str())
            .or_default()
            .push(order);
    }

    for Acked { signal_id, body } in acked {
        let ran = by_signal
            .get(signal_id.as_str())
            .cloned()
            .unwrap_or_default();
        if ran.len() != 1 {
            let ids: Vec<_> = ran.iter().map(|e| e.id.as_str()).collect();
            found.push(format!(
                "signal {signal_id} ({body}) has {} executions: {ids:?}",
                ran.len()
            ));
        }
    }
    for execution in &executions {
        let placed = by_execution
            .get(execution.id.as_str())
            .cloned()
            .unwrap_or_default();
        let main = placed
            .iter()
            .filter(|o| matches!(role(o), OrderRole::Entry | OrderRole::Exit))
            .count();
        if main > 1 {
            found.push(format!(
                "execution {} placed {main} entry/exit orders: {}",
                execution.id,
                briefs(&placed)
            ));
        }
        if execution.status == ExecutionStatus::Failed as i32 && !is_real_refusal(&execution.error)
        {
            found.push(format!(
                "execution {} (attempt {}) failed without a real refusal: {}",
                execution.id, execution.attempt, execution.error
            ));
        }
        // A filled entry of a successful execution is protected by one
        // OCO pair that the venue took.
        let filled_entry = placed
            .iter()
            .any(|o| role(o) == OrderRole::Entry && o.status == OrderStatus::Filled as i32);
        if execution.status == ExecutionStatus::Succeeded as i32 && filled_entry {
            let refused = [OrderStatus::Rejected as i32, OrderStatus::Failed as i32];
            let legs: Vec<_> = placed
                .iter()
                .filter(|o| matches!(role(o), OrderRole::StopLoss | OrderRole::TakeProfit))
                .filter(|o| !refused.contains(&o.status))
                .collect();
            if legs.len() != 2 {
                found.push(format!(
                    "execution {} (attempt {}) succeeded with its entry filled but {} protective orders placed: {}",
                    execution.id,
                    execution.attempt,
                    legs.len(),
                    briefs(&placed)
                ));
            }
        }
    }

    // OCO groups: a resting leg with a finished sibling is an orphan.
    let mut groups: BTreeMap<&str, Vec<&Order>> = BTreeMap::new();
    for order in orders.iter().filter(|o| !o.oco_group.is_empty()) {
        groups
            .entry(order.oco_group.as_str())
            .or_default()
            .push(order);
    }
    let mut reserved = Decimal::ZERO;
    for (group, legs) in &groups {
        let open = legs.iter().filter(|o| is_open(o)).count();
        if open > 0 && open < legs.len() {
            found.push(format!(
                "OCO group {group} has a resting leg and a finished one: {}",
                briefs(legs)
            ));
        }
        if open == legs.len() {
            reserved += dec(&legs[0].quantity);
        }
        let filled = legs
            .iter()
            .filter(|o| o.status == OrderStatus::Filled as i32)
            .count();
        if filled > 1 {
            found.push(format!("OCO group {group} filled twice: {}", briefs(legs)));
        }
    }
    // What rests to close the position never exceeds the position.
    let position: Decimal = orders
        .iter()
        .filter(|o| !o.pipeline_id.is_empty())
        .flat_map(|o| {
            let sign = if o.side == Side::Buy as i32 {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            };
            o.fills.iter().map(move |f| sign * dec(&f.quantity))
        })
        .sum();
    let resting: Decimal = orders
        .iter()
        .filter(|o| is_open(o) && o.oco_group.is_empty())
        .map(|o| dec(&o.quantity))
        .sum::<Decimal>()
        + reserved;
    if resting > position {
        found.push(format!(
            "protective orders for {resting} BTC rest on a position of {position}"
        ));
    }

    // Paper balances are the configured start moved by the stored fills,
    // and what is locked is what the resting groups hold, once each.
    let start = BTreeMap::from([
        ("USDT".to_string(), Decimal::from(100_000)),
        ("BTC".to_string(), Decimal::ONE),
    ]);
    let moved = settled_by_fills(&orders);
    let held = balances(client, "paper").await;
    let assets: std::collections::BTreeSet<_> = start.keys().chain(moved.keys()).collect();
    for asset in assets {
        let expected = start.get(asset).copied().unwrap_or_default()
            + moved.get(asset).copied().unwrap_or_default();
        let (free, locked) = held.get(asset).copied().unwrap_or_default();
        if free + locked != expected {
            found.push(format!(
                "paper {asset}: free {free} + locked {locked} != {expected} from the stored fills"
            ));
        }
    }
    let locked_btc = held.get("BTC").map(|b| b.1).unwrap_or_default();
    if locked_btc != resting {
        found.push(format!(
            "paper locks {locked_btc} BTC while resting orders hold {resting}"
        ));
    }
    found
}

/// Starts the server on `data_dir` and hands its webhook URL to the poster.
async fn start(data_dir: &Path, url: &watch::Sender<String>) -> tradeplane_e2e::Served {
    let served = serve_async(data_dir, &ENV).await;
    let _ = url.send(served.webhook_url());
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_alerts_trade_exactly_once_across_kill_9() {
    let seed = seed();
    println!("crash loop seed {seed} (replay with CRASH_LOOP_SEED={seed})");
    let mut plan = Plan(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");

    let (url, url_seen) = watch::channel(String::new());
    let served = start(&data_dir, &url).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("connects");
    create_pipeline(&client, bracketed()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let poster = tokio::spawn(post_alerts(Plan(plan.next()), url_seen, stop.clone()));

    let mut served = served;
    for trial in 1..=TRIALS {
        let life = plan.below(MAX_LIFE_MS);
        tokio::time::sleep(Duration::from_millis(life)).await;
        println!("trial {trial}: SIGKILL after {life} ms");
        served.kill();
        served = start(&data_dir, &url).await;
    }
    stop.store(true, Ordering::Relaxed);
    let posted = poster.await.expect("the poster ends");
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("connects");
    settled(&client).await;

    let mut found: Vec<String> = posted.refused.clone();
    found.extend(violations(&client, &posted.acked).await);
    served.kill();
    println!(
        "{} alerts acknowledged over {TRIALS} kills",
        posted.acked.len()
    );
    if !found.is_empty() {
        // The database and the server log stay for a look.
        let kept = dir.keep();
        panic!(
            "seed {seed}: {} violations (data and server log kept in {}):\n{}",
            found.len(),
            kept.display(),
            found.join("\n")
        );
    }
}

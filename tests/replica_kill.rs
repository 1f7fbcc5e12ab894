//! The replica kill test: three replicas on one PostgreSQL database take
//! webhook and gRPC load, spread over them as a load balancer would, and
//! one of them is SIGKILLed at a random moment, ten times over (it comes
//! back before the next trial). After each kill:
//! - no acknowledged signal is lost: each one, sent again, is a duplicate;
//! - every signal has exactly one execution, and every execution has
//!   exactly one order at the venue (an order the dead replica recorded
//!   but may not have sent is reconciled by the replica that resumed it);
//! - the executions the dead replica held are finished by the others
//!   within two lease periods of the kill.

use std::time::{Duration, Instant, SystemTime};

use tradeplane_api::*;
use tradeplane_e2e::{
    Served, all_executions, eventually, fresh_postgres_database, list_signals_page,
    mock_binance::{Fault, MockBinance, Route},
    replicas::{
        REPLICA_LEASE, admin, alert, audit_verifies, buy_signal, create_on_all, on_binance,
        replica, replicas,
    },
};

const TRIALS: u64 = 10;
const SIGNALS_PER_TRIAL: u64 = 12;

/// A signal as it was sent, to send again.
enum Sent {
    Webhook(String),
    Grpc(Box<SubmitSignalRequest>),
}

/// Sends `signal` to the first live replica from `first` on that takes it,
/// as a load balancer retries another backend; `true` once one
/// acknowledged it.
async fn deliver(replicas: &[Option<Served>], first: usize, signal: &Sent) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    for n in 0..replicas.len() {
        let Some(served) = &replicas[(first + n) % replicas.len()] else {
            continue;
        };
        let acknowledged = match signal {
            Sent::Webhook(body) => http
                .post(served.webhook_url())
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .is_ok_and(|reply| matches!(reply.status().as_u16(), 200 | 202)),
            Sent::Grpc(request) => match admin_of(served).await {
                Some(client) => client
                    .signals()
                    .submit_signal(*request.clone())
                    .await
                    .is_ok(),
                None => false,
            },
        };
        if acknowledged {
            return true;
        }
    }
    false
}

/// An admin client of `served`, if it answers.
async fn admin_of(served: &Served) -> Option<tradeplane_client::Client> {
    tradeplane_client::Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .ok()
}

/// Whether `signal`, sent again to `served`, is a duplicate (it was
/// stored the first time).
async fn is_duplicate(served: &Served, signal: &Sent) -> bool {
    match signal {
        Sent::Webhook(body) => {
            tradeplane_e2e::post_webhook(&served.webhook_url(), body.clone(), &[])
                .await
                .status()
                == 200
        }
        Sent::Grpc(request) => {
            let client = admin(served).await;
            match client.signals().submit_signal(*request.clone()).await {
                Ok(reply) => reply.into_inner().outcome() == SignalOutcome::Duplicate,
                Err(status) => panic!("a resent signal: {} {}", status.code(), status.message()),
            }
        }
    }
}

/// Every stored signal.
async fn all_signals(client: &tradeplane_client::Client) -> Vec<Signal> {
    let signals = list_signals_page(client, SignalFilter::default(), 1000).await;
    assert!(signals.len() < 1000, "one page holds them all");
    signals
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref()
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_at_random_loses_nothing_and_orders_nothing_twice() {
    let Some(url) = fresh_postgres_database("three replicas on one database").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster: Vec<Option<Served>> = replicas(&url, &mock, dir.path(), 3)
        .await
        .into_iter()
        .map(Some)
        .collect();
    let mut clients = Vec::new();
    for served in cluster.iter().flatten() {
        clients.push(admin(served).await);
    }
    create_on_all(
        &clients[0],
        &[&clients[1], &clients[2]],
        on_binance("survives"),
    )
    .await;
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() as u64);
    println!("seed {seed}");

    let mut earlier = std::collections::HashSet::new();
    for trial in 0..TRIALS {
        // Slow venue answers keep executions running when the kill lands.
        for _ in 0..SIGNALS_PER_TRIAL {
            mock.fail_next(
                Route::PlaceOrder,
                Fault::SlowAnswer(Duration::from_millis(150)),
            );
        }
        let draw = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(trial * 1442695040888963407);
        let victim = (draw % 3) as usize;
        let kill_after = (draw >> 8) % SIGNALS_PER_TRIAL;
        let mut acknowledged = Vec::new();
        let mut killed_at = None;
        for n in 0..SIGNALS_PER_TRIAL {
            if n == kill_after {
                if let Some(served) = cluster[victim].take() {
                    served.kill();
                }
                killed_at = Some(SystemTime::now());
            }
            let name = format!("trial-{trial}-{n}");
            let signal = if n % 3 == 0 {
                Sent::Grpc(Box::new(buy_signal(&name)))
            } else {
                Sent::Webhook(alert(&name).to_string())
            };
            if deliver(&cluster, n as usize, &signal).await {
                acknowledged.push(signal);
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        let killed_ms = killed_at
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        let survivor = cluster.iter().flatten().next().expect("two replicas live");
        let client = admin(survivor).await;

        // Every execution ends, each with one order at the venue.
        let started = Instant::now();
        let executions = eventually(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let all = all_executions(&client, ExecutionFilter::default()).await;
                let ended = all.iter().filter(|e| e.end_time.is_some()).count();
                if ended == all.len() {
                    Ok(all)
                } else {
                    Err(format!("{ended} of {} ended", all.len()))
                }
            },
        )
        .await;
        for signal in &acknowledged {
            assert!(
                is_duplicate(survivor, signal).await,
                "trial {trial}: an acknowledged signal was lost"
            );
        }
        let signals = all_signals(&client).await;
        assert_eq!(executions.len(), signals.len(), "one execution per signal");
        let mut by_signal: Vec<&str> = executions.iter().map(|e| e.signal_id.as_str()).collect();
        by_signal.sort_unstable();
        by_signal.dedup();
        assert_eq!(
            by_signal.len(),
            signals.len(),
            "no signal has two executions"
        );
        let mut takeovers = Vec::new();
        for execution in &executions {
            assert_eq!(
                execution.status(),
                ExecutionStatus::Succeeded,
                "trial {trial}: {execution:#?}"
            );
            if execution.attempt > 1 && !earlier.contains(&execution.id) {
                let took = millis(&execution.end_time) - killed_ms;
                takeovers.push(took);
                assert!(
                    took <= 2 * REPLICA_LEASE.as_millis() as i64,
                    "trial {trial}: the dead replica's execution ended {took} ms after the kill"
                );
            }
        }
        println!(
            "trial {trial}: replica {victim} killed after {kill_after} signals; \
             {} acknowledged, all ended {:?} later; taken over, ended ms after the kill: {takeovers:?}",
            acknowledged.len(),
            started.elapsed()
        );
        // An order the dead replica recorded but may not have sent is
        // reconciled by the replica that resumed its execution: sent again
        // if the venue never got it, never twice.
        let orders = eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                let orders = mock.orders();
                if orders.len() >= executions.len() {
                    Ok(orders)
                } else {
                    Err(format!(
                        "{} orders for {} executions",
                        orders.len(),
                        executions.len()
                    ))
                }
            },
        )
        .await;
        let mut client_ids: Vec<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
        client_ids.sort_unstable();
        client_ids.dedup();
        assert_eq!(client_ids.len(), orders.len(), "no order was sent twice");
        assert_eq!(orders.len(), executions.len(), "one order per execution");

        earlier.extend(executions.iter().map(|e| e.id.clone()));
        // The victim comes back for the next trial.
        let data_dir = dir.path().join(format!("r{victim}"));
        cluster[victim] = Some(replica(&url, &mock, &data_dir).await);
    }
    let live = cluster
        .iter()
        .flatten()
        .next()
        .expect("three replicas live");
    assert!(
        audit_verifies(&admin(live).await).await,
        "the audit chain verifies"
    );
    for served in cluster.into_iter().flatten() {
        served.kill();
    }
}

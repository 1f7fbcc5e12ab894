//! A database outage under load: the PostgreSQL connection of a running
//! server is cut for five seconds (by a loopback proxy between the two,
//! which drops every connection and refuses new ones, as a stopped
//! database does) while webhook and gRPC signals keep coming. Callers get
//! 503 / UNAVAILABLE while it lasts, never a false acknowledgement; the
//! server recovers by itself; every acknowledged signal is stored and
//! traded exactly once; and the audit chain verifies.

use std::time::{Duration, Instant};

use tonic::Code;
use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, all_executions, any_signal_pipeline, create_pipeline, eventually,
    fresh_postgres_database, list_signals_page, post_webhook,
    replicas::{alert, audit_verifies},
    tcp_proxy::TcpProxy,
};

/// How long the database is away.
const OUTAGE: Duration = Duration::from_secs(5);

/// A signal as it was sent, and whether it was acknowledged.
struct Sent {
    request: Request,
    acknowledged: bool,
}

enum Request {
    Webhook(String),
    Grpc(Box<SubmitSignalRequest>),
}

fn paper_buy(request_id: &str) -> SubmitSignalRequest {
    SubmitSignalRequest {
        strategy: "outage".into(),
        symbol: "BINANCE:BTC/USDT".into(),
        action: "buy".into(),
        price: "50000".into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_get_unavailable_during_a_database_outage_and_nothing_acknowledged_is_lost() {
    let Some(url) = fresh_postgres_database("a database outage").await else {
        return;
    };
    let mut through_proxy = url::Url::parse(&url).expect("a URL");
    let target = format!(
        "{}:{}",
        through_proxy.host_str().expect("a host"),
        through_proxy.port().unwrap_or(5432)
    );
    let proxy = TcpProxy::start(target.parse().expect("a loopback address")).await;
    through_proxy
        .set_port(Some(proxy.addr.port()))
        .expect("a port");
    let server = TestServer::start_with(|config| {
        config.database_url = through_proxy.to_string();
        config.store.statement_timeout = Duration::from_secs(1);
    })
    .await;
    let client = server.client().await;
    // Every signal is to trade: executions wait for each other rather
    // than skip one that an outage left running.
    let pipeline = Pipeline {
        concurrency: ConcurrencyPolicy::Queue as i32,
        ..any_signal_pipeline("through-the-outage")
    };
    create_pipeline(&client, pipeline).await;
    let webhook = server.webhook_url();

    // Signals every 50 ms for 13 s; the database goes away at 3 s.
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut cut = false;
    let mut restored = false;
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(13) {
        if !cut && started.elapsed() >= Duration::from_secs(3) {
            proxy.cut();
            cut = true;
        }
        if cut && !restored && started.elapsed() >= Duration::from_secs(3) + OUTAGE {
            proxy.restore();
            restored = true;
        }
        let name = format!("signal-{n}");
        let (request, acknowledged) = if n % 4 == 0 {
            let request = paper_buy(&name);
            let answer = client.signals().submit_signal(request.clone()).await;
            let acknowledged = match answer {
                Ok(_) => true,
                Err(status) if status.code() == Code::Unavailable => false,
                Err(status) => panic!("SubmitSignal during the outage: {status:?}"),
            };
            (Request::Grpc(Box::new(request)), acknowledged)
        } else {
            let body = alert(&name).to_string();
            let reply = post_webhook(&webhook, body.clone(), &[]).await;
            let acknowledged = match reply.status().as_u16() {
                202 => true,
                503 => false,
                other => panic!("the webhook answered {other} during the outage"),
            };
            (Request::Webhook(body), acknowledged)
        };
        sent.push(Sent {
            request,
            acknowledged,
        });
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = sent.iter().filter(|s| !s.acknowledged).count();
    println!(
        "{} signals sent, {refused} refused while the database was away",
        sent.len()
    );
    assert!(refused > 0, "the outage refused something");
    assert!(
        sent.last().is_some_and(|s| s.acknowledged),
        "the server recovered by itself"
    );

    // Every acknowledged signal was stored: sent again, it is a duplicate.
    for signal in sent.iter().filter(|s| s.acknowledged) {
        match &signal.request {
            Request::Webhook(body) => {
                let reply = post_webhook(&webhook, body.clone(), &[]).await;
                assert_eq!(reply.status(), 200, "a stored alert is a duplicate");
            }
            Request::Grpc(request) => {
                let answer = client
                    .signals()
                    .submit_signal(*request.clone())
                    .await
                    .expect("SubmitSignal answers")
                    .into_inner();
                assert_eq!(answer.outcome(), SignalOutcome::Duplicate);
            }
        }
    }

    // Each stored signal is traded once: one execution, ended well.
    let signals = list_signals_page(&client, SignalFilter::default(), 1000).await;
    let executions = eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let all = all_executions(&client, ExecutionFilter::default()).await;
            let succeeded = all
                .iter()
                .filter(|e| e.status() == ExecutionStatus::Succeeded)
                .count();
            if all.len() == signals.len() && succeeded == all.len() {
                Ok(all)
            } else {
                Err(format!(
                    "{succeeded} of {} executions succeeded, for {} signals: {:#?}",
                    all.len(),
                    signals.len(),
                    all.iter()
                        .filter(|e| e.status() != ExecutionStatus::Succeeded)
                        .collect::<Vec<_>>()
                ))
            }
        },
    )
    .await;
    let mut by_signal: Vec<&str> = executions.iter().map(|e| e.signal_id.as_str()).collect();
    by_signal.sort_unstable();
    by_signal.dedup();
    assert_eq!(by_signal.len(), signals.len(), "one execution per signal");
    assert!(audit_verifies(&client).await, "the audit chain verifies");
    server.stop().await;
}

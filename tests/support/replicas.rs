//! Replicas of tradeplane (real binaries) on one PostgreSQL database,
//! trading on mock Binance, as they run behind a load balancer.

use std::{path::Path, time::Duration};

use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;

use crate::{
    ADMIN_KEY, PASSPHRASE, Served, create_pipeline, eventually,
    mock_binance::{API_KEY, API_SECRET, MockBinance},
    pipelines::any_signal_pipeline,
    serve_async,
};

/// The lease replicas in tests hold executions for.
pub const REPLICA_LEASE: Duration = Duration::from_secs(2);

/// `count` replicas on the database `url`, all trading on `mock`, with
/// their data directories under `dir`, started at the same moment (as a
/// Deployment starts them) with one configured admin key, [`ADMIN_KEY`],
/// and the webhook passphrase.
pub async fn replicas(url: &str, mock: &MockBinance, dir: &Path, count: usize) -> Vec<Served> {
    futures::future::join_all((0..count).map(|n| replica(url, mock, dir.join(format!("r{n}")))))
        .await
}

/// A replica on the database `url` with its data in `data_dir`, trading on
/// `mock`, with the admin key [`ADMIN_KEY`]. It hears of the other
/// replicas' changes only through the database's notices (its safety-net
/// reload is an hour away), so that tests prove them.
pub async fn replica(url: &str, mock: &MockBinance, data_dir: impl AsRef<Path>) -> Served {
    let data_dir = data_dir.as_ref();
    let lease = format!("{}ms", REPLICA_LEASE.as_millis());
    let env = [
        ("TRADEPLANE_DATABASE_URL", url),
        ("TRADEPLANE_ADMIN_KEY", ADMIN_KEY),
        ("TRADEPLANE_STORE__RELOAD_EVERY", "1h"),
        ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
        ("TRADEPLANE_PIPELINES__LEASE", lease.as_str()),
        ("TRADEPLANE_PIPELINES__WORKERS", "4"),
        ("TRADEPLANE_EXCHANGES__BINANCE__ENABLED", "true"),
        ("TRADEPLANE_EXCHANGES__BINANCE__BASE_URL", mock.url.as_str()),
        // An order a dead replica may have sent is known, one way or the
        // other, soon: the venue takes it within a second or never.
        ("TRADEPLANE_EXCHANGES__BINANCE__RECV_WINDOW", "1s"),
        ("TRADEPLANE_EXCHANGES__SYNC_INTERVAL", "500ms"),
        ("TRADEPLANE_BINANCE_API_KEY", API_KEY),
        ("TRADEPLANE_BINANCE_API_SECRET", API_SECRET),
    ];
    // Where the tests' `Served` reads the key from.
    std::fs::create_dir_all(data_dir).expect("a data directory");
    std::fs::write(data_dir.join("admin.key"), ADMIN_KEY).expect("the admin key");
    serve_async(data_dir, &env).await
}

/// An admin client of `served`.
pub async fn admin(served: &Served) -> Client {
    Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects")
}

/// Creates `pipeline` through `one`, waits until every one of `others`
/// knows it, and returns it as created.
pub async fn create_on_all(one: &Client, others: &[&Client], pipeline: Pipeline) -> Pipeline {
    let name = pipeline.name.clone();
    let created = create_pipeline(one, pipeline).await;
    for other in others {
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async {
                let listed = other
                    .pipelines()
                    .list_pipelines(ListPipelinesRequest::default())
                    .await
                    .expect("ListPipelines answers")
                    .into_inner()
                    .pipelines;
                if listed.iter().any(|p| p.name == name) {
                    Ok(())
                } else {
                    Err(format!("a replica does not know `{name}` yet"))
                }
            },
        )
        .await;
    }
    created
}

/// A pipeline on mock Binance that buys 0.001 BTC per signal and whose
/// executions wait for each other.
pub fn on_binance(name: &str) -> Pipeline {
    Pipeline {
        exchange: "binance".into(),
        concurrency: ConcurrencyPolicy::Queue as i32,
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.001".into())),
        }),
        ..any_signal_pipeline(name)
    }
}

/// A current TradingView buy alert for BTCUSDT, told apart by `order_id`.
pub fn alert(order_id: &str) -> serde_json::Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": "buy",
        "price": "50000",
        "order_id": order_id,
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

/// A gRPC buy signal for BTC/USDT on Binance, told apart by `request_id`.
pub fn buy_signal(request_id: &str) -> SubmitSignalRequest {
    SubmitSignalRequest {
        strategy: "replicas".into(),
        symbol: "BINANCE:BTC/USDT".into(),
        action: "buy".into(),
        price: "50000".into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// Whether the audit chain verifies through `client`.
pub async fn audit_verifies(client: &Client) -> bool {
    let verified = client
        .security()
        .verify_audit_log(VerifyAuditLogRequest {})
        .await
        .expect("VerifyAuditLog answers")
        .into_inner();
    verified.intact && verified.events_checked > 0
}

/// The two replicas of `all`.
pub fn two(all: Vec<Served>) -> [Served; 2] {
    let Ok(two) = <[Served; 2]>::try_from(all) else {
        panic!("two replicas were asked for");
    };
    two
}

/// The next message of `stream` that `wanted` accepts, within 10 s.
pub async fn next_where<T>(
    stream: &mut tonic::Streaming<T>,
    what: &str,
    wanted: impl Fn(&T) -> bool,
) -> T {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = stream.message().await.expect("the stream reads") {
            if wanted(&item) {
                return Some(item);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(item)) => item,
        Ok(None) => panic!("the stream ended before {what}"),
        Err(_) => panic!("no {what} within 10 s"),
    }
}

/// Two replicas on a fresh database, trading on a fresh mock Binance, with
/// an admin client of each (see [`replicas`]).
pub struct Pair {
    /// The database both use.
    pub url: String,
    pub mock: MockBinance,
    /// Holds the replicas' data directories.
    pub dir: tempfile::TempDir,
    pub a: Served,
    pub b: Served,
    pub to_a: Client,
    pub to_b: Client,
}

/// [`Pair`] for a test of `what`; `None` (the reason printed) where this
/// machine has no PostgreSQL.
pub async fn pair(what: &str) -> Option<Pair> {
    let url = crate::fresh_postgres_database(what).await?;
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let [a, b] = two(replicas(&url, &mock, dir.path(), 2).await);
    let (to_a, to_b) = (admin(&a).await, admin(&b).await);
    Some(Pair {
        url,
        mock,
        dir,
        a,
        b,
        to_a,
        to_b,
    })
}

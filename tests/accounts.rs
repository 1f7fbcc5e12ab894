//! Several named accounts at one venue, end to end: the real server on
//! loopback and the mock Binance accepting one API key per account. One
//! TradingView alert fans out to three pipelines (one per account, each
//! with its own size); each order goes out signed with its account's key,
//! and a fault on one account (an open breaker, a bad secret) leaves the
//! other two trading. Unknown accounts are refused naming the field, and
//! credentials from the environment or a 0600 file never reach the log,
//! the metrics or the audit log.

use std::time::Duration;

use serde_json::json;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, audit_events, bad_request_field, binary, create_pipeline, dec,
    deliver_to, list_exchanges,
    mock_binance::{API_KEY, MockBinance},
    orders_of, serve_async, strategy_pipeline, try_create_pipeline,
};

/// Account name, API key, API secret, and the size its pipeline buys.
type Account = (&'static str, &'static str, &'static str, &'static str);

const ACCOUNTS: [Account; 3] = [
    ("copy_a", "key-copy-a-1111", "secret-copy-a-1111", "0.001"),
    ("copy_b", "key-copy-b-2222", "secret-copy-b-2222", "0.002"),
    ("copy_c", "key-copy-c-3333", "secret-copy-c-3333", "0.003"),
];

/// A server whose `binance` venue has the three accounts (and no default
/// one); `secret_of` gives the secret each account is configured with
/// (the mock always expects the one in [`ACCOUNTS`]).
async fn start(mock: &MockBinance, secret_of: impl Fn(&Account) -> &'static str) -> TestServer {
    TestServer::start_with(|config| {
        for account in &ACCOUNTS {
            let (name, key, secret, _) = *account;
            mock.configure_account(config, name, (key, secret));
            if let Some(configured) = config.exchanges.binance.accounts.get_mut(name) {
                configured.api_secret = secret_of(account).into();
            }
        }
        config.exchanges.sync_interval = Duration::from_millis(200);
    })
    .await
}

/// One pipeline per account, all triggered by TradingView alerts, each
/// buying its own fixed quantity.
async fn copy_pipelines(client: &Client) {
    for (name, _, _, size) in ACCOUNTS {
        let pipeline = Pipeline {
            exchange: "binance".into(),
            account: name.into(),
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Signal(SignalMatch {
                    source: "tradingview".into(),
                    ..Default::default()
                })),
            }),
            ..strategy_pipeline(
                &name.replace('_', "-"),
                sizing::Method::FixedQuantity(size.into()),
            )
        };
        let stored = create_pipeline(client, pipeline).await;
        assert_eq!(stored.account, name);
    }
}

/// Posts one TradingView buy alert and returns the execution it started
/// for each account, once each has ended, by pipeline name.
async fn alert(server: &TestServer, client: &Client) -> Vec<Execution> {
    let body = json!({
        "passphrase": PASSPHRASE,
        "strategy": "copy",
        "ticker": "BINANCE:BTCUSDT",
        "action": "buy",
        "price": "50000",
        "time": chrono::Utc::now().to_rfc3339(),
    });
    deliver_to(server, client, &body, ACCOUNTS.len()).await
}

/// The one order of a succeeded execution, checked against the mock: on
/// `account`, of `size`, filled, and sent with `key`.
async fn placed(client: &Client, mock: &MockBinance, execution: &Execution, account: &Account) {
    let (name, key, _, size) = *account;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let [order] = orders_of(client, execution)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(order.account, name, "{order:?}");
    assert_eq!(order.exchange, "binance");
    assert_eq!(dec(&order.quantity), dec(size));
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
    let at_mock = mock
        .order(&order.client_order_id)
        .expect("the order reached the mock");
    assert_eq!(at_mock.quantity, dec(size));
    assert_eq!(
        mock.placed_by(&order.client_order_id).as_deref(),
        Some(key),
        "signed with the account's own key"
    );
}

#[tokio::test]
async fn one_alert_fans_out_to_three_accounts_and_an_open_breaker_blocks_only_its_own() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |(_, _, secret, _)| secret).await;
    let client = server.client().await;
    copy_pipelines(&client).await;

    let executions = alert(&server, &client).await;
    for (execution, account) in executions.iter().zip(&ACCOUNTS) {
        placed(&client, &mock, execution, account).await;
    }
    assert_eq!(mock.orders().len(), 3);

    let listed = list_exchanges(&client).await;
    let binance: Vec<_> = listed.iter().filter(|e| e.name == "binance").collect();
    let names: Vec<_> = binance.iter().map(|e| e.account.as_str()).collect();
    assert_eq!(names, ["copy_a", "copy_b", "copy_c"], "{listed:?}");
    assert!(binance.iter().all(|e| !e.live && e.kind == "binance"));

    // Copy C's breaker opens: its execution fails fast, the others trade.
    client
        .security()
        .trip_circuit_breaker(TripCircuitBreakerRequest {
            exchange: "binance".into(),
            account: "copy_c".into(),
            reason: "maintenance".into(),
            ..Default::default()
        })
        .await
        .expect("TripCircuitBreaker answers");
    let executions = alert(&server, &client).await;
    for (execution, account) in executions.iter().zip(&ACCOUNTS[..2]) {
        placed(&client, &mock, execution, account).await;
    }
    let blocked = &executions[2];
    assert_ne!(
        blocked.status,
        ExecutionStatus::Succeeded as i32,
        "{blocked:?}"
    );
    assert!(blocked.error.contains("circuit breaker"), "{blocked:?}");
    assert_eq!(mock.orders().len(), 5, "nothing left for copy C");

    let exchanges = server.tpctl(&["exchanges"]).await;
    let copy_c = exchanges
        .lines()
        .find(|line| line.contains("copy_c"))
        .unwrap_or_else(|| panic!("copy_c listed: {exchanges}"));
    assert!(copy_c.contains("open"), "{copy_c}");
    let balances = server
        .tpctl(&["balances", "--exchange", "binance", "--account", "copy_b"])
        .await;
    assert!(balances.contains("USDT"), "{balances}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            r#"tradeplane_circuit_breaker_state{account="copy_c",exchange="binance",state="open"} 1"#
        ),
        "the breaker gauge names the account"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_secret_on_one_account_leaves_the_other_two_trading() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |(name, _, secret, _)| {
        if *name == "copy_b" {
            "not-copy-b-secret"
        } else {
            secret
        }
    })
    .await;
    let client = server.client().await;
    copy_pipelines(&client).await;

    let executions = alert(&server, &client).await;
    placed(&client, &mock, &executions[0], &ACCOUNTS[0]).await;
    placed(&client, &mock, &executions[2], &ACCOUNTS[2]).await;
    assert_ne!(
        executions[1].status,
        ExecutionStatus::Succeeded as i32,
        "{:?}",
        executions[1]
    );
    assert_eq!(mock.orders().len(), 2);
    assert!(
        mock.refused_signatures() > 0,
        "the mock refused copy B's signature"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_account_is_refused_naming_the_field() {
    let mock = MockBinance::start().await;
    let server = start(&mock, |(_, _, secret, _)| secret).await;
    let client = server.client().await;

    let refused = try_create_pipeline(
        &client,
        Pipeline {
            exchange: "binance".into(),
            account: "nobody".into(),
            ..strategy_pipeline("nobody", sizing::Method::FixedQuantity("0.001".into()))
        },
    )
    .await
    .expect_err("an unknown account is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(bad_request_field(&refused), "pipeline.account");
    assert!(refused.message().contains("nobody"), "{refused:?}");
    let known = create_pipeline(
        &client,
        Pipeline {
            exchange: "binance".into(),
            account: "copy_a".into(),
            ..strategy_pipeline("known", sizing::Method::FixedQuantity("0.001".into()))
        },
    )
    .await;
    let refused = client
        .pipelines()
        .update_pipeline(UpdatePipelineRequest {
            pipeline: Some(Pipeline {
                id: known.id,
                account: "nobody".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["account".into()],
            }),
            ..Default::default()
        })
        .await
        .expect_err("moving to an unknown account is refused");
    assert_eq!(bad_request_field(&refused), "pipeline.account");

    let refused = client
        .orders()
        .place_order(buy_on("nobody"))
        .await
        .expect_err("an unknown account is refused");
    assert_eq!(bad_request_field(&refused), "account");
    let refused = client
        .orders()
        .get_balances(GetBalancesRequest {
            exchange: "binance".into(),
            account: "default".into(),
        })
        .await
        .expect_err("the default account is not configured here");
    assert_eq!(bad_request_field(&refused), "account");
    assert!(mock.orders().is_empty());
    server.stop().await;
}

/// A market buy of 0.001 BTC on `account` at Binance.
fn buy_on(account: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        exchange: "binance".into(),
        account: account.into(),
        symbol: "BTC/USDT".into(),
        side: Side::Buy as i32,
        r#type: OrderType::Market as i32,
        quantity: "0.001".into(),
        ..Default::default()
    }
}

/// Writes `text` to a new file with `mode`; returns its path.
fn credentials_file(dir: &std::path::Path, mode: u32, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("binance-{mode:o}.toml"));
    std::fs::write(&path, text).expect("write the credentials file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path.display().to_string()
}

/// The real binary with one account from the environment and one from a
/// 0600 file: both trade, and neither's key or secret shows up in the
/// log, the metrics or the audit log. A credentials file others may read
/// stops the start, naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_account_credentials_never_reach_logs_metrics_or_audit() {
    let [
        (env_name, env_key, env_secret, _),
        (file_name, file_key, file_secret, _),
        _,
    ] = ACCOUNTS;
    let mock = MockBinance::start().await;
    mock.accept_key(env_key, env_secret);
    mock.accept_key(file_key, file_secret);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = credentials_file(
        dir.path(),
        0o600,
        &format!("api_key = \"{file_key}\"\napi_secret = \"{file_secret}\"\n"),
    );
    let env_var = |field: &str| {
        format!(
            "TRADEPLANE_EXCHANGES__BINANCE__ACCOUNTS__{}__{field}",
            env_name.to_uppercase()
        )
    };
    let file_var = format!(
        "TRADEPLANE_EXCHANGES__BINANCE__ACCOUNTS__{}__CREDENTIALS_FILE",
        file_name.to_uppercase()
    );
    let (key_var, secret_var) = (env_var("API_KEY"), env_var("API_SECRET"));
    let env = [
        ("TRADEPLANE_EXCHANGES__BINANCE__BASE_URL", mock.url.as_str()),
        (key_var.as_str(), env_key),
        (secret_var.as_str(), env_secret),
        (file_var.as_str(), file.as_str()),
    ];

    let open_file = credentials_file(dir.path(), 0o644, "api_key = \"k\"\napi_secret = \"s\"\n");
    let out = std::process::Command::new(binary("tradeplane"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("refused"))
        .envs(env.iter().copied())
        .env(&file_var, &open_file)
        .output()
        .expect("tradeplane runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "`exchanges.binance.accounts.{file_name}.credentials_file`"
        )) && err.contains("644"),
        "{err}"
    );

    let data_dir = dir.path().join("data");
    let served = serve_async(&data_dir, &env).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects");
    for account in [env_name, file_name] {
        let order = client
            .orders()
            .place_order(PlaceOrderRequest {
                request_id: format!("creds-{account}"),
                ..buy_on(account)
            })
            .await
            .expect("PlaceOrder answers")
            .into_inner()
            .order
            .expect("an order");
        assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
        assert_eq!(order.account, account);
    }
    let placed_by: Vec<_> = mock
        .orders()
        .iter()
        .filter_map(|o| mock.placed_by(&o.client_order_id))
        .collect();
    assert_eq!(placed_by, [env_key, file_key]);
    assert_ne!(env_key, API_KEY);

    let metrics = reqwest::get(format!("{}/metrics", served.http))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(&format!("account=\"{file_name}\"")),
        "the exchange metrics name the account"
    );
    let audit = format!("{:?}", audit_events(&client, "").await);
    assert!(audit.contains("order.place"), "{audit}");
    served.kill();
    let log = std::fs::read_to_string(data_dir.with_extension("log")).expect("server log");
    assert!(log.contains(file_name), "the log is the server's");
    for secret in [env_key, env_secret, file_key, file_secret] {
        assert!(!log.contains(secret), "the log holds a credential");
        assert!(!metrics.contains(secret), "the metrics hold a credential");
        assert!(!audit.contains(secret), "the audit log holds a credential");
    }
}

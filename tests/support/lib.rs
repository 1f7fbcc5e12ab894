//! Helpers for the end-to-end tests: a real server on ephemeral loopback
//! ports with its own data directory, the real binaries, and the
//! external-tool rule (skip with a reason, or fail under
//! `TRADEPLANE_REQUIRE_EXTERNAL=1`).

mod brackets;
pub mod conformance;
mod control;
pub mod hostile;
pub mod mock_alpaca;
pub mod mock_binance;
pub mod mock_binance_futures;
pub mod mock_bybit;
pub mod mock_notify;
pub mod mock_okx;
pub mod mock_venue;
mod pipelines;
mod postgres;
pub mod prometheus;
pub mod replicas;
mod rpc;
pub mod tcp_proxy;
mod wait;
mod webhook;

pub use self::{
    brackets::{
        all_orders_of, bracketed, market_at, order_reaches, orders_of, restart_on_mock_binance,
        resting_orders, role, start_on_mock_binance,
    },
    control::{
        cancel_order, halt_trading, list_exchanges, list_orders, place_order_refused,
        reset_breaker, resume_trading, trading_halted, trip_breaker,
    },
    pipelines::{
        any_signal_pipeline, bracketed_pipeline, create_pipeline, example_pipeline, finished,
        run_pipeline, run_pipeline_on, settled, strategy_pipeline, try_create_pipeline,
    },
    postgres::fresh_postgres_database,
    rpc::{
        all_executions, all_orders, audit_events, bad_request_field, balances, dec, error_reason,
        get_order, list_signals, list_signals_page, paper_btc, place_order, positions_on, refusal,
        submit,
    },
    wait::eventually,
    webhook::{
        deliver, deliver_ok, deliver_to, perpetual_alert, post_webhook, refused, template_alert,
        webhook_accepts,
    },
};

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use tempfile::TempDir;
use tradeplane_api::{CreateApiKeyRequest, Role};
use tradeplane_client::Client;
use tradeplane_server::{
    app::{self, RunningServer},
    config::Config,
};

/// The webhook passphrase every test server uses.
pub const PASSPHRASE: &str = "test-passphrase";
/// The bootstrap admin key every test server adopts
/// (as `TRADEPLANE_ADMIN_KEY` would set it).
pub const ADMIN_KEY: &str = "tpk_test0000000000000000000000000000000000000000000000000000000000";

/// A running server and the directory holding its data.
pub struct TestServer {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub data_dir: TempDir,
    running: RunningServer,
}

/// The configuration tests start from: ephemeral ports, the given data
/// directory, a known passphrase and admin key, and no rate limits (the
/// rate-limit tests set their own).
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        grpc_listen: "127.0.0.1:0".parse().expect("valid address"),
        http_listen: "127.0.0.1:0".parse().expect("valid address"),
        data_dir: data_dir.to_path_buf(),
        ..Default::default()
    };
    config.webhook.passphrase = PASSPHRASE.into();
    config.security.admin_key = ADMIN_KEY.into();
    config.security.rate_limits.per_api_key.rate_per_second = 0.0;
    config.security.rate_limits.per_client_ip.rate_per_second = 0.0;
    config
}

impl TestServer {
    /// A server with the test defaults in a fresh directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the test defaults adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, adjust).await
    }

    /// A server on an existing data directory (for restarts).
    pub async fn start_in(data_dir: TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(data_dir.path());
        adjust(&mut config);
        let running = app::start(config).await.expect("server starts");
        Self {
            grpc_addr: running.grpc_addr,
            http_addr: running.http_addr,
            data_dir,
            running,
        }
    }

    /// A client of this server with the admin key.
    pub async fn client(&self) -> Client {
        self.client_with_key(Some(ADMIN_KEY)).await
    }

    /// A client with `key` (or none).
    pub async fn client_with_key(&self, key: Option<&str>) -> Client {
        Client::connect(&self.grpc_url(), key)
            .await
            .expect("client connects")
    }

    /// Creates an API key with `role` and returns its token.
    pub async fn create_key(&self, name: &str, role: Role) -> String {
        self.client()
            .await
            .security()
            .create_api_key(CreateApiKeyRequest {
                name: name.into(),
                role: role as i32,
                ..Default::default()
            })
            .await
            .expect("CreateApiKey succeeds")
            .into_inner()
            .token
    }

    /// A client with a fresh trader key.
    pub async fn trader(&self) -> Client {
        static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = self.create_key(&format!("desk-{n}"), Role::Trader).await;
        self.client_with_key(Some(&token)).await
    }

    /// Runs `tpctl` with the admin key against this server; returns its
    /// standard output and fails the test if it fails.
    pub async fn tpctl(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new(binary("tpctl"))
            .args(["--server", &self.grpc_url(), "--api-key", ADMIN_KEY])
            .args(args)
            .current_dir(workspace_root())
            .output()
            .await
            .expect("tpctl runs");
        assert!(
            out.status.success(),
            "tpctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// `http://127.0.0.1:PORT` of the gRPC port.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// A plain channel to the gRPC port (no key), for raw or generated
    /// clients.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.grpc_url())
            .expect("a valid URL")
            .connect()
            .await
            .expect("connects")
    }

    /// A URL on the HTTP port.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// The TradingView webhook's URL.
    pub fn webhook_url(&self) -> String {
        self.http_url(webhook::WEBHOOK_PATH)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.http_url("/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics text")
    }

    /// The server's store (closing it simulates a store outage).
    pub fn store(&self) -> std::sync::Arc<dyn tradeplane_server::store::Store> {
        self.running.store()
    }

    /// Shuts down gracefully and hands back the data directory.
    pub async fn stop(self) -> TempDir {
        self.running.shutdown().await;
        self.data_dir
    }
}

/// A program the test needs from outside the Rust toolchain. `None` means
/// skip (see [`missing`]).
pub fn external_tool(name: &str, why: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    if found.is_none() {
        missing(
            &format!("`{name}` is not on PATH ({why})"),
            "set it up as .ci/run does to run this test",
        );
    }
    found
}

/// A Python module the test needs; same rule as [`external_tool`].
pub fn python_with_module(module: &str, why: &str) -> Option<PathBuf> {
    let python = external_tool("python3", why)?;
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        return Some(python);
    }
    missing(
        &format!("python module `{module}` is missing ({why})"),
        "pip install it as .ci/run does",
    );
    None
}

/// Something outside the toolchain is missing: under
/// `TRADEPLANE_REQUIRE_EXTERNAL=1` the test fails; otherwise it is skipped,
/// with the reason printed (`cargo test -- --show-output` shows it) and
/// appended to the file `TRADEPLANE_SKIP_LOG` names, if any (`.ci/run`
/// lists them in its summary).
pub(crate) fn missing(what: &str, fix: &str) {
    if std::env::var("TRADEPLANE_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") {
        panic!("{what}, and TRADEPLANE_REQUIRE_EXTERNAL=1 requires it");
    }
    let line = format!("SKIPPED: {what}; {fix}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("TRADEPLANE_SKIP_LOG") {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| writeln!(file, "{line}"));
        if let Err(err) = appended {
            eprintln!("cannot append to TRADEPLANE_SKIP_LOG: {err}");
        }
    }
}

/// The workspace root (where `proto/` and `target/` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a workspace binary (`tradeplane` or `tpctl`), building it first
/// if `cargo test` has not.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout");
    let path = profile_dir.join(name);
    // Built once per test process, so that a binary left from an older
    // checkout is never the one tested.
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        built.push(name.to_string());
        let package = if name == "tpctl" {
            "tradeplane-client"
        } else {
            "tradeplane-server"
        };
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bin", name])
            .current_dir(workspace_root())
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// `tradeplane serve` running as a child process.
pub struct Served {
    pub child: std::process::Child,
    /// `http://` address of its gRPC port.
    pub grpc: String,
    /// `http://` address of its HTTP port.
    pub http: String,
    /// The bootstrap admin key the server wrote on first start.
    pub api_key: String,
}

/// Starts `tradeplane serve` on port 0; its logs go to `<data_dir>.log`.
pub fn serve(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.with_extension("log"))
        .expect("log file");
    let mut child = std::process::Command::new(binary("tradeplane"))
        .args([
            "serve",
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("TRADEPLANE_WEBHOOK_PASSPHRASE")
        .env_remove("TRADEPLANE_ADMIN_KEY")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("tradeplane starts");
    let stdout = child.stdout.take().expect("stdout");
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
            .to_string()
    };
    assert!(line.starts_with("listening "), "{line:?}");
    let api_key = std::fs::read_to_string(data_dir.join("admin.key"))
        .expect("the first start writes admin.key")
        .trim()
        .to_string();
    Served {
        grpc: format!("http://{}", field("grpc")),
        http: format!("http://{}", field("http")),
        api_key,
        child,
    }
}

/// [`serve`] from async tests: the start-up wait runs off the runtime, so
/// the test's own servers (a mock exchange, a collector) keep answering.
pub async fn serve_async(data_dir: &Path, env: &[(&str, &str)]) -> Served {
    let data_dir = data_dir.to_path_buf();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        serve(&data_dir, &env)
    })
    .await
    .expect("tradeplane started")
}

impl Served {
    /// The TradingView webhook's URL.
    pub fn webhook_url(&self) -> String {
        format!("{}{}", self.http, webhook::WEBHOOK_PATH)
    }

    /// SIGKILL: a crash, with no graceful shutdown.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

/// A test that ends, or fails, leaves no server behind.
impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

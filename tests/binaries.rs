//! The real binaries as a user runs them: `tradeplane serve` on port 0,
//! SIGTERM, configuration errors, and the `tpctl` tour.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tradeplane_e2e::{Served, binary, serve, webhook_accepts};

/// Rate limits off, for a bench run at full speed (as BENCHMARKS.md does).
const NO_RATE_LIMITS: [(&str, &str); 2] = [
    (
        "TRADEPLANE_SECURITY__RATE_LIMITS__PER_API_KEY__RATE_PER_SECOND",
        "0",
    ),
    (
        "TRADEPLANE_SECURITY__RATE_LIMITS__PER_CLIENT_IP__RATE_PER_SECOND",
        "0",
    ),
];

/// Runs tpctl against `served` with the admin key from the environment,
/// as the README's tour does.
fn tpctl(served: &Served, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary("tpctl"))
        .arg("--server")
        .arg(&served.grpc)
        .env("TRADEPLANE_API_KEY", &served.api_key)
        .args(args)
        .output()
        .expect("tpctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn terminate(mut served: Served) {
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = served.child.try_wait().expect("wait") {
            assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_five_minute_tour() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &NO_RATE_LIMITS);

    // The generated webhook secret and admin key are private to the owner.
    let secret_path = dir.path().join("webhook.secret");
    #[cfg(unix)]
    for path in [&secret_path, &dir.path().join("admin.key")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert!(served.api_key.starts_with("tpk_") && served.api_key.len() == 68);
    let passphrase = std::fs::read_to_string(&secret_path)
        .unwrap()
        .trim()
        .to_string();

    // curl a TradingView payload in.
    let body = serde_json::json!({
        "passphrase": passphrase, "ticker": "BINANCE:BTCUSDT", "action": "buy", "contracts": "0.01",
        "price": "65000", "strategy": "tour", "time": chrono::Utc::now().to_rfc3339(),
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(webhook_accepts(&served.webhook_url(), &body, &[]));

    // tpctl shows it.
    let (ok, out, err) = tpctl(&served, &["signal", "list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("BTC/USDT")
            && out.contains("tradingview")
            && out.contains("accepted")
            && out.contains("STRATEGY")
            && out.contains("tour"),
        "{out}"
    );
    let (ok, out, _) = tpctl(&served, &["signal", "list", "-o", "json"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["signals"][0]["instrument"]["symbol"], "BTC/USDT");

    // tpctl submits, and explains a rejection.
    let (ok, out, _) = tpctl(
        &served,
        &[
            "signal",
            "submit",
            "--symbol",
            "ETH-USDT",
            "--action",
            "sell",
            "--quantity",
            "2",
        ],
    );
    assert!(ok && out.starts_with("accepted "), "{out}");
    let (ok, _, err) = tpctl(
        &served,
        &[
            "signal", "submit", "--symbol", "ETHUSDT", "--action", "sell", "--price", "-5",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("InvalidArgument")
            && err.contains("NON_POSITIVE_PRICE")
            && err.contains("price"),
        "{err}"
    );
    let (ok, out, _) = tpctl(&served, &["health", "--service", "readiness"]);
    assert!(ok && out.trim() == "SERVING");

    // /metrics counted it.
    let metrics = runtime.block_on(async {
        reqwest::get(format!("{}/metrics", served.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains(r#"tradeplane_signals_total{outcome="accepted",source="tradingview"} 1"#)
    );

    // A short bench run produces a report with percentiles.
    let (ok, out, err) = tpctl(
        &served,
        &[
            "bench",
            "--target",
            "health,submit,webhook",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--concurrency",
            "4",
            "--webhook-url",
            &served.webhook_url(),
            "--passphrase",
            &passphrase,
            "-o",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    for entry in report["reports"].as_array().unwrap() {
        assert!(entry["requests"].as_u64().unwrap() > 0, "{entry}");
        assert_eq!(entry["errors"], 0, "{entry}");
        assert!(entry["p99_ms"].as_f64().unwrap() > 0.0);
    }
    assert!(report["submit_to_health_ratio"].as_f64().unwrap() > 0.0);

    // A bot gets its own key; the audit log names who created it, from
    // where, in which trace.
    let (ok, out, err) = tpctl(
        &served,
        &[
            "admin",
            "key",
            "create",
            "--name",
            "tv-bot",
            "--role",
            "submitter",
            "-o",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert!(created["token"].as_str().unwrap().starts_with("tpk_"));
    let (ok, out, _) = tpctl(&served, &["admin", "audit", "list", "-o", "json"]);
    assert!(ok);
    let events: Value = serde_json::from_str(&out).unwrap();
    let event = &events["events"][0];
    assert_eq!(event["action"], "api_key.create");
    assert_eq!(event["actor"], "admin");
    assert_eq!(event["source_address"], "127.0.0.1");
    assert_eq!(event["trace_id"].as_str().unwrap().len(), 32, "{event}");
    let (ok, out, _) = tpctl(&served, &["admin", "audit", "verify"]);
    assert!(ok && out.starts_with("intact"), "{out}");

    // Without the key, tpctl is refused and says why.
    let out = Command::new(binary("tpctl"))
        .args(["--server", &served.grpc, "signal", "list"])
        .env_remove("TRADEPLANE_API_KEY")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("MISSING_API_KEY"),
        "{err}"
    );

    let api_key = served.api_key.clone();
    terminate(served);
    let log = std::fs::read_to_string(dir.path().with_extension("log")).unwrap();
    assert!(log.contains("bootstrap admin key"), "{log}");
    assert!(
        !log.contains(&api_key),
        "the admin key never reaches the log"
    );
}

#[test]
fn a_signal_acknowledged_before_sigterm_is_there_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    let (ok, out, _) = tpctl(
        &served,
        &[
            "signal", "submit", "--symbol", "BTCUSDT", "--action", "buy", "-o", "json",
        ],
    );
    assert!(ok);
    let id = serde_json::from_str::<Value>(&out).unwrap()["signal"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    terminate(served);

    let served = serve(dir.path(), &[]);
    let (ok, out, err) = tpctl(&served, &["signal", "get", &id, "-o", "json"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["id"],
        id.as_str()
    );
    terminate(served);
}

#[test]
fn every_change_and_failure_is_one_log_line_with_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[("TRADEPLANE_LOG__FORMAT", "json")]);
    let (ok, _, err) = tpctl(
        &served,
        &["signal", "submit", "--symbol", "BTCUSDT", "--action", "buy"],
    );
    assert!(ok, "{err}");
    let (ok, _, _) = tpctl(
        &served,
        &["signal", "get", "01900000-0000-7000-8000-000000000000"],
    );
    assert!(!ok);
    let (ok, _, _) = tpctl(&served, &["signal", "list"]);
    assert!(ok);
    // Money and security events: an order, a halt, a refused key.
    let (ok, _, err) = tpctl(
        &served,
        &[
            "order",
            "place",
            "--symbol",
            "BTCUSDT",
            "--side",
            "buy",
            "--quantity",
            "0.001",
            "--reference-price",
            "50000",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = tpctl(&served, &["admin", "halt", "--reason", "log test"]);
    assert!(ok, "{err}");
    let refused = Command::new(binary("tpctl"))
        .args([
            "--server",
            &served.grpc,
            "--api-key",
            "tpk_wrong",
            "signal",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(80));
    terminate(served);

    let log = std::fs::read_to_string(dir.path().with_extension("log")).unwrap();
    let requests: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["target"] == "tradeplane::request")
        .collect();
    let line_of = |method: &str| {
        requests
            .iter()
            .find(|event| event["fields"]["method"] == method)
            .unwrap_or_else(|| panic!("no line for {method} in {requests:#?}"))
    };
    let submit = line_of("tradeplane.v1.SignalService/SubmitSignal");
    assert_eq!(submit["level"], "INFO");
    assert_eq!(submit["fields"]["outcome"], "OK");
    assert!(
        submit["fields"]["latency_ms"].as_f64().is_some(),
        "{submit}"
    );
    assert_eq!(
        submit["fields"]["trace_id"].as_str().unwrap().len(),
        32,
        "{submit}"
    );
    assert_eq!(
        submit["fields"]["span_id"].as_str().unwrap().len(),
        16,
        "{submit}"
    );
    // A failed read is logged; a read that succeeds is debug, not shown.
    assert_eq!(
        line_of("tradeplane.v1.SignalService/GetSignal")["fields"]["outcome"],
        "NOT_FOUND"
    );
    assert!(
        requests
            .iter()
            .filter(|event| event["fields"]["method"] == "tradeplane.v1.SignalService/ListSignals")
            .all(|event| event["fields"]["outcome"] != "OK"),
        "a successful read is not logged at info"
    );
    let events: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    let logged = |target: &str, field: &str, value: &str| {
        events
            .iter()
            .any(|e| e["target"] == target && e["fields"][field] == value)
    };
    assert!(
        logged("tradeplane::order", "status", "filled"),
        "the fill is logged"
    );
    assert!(
        logged("tradeplane::audit", "action", "trading.halt"),
        "the halt is logged"
    );
    assert!(
        logged("tradeplane::audit", "action", "auth.failure"),
        "the refused key is logged (aggregated)"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI codes when stderr is a file"
    );
}

#[test]
fn bad_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary("tradeplane"))
        .args(["serve", "--grpc-listen", "not-an-address", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`grpc_listen`") && err.contains("--grpc-listen"),
        "{err}"
    );

    let out = Command::new(binary("tradeplane"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("TRADEPLANE_SIGNALS__MAX_AGE", "whenever")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`signals.max_age`") && err.contains("TRADEPLANE_SIGNALS__MAX_AGE"),
        "{err}"
    );
}

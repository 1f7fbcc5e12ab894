//! The `tradeplane` binary's command line (also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` run).

use std::process::Command;

#[test]
fn config_prints_the_effective_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_tradeplane"))
        .args(["config", "--grpc-listen", "127.0.0.1:7000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("grpc_listen = \"127.0.0.1:7000\""), "{text}");
    assert!(text.contains("http_listen = \"127.0.0.1:8080\""), "{text}");
}

#[test]
fn config_never_prints_secrets() {
    let out = Command::new(env!("CARGO_BIN_EXE_tradeplane"))
        .arg("config")
        .env("TRADEPLANE_WEBHOOK_PASSPHRASE", "hunter2-passphrase")
        .env("TRADEPLANE_WEBHOOK_HMAC_SECRET", "hunter2-hmac")
        .env(
            "TRADEPLANE_ADMIN_KEY",
            "tpk_hunter2hunter2hunter2hunter2hunter2",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("passphrase = \"<redacted>\""), "{text}");
    assert!(text.contains("admin_key = \"<redacted>\""), "{text}");
}

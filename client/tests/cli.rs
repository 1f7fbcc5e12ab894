//! The `tpctl` binary's command line (also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` run).

use std::process::Command;

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tpctl"))
        .args(["--server", "http://127.0.0.1:1", "health"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to http://127.0.0.1:1"),
        "{err}"
    );
}

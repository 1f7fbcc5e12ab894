//! The README, verbatim: every `sh` block, in order, as one bash script
//! (`set -euo pipefail`, so a failing command fails the test) against the
//! real `tradeplane` and `tpctl` binaries, in a fresh directory holding
//! only `examples/`. What the harness does instead of the reader:
//! - it starts `tradeplane serve` itself (on ports it picks; the script's
//!   `127.0.0.1:8080` is rewritten to the port, and `TRADEPLANE_SERVER`
//!   points tpctl at the gRPC one), and puts the freshly built binaries on
//!   `PATH` in place of `cargo install`: lines starting with `cargo ` are
//!   not run;
//! - a command whose comment starts with `# live` streams until
//!   interrupted: it runs in the background and is stopped at the end;
//! - a command followed by a `# error:` line must fail, saying what the
//!   line shows (up to its first `...`);
//! - a block under `<!-- README test: skip (why) -->` is not run, and the
//!   test prints why.

use std::{path::Path, process::Command};

use tradeplane_e2e::{binary, serve, workspace_root};

/// One `sh` block of the README.
struct Block {
    line: usize,
    text: String,
    /// Why it is not run, when it is marked so.
    skip: Option<String>,
}

/// Every `sh` block, in order.
fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == "```sh" {
            let skip = i
                .checked_sub(1)
                .and_then(|p| lines[p].strip_prefix("<!-- README test: skip ("))
                .and_then(|rest| rest.strip_suffix(") -->"))
                .map(str::to_string);
            let start = i + 1;
            let end = (start..lines.len())
                .find(|&j| lines[j] == "```")
                .expect("every block is closed");
            blocks.push(Block {
                line: start,
                text: lines[start..end].join("\n"),
                skip,
            });
            i = end;
        }
        i += 1;
    }
    blocks
}

/// A block as the harness runs it (see the module's comment).
fn runnable(block: &str, http: &str) -> String {
    let lines: Vec<&str> = block.lines().collect();
    let mut script = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("cargo ") {
            continue;
        }
        let line = line.replace("127.0.0.1:8080", http);
        let (command, comment) = match line.split_once("  #") {
            Some((command, comment)) => (command.trim_end().to_string(), comment.trim()),
            None => (line.clone(), ""),
        };
        let error = lines.get(i + 1).and_then(|l| l.strip_prefix("# error: "));
        if comment.starts_with("live") {
            script.push(format!("{command} > /dev/null 2>&1 &"));
        } else if let Some(error) = error {
            // What the README shows of the error, up to its first `...`.
            let said = error.split(" ...").next().unwrap_or(error);
            let said = said.replace('\'', r"'\''");
            script.push(format!(
                "if out=$({command} 2>&1); then echo 'a command the README says fails succeeded' >&2; exit 1; fi\n\
                 printf '%s\\n' \"$out\"\n\
                 grep -qF -- '{said}' <<< \"$out\" || {{ echo 'the README shows another error: {said}' >&2; exit 1; }}"
            ));
        } else {
            script.push(line);
        }
    }
    script.join("\n")
}

/// A fresh directory like a clone's root, as far as the README reads it.
fn working_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a directory");
    std::os::unix::fs::symlink(
        workspace_root().join("examples"),
        dir.path().join("examples"),
    )
    .expect("examples/");
    std::fs::create_dir(dir.path().join("data")).expect("data/");
    dir
}

#[test]
fn the_readme_runs_as_written() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let tpctl = binary("tpctl");
    let dir = working_dir();
    let served = serve(&dir.path().join("data"), &[]);
    let http = served.http.trim_start_matches("http://").to_string();

    // The trap stops what the README started in the background however the
    // script ends: a failing command must fail the test, not leave a server
    // holding the script's output open.
    let mut script =
        String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2> /dev/null || true' EXIT\n");
    for block in blocks(&readme) {
        match &block.skip {
            Some(why) => println!("README line {}: not run: {why}", block.line),
            None => {
                script.push_str(&format!("# README line {}\n", block.line));
                script.push_str(&runnable(&block.text, &http));
                script.push('\n');
            }
        }
    }

    let bin_dir = tpctl.parent().expect("target/debug");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("TRADEPLANE_SERVER", &served.grpc)
        .env_remove("TRADEPLANE_API_KEY")
        .output();
    served.kill();
    let out = out.expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README failed:\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // What the README says the reader sees.
    for expected in [
        "HTTP/1.1 202 Accepted",
        "\"outcome\":\"duplicate\"",
        "tradeplane_signals_total",
        "ema-cross",
    ] {
        assert!(
            stdout.contains(expected),
            "the README promises `{expected}`:\n{stdout}"
        );
    }
    assert!(Path::new(&dir.path().join("smaller.yaml")).exists());
}

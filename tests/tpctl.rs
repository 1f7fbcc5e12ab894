//! tpctl as scripts use it: grpcurl's address forms, exit codes of
//! 64 + the gRPC code, timeouts, and errors that say what to do.

use std::{process::Output, time::Duration};

use tokio::net::TcpListener;
use tradeplane_e2e::{
    ADMIN_KEY, TestServer, any_signal_pipeline, binary, create_pipeline, run_pipeline,
};

/// Runs tpctl with `args` (no key from the environment or a config file).
async fn tpctl(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("a home");
    tokio::process::Command::new(binary("tpctl"))
        .args(args)
        .env_remove("TRADEPLANE_API_KEY")
        .env_remove("TRADEPLANE_SERVER")
        .env("HOME", home.path())
        .output()
        .await
        .expect("tpctl runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn addresses_exit_codes_and_hints_follow_grpcurl() {
    let server = TestServer::start().await;
    let host_port = server.grpc_addr.to_string();

    // host:port, as grpcurl takes it.
    let out = tpctl(&["--server", &host_port, "health"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SERVING");
    let out = tpctl(&["--server", &host_port, "--plaintext", "health"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // No key: UNAUTHENTICATED is 64 + 16, and the user is told what to set.
    let out = tpctl(&["--server", &host_port, "signal", "list"]).await;
    assert_eq!(out.status.code(), Some(80), "{}", stderr(&out));
    assert!(stderr(&out).contains("set TRADEPLANE_API_KEY or pass --api-key"));

    // NOT_FOUND is 64 + 5; INVALID_ARGUMENT 64 + 3.
    let missing = "01900000-0000-7000-8000-000000000000";
    let keyed = ["--server", &host_port, "--api-key", ADMIN_KEY];
    let out = tpctl(&[&keyed[..], &["signal", "get", missing]].concat()).await;
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let out = tpctl(
        &[
            &keyed[..],
            &["signal", "submit", "--symbol", "", "--action", "buy"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));

    // Usage errors are 2, and a bad address is one, said once.
    let out = tpctl(&["--server", &host_port, "--tls", "--plaintext", "health"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = tpctl(&[
        "--server",
        &format!("http://{host_port}"),
        "--tls",
        "health",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--tls needs an https:// address"),
        "{}",
        stderr(&out)
    );
    let out = tpctl(&["--server", "ftp://example", "health"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("cannot connect"), "{}", stderr(&out));

    // Nothing listening: a connection failure, exit 1, said once.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address").to_string()
    };
    let out = tpctl(&["--server", &closed, "health"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("cannot connect"), "{message}");
    let repeated = message.split(": ").collect::<Vec<_>>();
    assert!(
        repeated.windows(2).all(|pair| pair[0] != pair[1]),
        "a cause said twice: {message}"
    );

    // The exit codes are documented.
    let out = tpctl(&["--help"]).await;
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("64 + n") && help.contains("80 UNAUTHENTICATED"),
        "{help}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_call_without_an_answer_ends_at_the_timeout_with_deadline_exceeded() {
    // A port that accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.push(stream);
        }
    });
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tpctl(&["--server", &address, "--timeout", "1s", "health"]),
    )
    .await
    .expect("tpctl gives up by itself");
    assert_eq!(out.status.code(), Some(68), "{}", stderr(&out));
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
    held.abort();
}

#[tokio::test]
async fn a_config_file_with_an_unknown_key_is_refused_naming_the_known_ones() {
    let dir = tempfile::tempdir().expect("a directory");
    let config = dir.path().join("tpctl.toml");
    std::fs::write(&config, "sever = \"127.0.0.1:50051\"\n").expect("write");
    let config = config.to_string_lossy().into_owned();
    let out = tpctl(&["--config", &config, "health"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("unknown field `sever`"), "{message}");
    assert!(message.contains("`server`"), "{message}");
}

#[tokio::test]
async fn a_pipeline_is_named_by_its_name_or_its_id() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, any_signal_pipeline("by-name")).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "0.001").await;
    let host_port = server.grpc_addr.to_string();
    let executions_of = |pipeline: String| {
        let host_port = host_port.clone();
        async move {
            tpctl(&[
                "--server",
                &host_port,
                "--api-key",
                ADMIN_KEY,
                "pipeline",
                "executions",
                "--pipeline",
                &pipeline,
                "-o",
                "json",
            ])
            .await
        }
    };
    for name_or_id in [pipeline.name.clone(), pipeline.id.clone()] {
        let out = executions_of(name_or_id.clone()).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
        assert_eq!(
            listed["executions"][0]["id"],
            execution.id.as_str(),
            "{name_or_id}: {listed}"
        );
    }
    let out = executions_of("no-such-pipeline".into()).await;
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    server.stop().await;
}

#[tokio::test]
async fn quiet_prints_ids_yaml_says_what_json_says_and_tables_are_tables() {
    let server = TestServer::start().await;
    let host_port = server.grpc_addr.to_string();
    let keyed = ["--server", host_port.as_str(), "--api-key", ADMIN_KEY];
    let submit = [
        "signal", "submit", "--symbol", "BTCUSDT", "--action", "buy", "-q",
    ];
    let out = tpctl(&[&keyed[..], &submit[..]].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 36, "only the id: {id:?}");

    let out = tpctl(&[&keyed[..], &["signal", "list", "--quiet"]].concat()).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);

    let json = tpctl(&[&keyed[..], &["signal", "get", &id, "-o", "json"]].concat()).await;
    let yaml = tpctl(&[&keyed[..], &["signal", "get", &id, "-o", "yaml"]].concat()).await;
    assert!(yaml.status.success(), "{}", stderr(&yaml));
    let from_json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let from_yaml: serde_json::Value = serde_yaml_ng::from_slice(&yaml.stdout).expect("YAML");
    assert_eq!(from_json, from_yaml);

    // Table mode prints tables, also for the rate limits.
    let out = tpctl(&[&keyed[..], &["admin", "limits", "get"]].concat()).await;
    let limits = String::from_utf8_lossy(&out.stdout);
    assert!(
        limits.starts_with("SCOPE") && limits.contains("per_api_key"),
        "{limits}"
    );
    server.stop().await;
}

#[tokio::test]
async fn completions_come_for_bash_zsh_and_fish_without_a_server() {
    for (shell, marker) in [
        ("bash", "_tpctl()"),
        ("zsh", "#compdef tpctl"),
        ("fish", "complete -c tpctl"),
    ] {
        let out = tpctl(&["completion", shell]).await;
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(200)]
        );
        assert!(script.contains("pipeline"), "{shell} completes subcommands");
    }
}

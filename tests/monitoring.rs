//! The monitoring files are proven, not just shipped: promtool accepts the
//! Prometheus configuration and rules and runs the alert unit tests; every
//! alert is documented in the runbook; a real Prometheus scrapes the real
//! server under traffic and answers every dashboard query with data, and
//! fires the breaker and halt alerts; and dashboards, rules and the
//! server's metrics name the same metrics. The replicas' dashboard and the
//! metrics of PostgreSQL only need a real database: `monitoring_replicas.rs`
//! proves them against two replicas.

use std::{collections::BTreeSet, process::Command, time::Duration};

use serde_json::json;
use tradeplane_api::*;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, any_signal_pipeline, create_pipeline, eventually, external_tool,
    mock_binance::{Fault, MockBinance, Route},
    mock_notify::{WEBHOOK_SECRET, subscription, webhook::MockWebhook, webhook_to},
    prometheus::{
        Prometheus, REPLICAS_DASHBOARD, RULES, covered, dashboards, exposed_names, metric_names,
        panel_queries, postgres_only, rule_list,
    },
    webhook_accepts, workspace_root,
};

/// A market buy of 0.001 BTC on the (mock) Binance exchange.
fn binance_buy() -> PlaceOrderRequest {
    PlaceOrderRequest {
        exchange: "binance".into(),
        symbol: "BTC/USDT".into(),
        side: Side::Buy as i32,
        r#type: OrderType::Market as i32,
        quantity: "0.001".into(),
        ..Default::default()
    }
}

fn promtool(args: &[&str]) {
    let Some(promtool) = external_tool("promtool", "checks the Prometheus config and rules") else {
        return;
    };
    let out = Command::new(promtool)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_config_and_the_rules() {
    promtool(&["check", "config", "monitoring/prometheus/prometheus.yml"]);
    promtool(&[
        "check",
        "config",
        "monitoring/prometheus/prometheus.compose.yml",
    ]);
    promtool(&["check", "rules", RULES]);
}

#[test]
fn every_alert_fires_and_stays_quiet_in_its_unit_tests() {
    promtool(&[
        "test",
        "rules",
        "monitoring/prometheus/tests/alerts_test.yml",
    ]);
}

fn rules() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join(RULES)).expect("rules file");
    serde_yaml_ng::from_str(&text).expect("rules are YAML")
}

#[test]
fn every_alert_has_a_severity_a_text_and_a_runbook_section() {
    let runbook =
        std::fs::read_to_string(workspace_root().join("monitoring/RUNBOOK.md")).expect("runbook");
    let headings: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let rules = rules();
    let alerts: Vec<_> = rule_list(&rules)
        .into_iter()
        .filter(|r| r.get("alert").is_some())
        .collect();
    assert!(alerts.len() >= 14, "{} alerts", alerts.len());
    for alert in alerts {
        let name = alert["alert"].as_str().expect("name");
        let severity = alert["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity `{severity}`"
        );
        for field in ["summary", "description"] {
            assert!(
                alert["annotations"][field]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "{name}: no {field}"
            );
        }
        let anchor = alert["annotations"]["runbook_url"]
            .as_str()
            .and_then(|u| u.strip_prefix("monitoring/RUNBOOK.md#"))
            .unwrap_or_else(|| panic!("{name}: no runbook anchor"));
        assert_eq!(anchor, name.to_lowercase(), "{name}: anchor");
        assert!(
            headings.contains(anchor),
            "{name}: no `## {name}` in the runbook"
        );
    }
}

/// Subscribes `receiver` to every event, so that notifications are
/// delivered and their metrics exposed.
fn tell(config: &mut tradeplane_server::config::Config, receiver: &MockWebhook) {
    config.notify.subscriptions = vec![subscription("all", webhook_to(receiver), &[])];
    config.notify.poll_interval = Duration::from_millis(50);
}

/// Traffic that makes the server expose every metric the rules use.
async fn exercise(server: &TestServer) {
    let client = server.client().await;
    webhook_accepts(
        &server.webhook_url(),
        &json!({
            "passphrase": PASSPHRASE, "ticker": "BTCUSDT", "action": "buy", "price": "50000",
            "time": chrono::Utc::now().to_rfc3339(),
        }),
        &[],
    )
    .await;
    client
        .orders()
        .place_order(binance_buy())
        .await
        .expect("PlaceOrder answers");
    let pipeline = create_pipeline(&client, any_signal_pipeline("metrics")).await;
    client
        .pipelines()
        .run_pipeline(RunPipelineRequest {
            id: pipeline.id,
            symbol: "BTC/USDT".into(),
            action: "buy".into(),
            price: "50000".into(),
            ..Default::default()
        })
        .await
        .expect("RunPipeline answers");
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let metrics = server.metrics().await;
            if !metrics.contains("tradeplane_executions_total") {
                Err("no execution ended".to_string())
            } else if !metrics.contains("tradeplane_notify_deliveries_total") {
                Err("no notification delivered".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn every_metric_a_rule_names_is_exposed_by_the_server() {
    let mock = MockBinance::start().await;
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        tell(config, &receiver);
    })
    .await;
    exercise(&server).await;
    let exposed = exposed_names(&server.metrics().await);
    let rules = rules();
    let named: BTreeSet<String> = rule_list(&rules)
        .iter()
        .filter_map(|r| r["expr"].as_str())
        .flat_map(metric_names)
        .collect();
    assert!(named.len() > 10, "{named:?}");
    // `up` comes from Prometheus itself; a server on SQLite has no pool
    // and hears no other replica (`monitoring_replicas.rs` proves those).
    let missing: Vec<_> = named
        .iter()
        .filter(|n| *n != "up" && !exposed.contains(*n) && !postgres_only(n))
        .collect();
    assert!(
        missing.is_empty(),
        "rules name metrics the server does not expose: {missing:?}"
    );
    server.stop().await;
}

#[test]
fn metric_names_are_read_out_of_expressions() {
    let names = metric_names(
        r#"sum by (le) (rate(http_server_request_duration_seconds_bucket{http_route="/x"}[5m])) / tradeplane:rpc_errors:ratio5m > on () tradeplane_pipelines{state="enabled"} offset 1h > 1e3"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "http_server_request_duration_seconds_bucket",
            "tradeplane_pipelines"
        ]
    );
}

#[test]
fn every_panel_has_a_unit_and_every_dashboard_its_variables() {
    for (name, dashboard) in dashboards() {
        let variables: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(
            variables.starts_with(&["datasource", "instance"]),
            "{name}: {variables:?}"
        );
        for panel in dashboard["panels"].as_array().expect("panels") {
            if panel["type"] == "row" {
                continue;
            }
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(
                panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty()),
                "{name}: `{title}` has no unit"
            );
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name}: `{title}`"
            );
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(
                    !expr.contains("avg("),
                    "{name}: `{title}`: percentiles, not averages"
                );
                assert!(
                    expr.contains("$instance"),
                    "{name}: `{title}` ignores $instance"
                );
            }
        }
    }
}

#[test]
fn alarm_stats_turn_red_and_the_build_panel_shows_the_version() {
    let mut alarms = 0;
    for (name, dashboard) in dashboards() {
        for panel in dashboard["panels"].as_array().expect("panels") {
            let title = panel["title"].as_str().unwrap_or_default();
            let alarm = matches!(
                title,
                "Trading halted"
                    | "Open breakers"
                    | "Orders in an unknown state"
                    | "Positions without a stop"
                    | "Firing alerts"
            );
            if panel["type"] == "stat" && alarm {
                alarms += 1;
                let steps = &panel["fieldConfig"]["defaults"]["thresholds"]["steps"];
                assert_eq!(steps[0]["color"], "green", "{name}: `{title}`");
                assert_eq!(steps[1]["color"], "red", "{name}: `{title}`");
                assert_eq!(steps[1]["value"], 1, "{name}: `{title}`");
                assert_eq!(
                    panel["options"]["colorMode"], "background",
                    "{name}: `{title}`"
                );
            }
            if title == "Build" {
                assert_eq!(
                    panel["options"]["textMode"], "name",
                    "{name}: the version, not 1"
                );
            }
            if title.contains("notional") {
                let unit = panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    unit.starts_with("currency"),
                    "{name}: `{title}` is money: {unit}"
                );
            }
        }
    }
    assert_eq!(
        alarms, 6,
        "halted (twice), open breakers, unknown orders, unprotected positions, firing alerts"
    );
}

/// `docker compose` (the plugin) or `docker-compose`, whichever is here.
fn compose() -> Option<Vec<String>> {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if plugin {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    let standalone = external_tool("docker-compose", "validates monitoring/docker-compose.yml")?;
    Some(vec![standalone.to_string_lossy().into_owned()])
}

#[test]
fn the_compose_file_validates_and_publishes_only_the_webhook_beyond_loopback() {
    let Some(compose) = compose() else {
        return;
    };
    let config = |password: Option<&str>| {
        let mut command = Command::new(&compose[0]);
        command
            .args(&compose[1..])
            .args(["config", "-q"])
            .current_dir(workspace_root().join("monitoring"))
            .env_remove("GRAFANA_ADMIN_PASSWORD");
        if let Some(password) = password {
            command.env("GRAFANA_ADMIN_PASSWORD", password);
        }
        command.output().expect("compose runs")
    };
    let valid = config(Some("a-real-secret"));
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
    let without = config(None);
    assert!(
        !without.status.success(),
        "Grafana's password must be given"
    );
    assert!(String::from_utf8_lossy(&without.stderr).contains("GRAFANA_ADMIN_PASSWORD"));

    let text = std::fs::read_to_string(workspace_root().join("monitoring/docker-compose.yml"))
        .expect("compose file");
    let file: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let services = file["services"].as_mapping().expect("services");
    for (name, service) in services {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().expect("short port syntax");
            assert!(
                port.starts_with("127.0.0.1:") || port == "8080:8080",
                "{name:?} publishes {port} beyond loopback"
            );
        }
    }
}

/// Traffic that touches every metric: signals accepted, duplicate and
/// rejected on both surfaces, a late-dated signal, an authentication
/// failure, webhook rate limiting, pipelines that fill, skip and are
/// refused by risk, a Binance ban that opens the breaker, and a halt.
async fn drive_everything(server: &TestServer, mock: &MockBinance) {
    exercise(server).await;
    let client = server.client().await;
    let submit = |request_id: &str, symbol: &str| SubmitSignalRequest {
        request_id: request_id.into(),
        symbol: symbol.into(),
        action: "buy".into(),
        price: "50000".into(),
        ..Default::default()
    };
    for request in [submit("dup", "ETHUSDT"), submit("dup", "ETHUSDT")] {
        client
            .signals()
            .submit_signal(request)
            .await
            .expect("accepted or duplicate");
    }
    assert!(
        client
            .signals()
            .submit_signal(submit("bad", "???"))
            .await
            .is_err()
    );
    let webhook = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        webhook
            .post(server.http_url("/webhooks/tradingview"))
            .json(&body)
            .send()
    };
    let late = (chrono::Utc::now() - chrono::Duration::seconds(3)).to_rfc3339();
    let signal = json!({"passphrase": PASSPHRASE, "ticker": "ETHUSDT", "action": "sell", "price": "3000", "time": late});
    post(signal.clone()).await.expect("webhook");
    post(signal).await.expect("duplicate webhook");
    post(json!({"passphrase": PASSPHRASE, "ticker": "ETHUSDT", "action": "hodl"}))
        .await
        .expect("rejected webhook");
    post(json!({"passphrase": "wrong", "ticker": "ETHUSDT", "action": "buy"}))
        .await
        .expect("refused webhook");
    let mut limited = false;
    for _ in 0..40 {
        let reply = post(json!({"passphrase": PASSPHRASE, "ticker": "ETHUSDT", "action": "buy", "price": "3000"})).await.expect("webhook");
        limited |= reply.status() == 429;
    }
    assert!(limited, "the webhook rate limit refused some");

    let refused = create_pipeline(
        &client,
        Pipeline {
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Signal(SignalMatch {
                    strategy: "never".into(),
                    ..Default::default()
                })),
            }),
            risk: Some(RiskRules {
                max_order_notional: "10".into(),
                daily_loss_limit: "100".into(),
                ..Default::default()
            }),
            ..any_signal_pipeline("refused")
        },
    )
    .await;
    let run = |id: String| RunPipelineRequest {
        id,
        symbol: "BTC/USDT".into(),
        action: "buy".into(),
        price: "50000".into(),
        ..Default::default()
    };
    client
        .pipelines()
        .run_pipeline(run(refused.id.clone()))
        .await
        .expect("RunPipeline answers");

    mock.fail_next(
        Route::PlaceOrder,
        Fault::Banned {
            retry_after_secs: 60,
        },
    );
    let order = binance_buy();
    client
        .orders()
        .place_order(order.clone())
        .await
        .expect("a failed order");
    let open = client.orders().place_order(order).await.unwrap_err();
    assert_eq!(open.code(), tonic::Code::Unavailable, "the breaker is open");

    client
        .security()
        .halt_trading(HaltTradingRequest::default())
        .await
        .expect("HaltTrading answers");
    client
        .pipelines()
        .run_pipeline(run(refused.id))
        .await
        .expect("RunPipeline answers");
}

/// Dashboard panels that may rightly have no data after the traffic above.
const EXPECTED_EMPTY: &[(&str, &str)] = &[];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_every_dashboard_query_and_fires_the_alerts() {
    let Some(binary) = external_tool(
        "prometheus",
        "scrapes the real server for the dashboard queries",
    ) else {
        return;
    };
    let mock = MockBinance::start().await;
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        tell(config, &receiver);
        config.security.rate_limits.per_client_ip.rate_per_second = 0.1;
        config.security.rate_limits.per_client_ip.burst = 20;
    })
    .await;

    let prometheus = Prometheus::start(&binary, &[server.http_addr.to_string()]);

    drive_everything(&server, &mock).await;

    // Let Prometheus scrape the whole story a few times.
    prometheus.wait_for_scrapes(1, 5).await;

    // The replicas' dashboard needs PostgreSQL: `monitoring_replicas.rs`
    // proves it.
    let queries: Vec<_> = panel_queries()
        .into_iter()
        .filter(|(dashboard, _, _)| dashboard != REPLICAS_DASHBOARD)
        .collect();
    let empty = prometheus
        .panels_without_data(&queries, EXPECTED_EMPTY)
        .await;
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );

    prometheus.assert_variables_have_values(&dashboards()).await;

    prometheus
        .assert_rules_healthy(rule_list(&rules()).len())
        .await;

    eventually(
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let firing = prometheus.firing().await;
            if firing.contains("TradeplaneCircuitBreakerOpen")
                && firing.contains("TradeplaneTradingHalted")
            {
                Ok(())
            } else {
                Err(format!("firing: {firing:?}"))
            }
        },
    )
    .await;

    // Dashboards, rules and the server name the same metrics (every
    // dashboard's, the replicas' too; but the metrics of PostgreSQL only
    // cannot be exposed here).
    let exposed = exposed_names(&server.metrics().await);
    let mut named: BTreeSet<String> = panel_queries()
        .iter()
        .flat_map(|(_, _, e)| metric_names(e))
        .collect();
    named.extend(
        rule_list(&rules())
            .iter()
            .filter_map(|r| r["expr"].as_str())
            .flat_map(metric_names),
    );
    let unshown: Vec<_> = exposed.iter().filter(|m| !covered(m, &named)).collect();
    assert!(
        unshown.is_empty(),
        "exposed but in no dashboard or rule: {unshown:?}"
    );
    let unknown: Vec<_> = named
        .iter()
        // Prometheus's own series.
        .filter(|n| !["up", "ALERTS"].contains(&n.as_str()) && !exposed.contains(*n))
        .filter(|n| !postgres_only(n))
        .collect();
    assert!(unknown.is_empty(), "named but not exposed: {unknown:?}");
    server.stop().await;
}

//! The monitoring files are proven, not just shipped: promtool accepts the
//! Prometheus configuration and rules and runs the alert unit tests; every
//! alert is documented in the runbook; a real Prometheus scrapes the real
//! server under traffic and answers every dashboard query with data, and
//! fires the breaker and halt alerts; and dashboards, rules and the
//! server's metrics name the same metrics.

use std::{collections::BTreeSet, process::Command, time::Duration};

use serde_json::json;
use tradeplane_api::*;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, any_signal_pipeline, create_pipeline, eventually, external_tool,
    mock_binance::{Fault, MockBinance, Route},
    webhook_accepts, workspace_root,
};

const RULES: &str = "monitoring/prometheus/rules/tradeplane.yml";

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

fn rule_list(rules: &serde_json::Value) -> Vec<serde_json::Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
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

/// The metric names a PromQL expression uses: identifiers outside label
/// matchers (`{…}`), label lists (`by (…)`, `on (…)`, …) and strings,
/// that are not functions, keywords or recording-rule names (with `:`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 17] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let (mut i, mut braces, mut label_list, mut previous) = (0, 0, 0, String::new());
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1 + usize::from(chars[i] == '\\');
                }
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            '(' if LABEL_LISTS.contains(&previous.as_str()) => label_list += 1,
            ')' if label_list > 0 => label_list -= 1,
            // A number or a duration (`offset 1h`): never a name.
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                previous.clear();
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let token: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let is_metric = braces == 0
                    && label_list == 0
                    && next != Some(&'(')
                    && !token.contains(':')
                    && !LABEL_LISTS.contains(&token.as_str())
                    && !KEYWORDS.contains(&token.as_str());
                if is_metric {
                    names.insert(token.clone());
                }
                previous = token;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            previous.clear();
        }
        i += 1;
    }
    names
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
            if server
                .metrics()
                .await
                .contains("tradeplane_executions_total")
            {
                Ok(())
            } else {
                Err("no execution ended".to_string())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn every_metric_a_rule_names_is_exposed_by_the_server() {
    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    exercise(&server).await;
    let exposition = server.metrics().await;
    let exposed: BTreeSet<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let rules = rules();
    let named: BTreeSet<String> = rule_list(&rules)
        .iter()
        .filter_map(|r| r["expr"].as_str())
        .flat_map(metric_names)
        .collect();
    assert!(named.len() > 10, "{named:?}");
    // `up` comes from Prometheus itself.
    let missing: Vec<_> = named
        .iter()
        .filter(|n| *n != "up" && !exposed.contains(n.as_str()))
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

fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = workspace_root().join("monitoring/grafana/dashboards");
    let mut all: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            (name, serde_json::from_str(&text).expect("dashboard JSON"))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(all.len(), 3, "overview, pipeline and security");
    all
}

/// Every (dashboard, panel title, expr) of every dashboard.
fn panel_queries() -> Vec<(String, String, String)> {
    let mut queries = Vec::new();
    for (name, dashboard) in dashboards() {
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().cloned().unwrap_or_default() {
                let expr = target["expr"].as_str().expect("expr").to_string();
                let title = panel["title"].as_str().unwrap_or_default().to_string();
                queries.push((name.clone(), title, expr));
            }
        }
    }
    queries
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

/// Whether a metric family is named by one of `names` (a histogram by its
/// bucket, count or sum).
fn covered(family: &str, names: &BTreeSet<String>) -> bool {
    ["", "_bucket", "_count", "_sum"].iter().any(|suffix| {
        names.contains(&format!(
            "{}{suffix}",
            family
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
        ))
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Prometheus's HTTP API.
struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let url =
            url::Url::parse_with_params(&format!("{}{path}", self.base), params).expect("a URL");
        let reply = self.http.get(url).send().await.expect("Prometheus answers");
        reply.json().await.expect("JSON")
    }

    async fn query(&self, expr: &str) -> serde_json::Value {
        self.get("/api/v1/query", &[("query", expr)]).await
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
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.security.rate_limits.per_client_ip.rate_per_second = 0.1;
        config.security.rate_limits.per_client_ip.burst = 20;
    })
    .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let rules_path = workspace_root().join(RULES);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tradeplane\n    static_configs:\n      - targets: [\"{}\"]\n",
        rules_path.display(),
        server.http_addr
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("config");
    let _prometheus = tokio::process::Command::new(binary)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let prometheus = Prometheus {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };

    drive_everything(&server, &mock).await;

    // Let Prometheus scrape the whole story a few times.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let up = prometheus.query("up{job=\"tradeplane\"} == 1").await;
            let scraped = prometheus
                .query("count_over_time(tradeplane_build_info[1m]) >= 5")
                .await;
            if up["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
                && scraped["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            {
                Ok(())
            } else {
                Err("Prometheus never scraped the server".to_string())
            }
        },
    )
    .await;

    let mut empty = Vec::new();
    for (dashboard, title, expr) in panel_queries() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace("$exchange", ".*")
            .replace("$pipeline", ".*");
        let answer = prometheus.query(&expr).await;
        assert_eq!(
            answer["status"], "success",
            "{dashboard}: `{title}`: {expr}: {answer}"
        );
        let has_data = answer["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        let expected_empty = EXPECTED_EMPTY.iter().any(|(t, _)| *t == title);
        if !has_data && !expected_empty {
            empty.push(format!("{dashboard}: `{title}`: {expr}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );

    for (dashboard, value) in dashboards() {
        for variable in value["templating"]["list"].as_array().expect("variables") {
            let Some(query) = variable["definition"].as_str() else {
                continue;
            };
            let inner = query
                .trim_start_matches("label_values(")
                .trim_end_matches(')');
            let (metric, label) = inner.split_once(',').expect("label_values(metric, label)");
            let values = prometheus
                .get(
                    &format!("/api/v1/label/{}/values", label.trim()),
                    &[("match[]", metric.trim())],
                )
                .await;
            assert!(
                values["data"].as_array().is_some_and(|v| !v.is_empty()),
                "{dashboard}: variable `{query}` has no values"
            );
        }
    }

    let rule_groups = prometheus.get("/api/v1/rules", &[]).await;
    let rule_states: Vec<_> = rule_groups["data"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        rule_states.len(),
        rule_list(&rules()).len(),
        "every rule is loaded"
    );
    for rule in &rule_states {
        assert_eq!(
            rule["health"], "ok",
            "{}: {}",
            rule["name"], rule["lastError"]
        );
    }

    eventually(
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let alerts = prometheus.get("/api/v1/alerts", &[]).await;
            let firing: BTreeSet<String> = alerts["data"]["alerts"]
                .as_array()
                .expect("alerts")
                .iter()
                .filter(|a| a["state"] == "firing")
                .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
                .collect();
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

    // Dashboards, rules and the server name the same metrics.
    let exposition = server.metrics().await;
    let exposed: BTreeSet<String> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
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
        .collect();
    assert!(unknown.is_empty(), "named but not exposed: {unknown:?}");
    server.stop().await;
}

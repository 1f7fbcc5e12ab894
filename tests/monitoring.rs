//! The monitoring files are proven, not just shipped: promtool accepts the
//! Prometheus configuration and rules and runs the alert unit tests; every
//! alert is documented in the runbook; and every metric a rule names is one
//! the real server exposes.

use std::{collections::BTreeSet, process::Command, time::Duration};

use serde_json::json;
use tradeplane_api::*;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, external_tool, mock_binance::MockBinance, workspace_root,
};

const RULES: &str = "monitoring/prometheus/rules/tradeplane.yml";

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
    let reply = reqwest::Client::new()
        .post(server.http_url("/webhooks/tradingview"))
        .json(&json!({
            "passphrase": PASSPHRASE, "ticker": "BTCUSDT", "action": "buy", "price": "50000",
            "time": chrono::Utc::now().to_rfc3339(),
        }))
        .send()
        .await
        .expect("webhook call");
    assert_eq!(reply.status(), 202);
    client
        .orders()
        .place_order(PlaceOrderRequest {
            exchange: "binance".into(),
            symbol: "BTC/USDT".into(),
            side: Side::Buy as i32,
            r#type: OrderType::Market as i32,
            quantity: "0.001".into(),
            ..Default::default()
        })
        .await
        .expect("PlaceOrder answers");
    let pipeline = client
        .pipelines()
        .create_pipeline(CreatePipelineRequest {
            pipeline: Some(Pipeline {
                name: "metrics".into(),
                trigger: Some(Trigger {
                    kind: Some(trigger::Kind::Signal(SignalMatch::default())),
                }),
                sizing: Some(Sizing {
                    method: Some(sizing::Method::FixedQuoteAmount("100".into())),
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("CreatePipeline answers")
        .into_inner()
        .pipeline
        .expect("a pipeline");
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
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server
        .metrics()
        .await
        .contains("tradeplane_executions_total")
    {
        assert!(std::time::Instant::now() < deadline, "no execution ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        r#"sum by (le) (rate(http_server_request_duration_seconds_bucket{http_route="/x"}[5m])) / tradeplane:rpc_errors:ratio5m > on () tradeplane_pipelines{state="enabled"}"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "http_server_request_duration_seconds_bucket",
            "tradeplane_pipelines"
        ]
    );
}

//! The monitoring files against a real Prometheus: one started on a free
//! loopback port that scrapes the given servers every second with the
//! project's rules, asked through its HTTP API; and what the tests read
//! out of the dashboards and rules (their queries, the metric names they
//! use) to hold them against what the servers expose.

use std::{collections::BTreeSet, path::Path, process::Stdio, time::Duration};

use tempfile::TempDir;

use crate::{eventually, workspace_root};

/// The recording and alert rules, from the workspace root.
pub const RULES: &str = "monitoring/prometheus/rules/tradeplane.yml";

/// The Grafana dashboards, from the workspace root.
pub const DASHBOARDS: &str = "monitoring/grafana/dashboards";

/// The dashboard of the replicas, whose metrics partly come from
/// PostgreSQL only.
pub const REPLICAS_DASHBOARD: &str = "replicas.json";

/// Metric families only a server on PostgreSQL exposes (the pool, and the
/// notices of the other replicas' changes): a test of a server on SQLite
/// cannot see them.
pub const POSTGRES_ONLY: &[&str] = &[
    "tradeplane_db_pool_connections",
    "tradeplane_db_pool_max",
    "tradeplane_replication_notice_lag_seconds",
];

/// Whether `name` (a family, or a histogram's bucket, count or sum) is one
/// of [`POSTGRES_ONLY`].
pub fn postgres_only(name: &str) -> bool {
    let family = name
        .trim_end_matches("_bucket")
        .trim_end_matches("_count")
        .trim_end_matches("_sum");
    POSTGRES_ONLY.contains(&family)
}

/// Every rule (recording and alert) of the parsed rules file.
pub fn rule_list(rules: &serde_json::Value) -> Vec<serde_json::Value> {
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The metric names a PromQL expression uses: identifiers outside label
/// matchers (`{…}`), label lists (`by (…)`, `on (…)`, …) and strings,
/// that are not functions, keywords or recording-rule names (with `:`).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
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

/// The series names of a `/metrics` text (a histogram's as its bucket,
/// count and sum).
pub fn exposed_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether a metric family is named by one of `names` (a histogram by its
/// bucket, count or sum).
pub fn covered(family: &str, names: &BTreeSet<String>) -> bool {
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

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Every dashboard, as (file name, JSON), by file name.
pub fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = workspace_root().join(DASHBOARDS);
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
    assert_eq!(all.len(), 4, "overview, pipeline, replicas and security");
    all
}

/// Every (dashboard, panel title, expr) of every dashboard.
pub fn panel_queries() -> Vec<(String, String, String)> {
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

/// A panel's query as Grafana sends it with every variable at "All" and a
/// one-minute rate interval.
pub fn substituted(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$instance", ".*")
        .replace("$exchange", ".*")
        .replace("$account", ".*")
        .replace("$pipeline", ".*")
}

/// A real Prometheus, scraping the servers it was started for every
/// second and evaluating the rules every second; killed when dropped.
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
    /// Its configuration and data.
    _dir: TempDir,
}

impl Prometheus {
    /// Starts `binary` (found with `external_tool("prometheus", …)`)
    /// scraping the job `tradeplane` at `targets` (`host:port` of the
    /// servers' HTTP ports) with [`RULES`].
    pub fn start(binary: &Path, targets: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let rules_path = workspace_root().join(RULES);
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tradeplane\n    static_configs:\n      - targets: [{}]\n",
            rules_path.display(),
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("config");
        let process = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus starts");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _process: process,
            _dir: dir,
        }
    }

    /// GET `path` of the HTTP API with `params`, as JSON.
    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let url =
            url::Url::parse_with_params(&format!("{}{path}", self.base), params).expect("a URL");
        let reply = self.http.get(url).send().await.expect("Prometheus answers");
        reply.json().await.expect("JSON")
    }

    /// An instant query.
    pub async fn query(&self, expr: &str) -> serde_json::Value {
        self.get("/api/v1/query", &[("query", expr)]).await
    }

    /// Whether an instant query answers at least one series (Prometheus
    /// may not be answering yet: then not).
    async fn answers(&self, expr: &str) -> bool {
        let url =
            url::Url::parse_with_params(&format!("{}/api/v1/query", self.base), &[("query", expr)])
                .expect("a URL");
        let Ok(reply) = self.http.get(url).send().await else {
            return false;
        };
        let answer: serde_json::Value = reply.json().await.unwrap_or_default();
        answer["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    }

    /// Waits until `targets` servers are up and each was scraped at least
    /// `scrapes` times in the last minute.
    pub async fn wait_for_scrapes(&self, targets: usize, scrapes: usize) {
        eventually(
            Duration::from_secs(30),
            Duration::from_millis(250),
            || async {
                let up = self
                    .answers(&format!("count(up{{job=\"tradeplane\"}} == 1) >= {targets}"))
                    .await;
                let scraped = self
                    .answers(&format!(
                        "count(count_over_time(tradeplane_build_info[1m]) >= {scrapes}) >= {targets}"
                    ))
                    .await;
                if up && scraped {
                    Ok(())
                } else {
                    Err(format!(
                        "Prometheus never scraped the {targets} server(s) {scrapes} times"
                    ))
                }
            },
        )
        .await;
    }

    /// Runs every (dashboard, title, expr) of `queries` with its variables
    /// at "All" ([`substituted`]); fails the test on a query Prometheus
    /// refuses, and returns `dashboard: `title`: expr` of those that
    /// answer no series, except the panels titled in `expected_empty`
    /// (title, why).
    pub async fn panels_without_data(
        &self,
        queries: &[(String, String, String)],
        expected_empty: &[(&str, &str)],
    ) -> Vec<String> {
        let mut empty = Vec::new();
        for (dashboard, title, expr) in queries {
            let expr = substituted(expr);
            let answer = self.query(&expr).await;
            assert_eq!(
                answer["status"], "success",
                "{dashboard}: `{title}`: {expr}: {answer}"
            );
            let has_data = answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
            let expected_empty = expected_empty.iter().any(|(t, _)| t == title);
            if !has_data && !expected_empty {
                empty.push(format!("{dashboard}: `{title}`: {expr}"));
            }
        }
        empty
    }

    /// Fails the test unless every `label_values(metric, label)` variable
    /// of `dashboards` has values.
    pub async fn assert_variables_have_values(&self, dashboards: &[(String, serde_json::Value)]) {
        for (dashboard, value) in dashboards {
            for variable in value["templating"]["list"].as_array().expect("variables") {
                let Some(query) = variable["definition"].as_str() else {
                    continue;
                };
                let inner = query
                    .trim_start_matches("label_values(")
                    .trim_end_matches(')');
                let (metric, label) = inner.split_once(',').expect("label_values(metric, label)");
                let values = self
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
    }

    /// Fails the test unless Prometheus loaded `count` rules and every
    /// one evaluates without error.
    pub async fn assert_rules_healthy(&self, count: usize) {
        let rule_groups = self.get("/api/v1/rules", &[]).await;
        let rule_states: Vec<_> = rule_groups["data"]["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(rule_states.len(), count, "every rule is loaded");
        for rule in &rule_states {
            assert_eq!(
                rule["health"], "ok",
                "{}: {}",
                rule["name"], rule["lastError"]
            );
        }
    }

    /// The names of the alerts firing now.
    pub async fn firing(&self) -> BTreeSet<String> {
        let alerts = self.get("/api/v1/alerts", &[]).await;
        alerts["data"]["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
            .collect()
    }
}

//! The replicas' dashboard (`tradeplane / Replicas`) and the rules are
//! proven against a real Prometheus scraping two real replicas on one
//! PostgreSQL database: every panel answers for each replica, the
//! dashboard's variables have values, every rule evaluates, the metrics
//! only PostgreSQL brings (the pool, the notices) are exposed and watched,
//! and a lease takeover shows on the replica that took the execution over.

use std::{collections::BTreeSet, time::Duration};

use tradeplane_api::*;
use tradeplane_e2e::{
    Served, all_executions, eventually, external_tool, fresh_postgres_database,
    mock_binance::{Fault, MockBinance, Route},
    post_webhook,
    prometheus::{
        POSTGRES_ONLY, Prometheus, REPLICAS_DASHBOARD, RULES, covered, dashboards, exposed_names,
        metric_names, panel_queries, rule_list, substituted,
    },
    replicas::{admin, alert, create_on_all, on_binance, replicas},
    settled, workspace_root,
};

/// The replicas' dashboard's (dashboard, panel title, expr).
fn replica_panels() -> Vec<(String, String, String)> {
    let queries: Vec<_> = panel_queries()
        .into_iter()
        .filter(|(dashboard, _, _)| dashboard == REPLICAS_DASHBOARD)
        .collect();
    assert!(queries.len() >= 10, "{queries:?}");
    queries
}

fn rules() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join(RULES)).expect("rules file");
    serde_yaml_ng::from_str(&text).expect("rules are YAML")
}

/// `served`'s `/metrics` text.
async fn metrics(served: &Served) -> String {
    reqwest::get(format!("{}/metrics", served.http))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text")
}

/// Prometheus's `instance` of `served` (`host:port` of its HTTP port).
fn instance(served: &Served) -> String {
    served.http.trim_start_matches("http://").to_string()
}

/// The executions `served`'s workers claimed of `kind`, as it exposes them.
async fn claims(served: &Served, kind: &str) -> f64 {
    let kind = format!("kind=\"{kind}\"");
    metrics(served)
        .await
        .lines()
        .filter(|l| l.starts_with("tradeplane_execution_claims_total{") && l.contains(&kind))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The instances a query's answer has series of.
fn instances(answer: &serde_json::Value) -> BTreeSet<String> {
    answer["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metric"]["instance"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_every_replica_panel_for_each_of_two_replicas() {
    let Some(binary) = external_tool(
        "prometheus",
        "scrapes the replicas for the replicas dashboard's queries",
    ) else {
        return;
    };
    let Some(url) = fresh_postgres_database("two replicas for the replicas dashboard").await else {
        return;
    };
    let mock = MockBinance::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let all = replicas(&url, &mock, dir.path(), 2).await;
    let Ok([a, b]) = <[Served; 2]>::try_from(all) else {
        panic!("two replicas were asked for");
    };
    let targets = vec![instance(&a), instance(&b)];
    let expected: BTreeSet<String> = targets.iter().cloned().collect();
    let prometheus = Prometheus::start(&binary, &targets);
    let (to_a, to_b) = (admin(&a).await, admin(&b).await);

    // A pipeline made through A, which B hears of by a notice; then keys
    // made through A until both replicas have measured a notice's lag (a
    // replica whose listener was not connected yet missed the first).
    create_on_all(&to_a, &[&to_b], on_binance("watched")).await;
    let keys = std::sync::Mutex::new(Vec::new());
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let name = format!("watch-{}", keys.lock().expect("keys").len());
            let key = to_a
                .security()
                .create_api_key(CreateApiKeyRequest {
                    name,
                    role: Role::Viewer as i32,
                    ..Default::default()
                })
                .await
                .expect("CreateApiKey answers")
                .into_inner()
                .api_key
                .expect("the key");
            keys.lock().expect("keys").push(key.id);
            let (on_a, on_b) = (metrics(&a).await, metrics(&b).await);
            let heard = "tradeplane_replication_notice_lag_seconds_count";
            if on_a.contains(heard) && on_b.contains(heard) {
                Ok(())
            } else {
                Err("a replica measured no notice's lag".to_string())
            }
        },
    )
    .await;
    let first = keys.into_inner().expect("keys").remove(0);
    to_a.security()
        .revoke_api_key(RevokeApiKeyRequest {
            id: first,
            ..Default::default()
        })
        .await
        .expect("RevokeApiKey answers");

    // Alerts through both replicas: executions queued and claimed.
    for n in 0..4 {
        let replica = if n % 2 == 0 { &a } else { &b };
        let reply = post_webhook(
            &replica.webhook_url(),
            alert(&format!("watched-{n}")).to_string(),
            &[],
        )
        .await;
        assert_eq!(reply.status(), 202);
    }
    for execution in all_executions(&to_b, ExecutionFilter::default()).await {
        let execution = settled(&to_b, &execution.id).await;
        assert_eq!(
            execution.status(),
            ExecutionStatus::Succeeded,
            "{execution:#?}"
        );
    }

    prometheus.wait_for_scrapes(2, 5).await;

    // Every panel answers, for each replica.
    let queries = replica_panels();
    let empty = prometheus.panels_without_data(&queries, &[]).await;
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let mut partial = Vec::new();
            for (_, title, expr) in &queries {
                let answered = instances(&prometheus.query(&substituted(expr)).await);
                if answered != expected {
                    partial.push(format!("`{title}`: {expr}: {answered:?}"));
                }
            }
            if partial.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "panels without both replicas {expected:?}:\n{}",
                    partial.join("\n")
                ))
            }
        },
    )
    .await;
    let dashboard: Vec<_> = dashboards()
        .into_iter()
        .filter(|(name, _)| name == REPLICAS_DASHBOARD)
        .collect();
    prometheus.assert_variables_have_values(&dashboard).await;
    prometheus
        .assert_rules_healthy(rule_list(&rules()).len())
        .await;

    // The replicas expose every metric the dashboard names, each replica
    // all of them; and the metrics of PostgreSQL only are exposed and are
    // on the dashboard or in a rule.
    let named: BTreeSet<String> = queries
        .iter()
        .flat_map(|(_, _, expr)| metric_names(expr))
        .filter(|name| name != "up")
        .collect();
    let mut exposed_anywhere = BTreeSet::new();
    for replica in [&a, &b] {
        let exposed = exposed_names(&metrics(replica).await);
        let missing: Vec<_> = named.iter().filter(|n| !exposed.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{}: the dashboard names metrics it does not expose: {missing:?}",
            replica.http
        );
        exposed_anywhere.extend(exposed);
    }
    let mut watched = named.clone();
    watched.extend(
        rule_list(&rules())
            .iter()
            .filter_map(|r| r["expr"].as_str())
            .flat_map(metric_names),
    );
    for family in POSTGRES_ONLY {
        assert!(
            covered(family, &exposed_anywhere),
            "{family}: not exposed by the replicas"
        );
        assert!(
            covered(family, &watched),
            "{family}: on no dashboard and in no rule"
        );
    }

    // A lease takeover: the replica that claimed an execution dies with
    // its order unanswered, the other resumes it after the lease, and the
    // dashboard's takeover panel shows it on the survivor.
    let firsts = [claims(&a, "first").await, claims(&b, "first").await];
    let orders = mock.orders().len();
    mock.fail_next(Route::PlaceOrder, Fault::Hang);
    let reply = post_webhook(&a.webhook_url(), alert("taken-over").to_string(), &[]).await;
    assert_eq!(reply.status(), 202);
    mock.wait_for_orders(orders + 1, Duration::from_secs(20))
        .await;
    let claimed_by_a = eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let now = [claims(&a, "first").await, claims(&b, "first").await];
            match (now[0] > firsts[0], now[1] > firsts[1]) {
                (true, false) => Ok(true),
                (false, true) => Ok(false),
                _ => Err(format!("claims {firsts:?} -> {now:?}")),
            }
        },
    )
    .await;
    let (dead, survivor) = if claimed_by_a { (a, b) } else { (b, a) };
    dead.kill();
    let (_, title, takeovers) = queries
        .iter()
        .find(|(_, title, _)| title == "Lease takeovers by replica")
        .expect("the takeover panel");
    let on_survivor = substituted(&takeovers.replace("$instance", &instance(&survivor)));
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let answer = prometheus.query(&on_survivor).await;
            let taken_over = answer["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .any(|v| v > 0.0);
            if taken_over {
                Ok(())
            } else {
                Err(format!("`{title}`: {on_survivor}: {answer}"))
            }
        },
    )
    .await;
    survivor.kill();
}

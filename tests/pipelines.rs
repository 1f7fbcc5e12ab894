//! Pipelines end to end on the paper exchange: a TradingView alert to a
//! filled order through a pipeline, risk rules, sizing, intents, schedules,
//! validation, and executions that survive a crash.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, audit_events, create_pipeline as create, dec, error_reason, eventually,
    finished, get_order,
    mock_binance::{Fault, MockBinance, Route},
    post_webhook, run_pipeline as run, serve_async, try_create_pipeline, webhook_accepts,
};

fn pipeline(name: &str, sizing: sizing::Method) -> Pipeline {
    Pipeline {
        name: name.into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                symbol_glob: "BTC/*".into(),
                ..Default::default()
            })),
        }),
        sizing: Some(Sizing {
            method: Some(sizing),
        }),
        ..Default::default()
    }
}

fn quote(amount: &str) -> sizing::Method {
    sizing::Method::FixedQuoteAmount(amount.into())
}

fn status(execution: &Execution) -> ExecutionStatus {
    ExecutionStatus::try_from(execution.status).expect("a status")
}

/// Creates `pipeline`, which the test expects to be refused; returns the
/// refusal.
async fn create_refused(client: &Client, pipeline: Pipeline) -> tonic::Status {
    try_create_pipeline(client, pipeline)
        .await
        .expect_err("CreatePipeline refuses")
}

/// The first page of executions matching `filter`.
async fn executions(client: &Client, filter: ExecutionFilter) -> Vec<Execution> {
    client
        .pipelines()
        .list_executions(ListExecutionsRequest {
            filter: Some(filter),
            ..Default::default()
        })
        .await
        .expect("ListExecutions answers")
        .into_inner()
        .executions
}

/// Creates a pipeline named `name` with the risk rules `adjust` sets.
async fn with_risk(
    client: &Client,
    name: &str,
    sizing: sizing::Method,
    adjust: impl FnOnce(&mut RiskRules),
) -> Pipeline {
    let mut risk = RiskRules::default();
    adjust(&mut risk);
    let pipeline = Pipeline {
        risk: Some(risk),
        ..pipeline(name, sizing)
    };
    create(client, pipeline).await
}

/// Runs `pipeline` by hand at `price` and asserts that the execution
/// succeeded.
async fn succeeds(client: &Client, pipeline: &Pipeline, action: &str, price: &str) {
    let execution = run(client, pipeline, action, price, "").await;
    assert_eq!(
        status(&execution),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
}

#[tokio::test]
async fn a_tradingview_alert_becomes_a_filled_paper_order_through_a_pipeline() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let created = create(
        &client,
        Pipeline {
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Signal(SignalMatch {
                    source: "tradingview".into(),
                    symbol_glob: "BTC/*".into(),
                    actions: vec!["buy".into()],
                    ..Default::default()
                })),
            }),
            ..pipeline("ema-cross", quote("1000"))
        },
    )
    .await;
    assert_eq!(created.state, PipelineState::Enabled as i32);
    let mut watch = client
        .pipelines()
        .watch_executions(WatchExecutionsRequest {
            filter: Some(ExecutionFilter {
                pipeline_id: created.id.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("WatchExecutions answers")
        .into_inner();

    let alert = json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "exchange": "BINANCE",
        "action": "buy",
        "price": "50000",
        "time": chrono::Utc::now().to_rfc3339(),
    });
    let reply = post_webhook(&server.webhook_url(), alert.to_string(), &[]).await;
    assert_eq!(reply.status(), 202);
    let accepted: serde_json::Value = reply.json().await.expect("json");

    let watched = tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("an execution event in time")
        .expect("stream open")
        .expect("event");
    let execution = watched.execution.expect("an execution");
    assert_eq!(
        status(&execution),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    assert_eq!(
        execution.signal_id,
        accepted["signal_id"].as_str().expect("signal id")
    );
    let steps: Vec<_> = execution
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.result.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("match", "ok"),
            ("sizing", "ok"),
            ("risk", "ok"),
            ("order", "ok")
        ]
    );
    assert!(execution.steps.iter().all(|s| s.duration.is_some()));

    let fetched = finished(&client, &execution.id).await;
    assert_eq!(fetched.steps, execution.steps);
    let placed = get_order(&client, &execution.order_ids[0]).await;
    assert_eq!(placed.status, OrderStatus::Filled as i32);
    assert_eq!(placed.quantity, "0.02", "1000 USDT at 50000");
    assert_eq!(placed.execution_id, execution.id);
    assert_eq!(placed.signal_id, execution.signal_id);
    assert_eq!(execution.fees, placed.fee_total);

    // Executions filter by status; a status no value has, or
    // UNSPECIFIED, is refused rather than matching nothing.
    let by_status = |statuses: Vec<i32>| {
        let mut pipelines = client.pipelines();
        let request = ListExecutionsRequest {
            filter: Some(ExecutionFilter {
                pipeline_id: created.id.clone(),
                statuses,
                ..Default::default()
            }),
            ..Default::default()
        };
        async move { pipelines.list_executions(request).await }
    };
    let succeeded = by_status(vec![ExecutionStatus::Succeeded as i32])
        .await
        .expect("ListExecutions answers")
        .into_inner();
    assert_eq!(succeeded.executions, std::slice::from_ref(&fetched));
    let failed = by_status(vec![ExecutionStatus::Failed as i32])
        .await
        .expect("ListExecutions answers")
        .into_inner();
    assert!(failed.executions.is_empty());
    for statuses in [vec![999], vec![ExecutionStatus::Unspecified as i32]] {
        let refused = by_status(statuses).await.expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }

    // A sell alert does not match this pipeline's actions.
    let metrics = server.metrics().await;
    assert!(metrics.contains("tradeplane_pipeline_matches_total{pipeline=\"ema-cross\""));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tradeplane_executions_total")
                && l.contains("pipeline=\"ema-cross\"")
                && l.contains("status=\"succeeded\""))
    );
    server.stop().await;
}

#[tokio::test]
async fn every_risk_rule_rejects_what_it_should_and_passes_the_rest() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let rejected = |execution: &Execution, rule: &str| {
        assert_eq!(status(execution), ExecutionStatus::Skipped, "{execution:?}");
        assert_eq!(execution.skip_reason, "risk_rejected");
        let risk = execution
            .steps
            .iter()
            .find(|s| s.name == "risk")
            .expect("risk step");
        assert_eq!(risk.result, "rejected");
        assert!(risk.detail.starts_with(rule), "{}", risk.detail);
    };

    let notional = with_risk(&client, "notional", quote("1000"), |rules| {
        rules.max_order_notional = "500".into()
    })
    .await;
    rejected(
        &run(&client, &notional, "buy", "50000", "").await,
        "max_order_notional",
    );
    let small = with_risk(&client, "notional-ok", quote("400"), |rules| {
        rules.max_order_notional = "500".into()
    })
    .await;
    succeeds(&client, &small, "buy", "50000").await;

    let sides = with_risk(&client, "long-only", quote("100"), |rules| {
        rules.allowed_sides = vec![Side::Buy as i32]
    })
    .await;
    // Spot cannot sell short, so the sell has a long to sell.
    succeeds(&client, &sides, "buy", "50000").await;
    rejected(
        &run(&client, &sides, "sell", "50000", "").await,
        "allowed_sides",
    );

    let position = with_risk(
        &client,
        "capped",
        sizing::Method::FixedQuantity("0.01".into()),
        |rules| rules.max_position = "0.015".into(),
    )
    .await;
    succeeds(&client, &position, "buy", "50000").await;
    rejected(
        &run(&client, &position, "buy", "50000", "").await,
        "max_position",
    );
    assert_eq!(
        status(&run(&client, &position, "sell", "50000", "").await),
        ExecutionStatus::Succeeded,
        "reducing the position is always allowed"
    );

    let rate = with_risk(&client, "one-a-minute", quote("100"), |rules| {
        rules.max_orders_per_minute = 1
    })
    .await;
    succeeds(&client, &rate, "buy", "50000").await;
    rejected(
        &run(&client, &rate, "buy", "50000", "").await,
        "max_orders_per_minute",
    );

    let quiet = with_risk(&client, "quiet", quote("100"), |rules| {
        rules.cooldown = Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        })
    })
    .await;
    succeeds(&client, &quiet, "buy", "50000").await;
    let cooling = run(&client, &quiet, "buy", "50000", "").await;
    assert_eq!(
        (status(&cooling), cooling.skip_reason.as_str()),
        (ExecutionStatus::Skipped, "cooldown")
    );

    let losses = with_risk(
        &client,
        "loser",
        sizing::Method::FixedQuantity("0.1".into()),
        |rules| rules.daily_loss_limit = "500".into(),
    )
    .await;
    succeeds(&client, &losses, "buy", "50000").await;
    // Sold 0.1 about 10% lower: roughly 500 lost, past the limit.
    succeeds(&client, &losses, "sell", "44000").await;
    rejected(
        &run(&client, &losses, "buy", "44000", "").await,
        "daily_loss_limit",
    );

    let metrics = server.metrics().await;
    for rule in [
        "max_order_notional",
        "allowed_sides",
        "max_position",
        "max_orders_per_minute",
        "daily_loss_limit",
    ] {
        assert!(
            metrics.contains(&format!("rule=\"{rule}\"")),
            "{rule} is counted"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn sizing_rounds_to_the_instrument_and_intents_compute_the_difference() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let by_quote = create(&client, pipeline("by-quote", quote("1000"))).await;
    let odd = run(&client, &by_quote, "buy", "33333", "").await;
    assert_eq!(
        get_order(&client, &odd.order_ids[0]).await.quantity,
        "0.03",
        "0.0300003 rounds down to the lot"
    );

    let by_share = create(
        &client,
        pipeline("by-share", sizing::Method::PercentOfBalance("10".into())),
    )
    .await;
    let share = run(&client, &by_share, "buy", "50000", "").await;
    let share_qty = dec(&get_order(&client, &share.order_ids[0]).await.quantity);
    assert!(
        share_qty > dec("0.19") && share_qty <= dec("0.2"),
        "10% of the USDT left: {share_qty}"
    );

    let tiny = create(
        &client,
        pipeline("tiny", sizing::Method::FixedQuantity("0.00001".into())),
    )
    .await;
    let below = run(&client, &tiny, "buy", "100", "").await;
    assert_eq!(
        (status(&below), below.skip_reason.as_str()),
        (ExecutionStatus::Skipped, "below_min_notional")
    );

    let from_signal = create(
        &client,
        pipeline("from-signal", sizing::Method::FromSignal(true)),
    )
    .await;
    let sized = run(&client, &from_signal, "buy", "50000", "0.0123456").await;
    assert_eq!(
        get_order(&client, &sized.order_ids[0]).await.quantity,
        "0.01234"
    );

    let target = create(&client, pipeline("target", quote("100"))).await;
    let to_five = run(&client, &target, "target_position", "50000", "0.05").await;
    let first = get_order(&client, &to_five.order_ids[0]).await;
    assert_eq!(
        (first.side, first.quantity.as_str()),
        (Side::Buy as i32, "0.05")
    );
    let to_two = run(&client, &target, "target_position", "50000", "0.02").await;
    let second = get_order(&client, &to_two.order_ids[0]).await;
    assert_eq!(
        (second.side, second.quantity.as_str()),
        (Side::Sell as i32, "0.03")
    );
    let same = run(&client, &target, "target_position", "50000", "0.02").await;
    assert_eq!(same.skip_reason, "at_target");
    let exit = run(&client, &target, "exit", "50000", "").await;
    let closing = get_order(&client, &exit.order_ids[0]).await;
    assert_eq!(
        (closing.side, closing.quantity.as_str()),
        (Side::Sell as i32, "0.02")
    );
    let nothing = run(&client, &target, "exit", "50000", "").await;
    assert_eq!(nothing.skip_reason, "no_position");
    server.stop().await;
}

#[tokio::test]
async fn pipelines_are_validated_updated_paused_and_audited() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let bad = create_refused(
        &client,
        Pipeline {
            exchange: "nowhere".into(),
            ..pipeline("bad", quote("100"))
        },
    )
    .await;
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("pipeline.exchange"),
        "{}",
        bad.message()
    );
    let unreachable = create_refused(
        &client,
        Pipeline {
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Signal(SignalMatch {
                    symbol_glob: "BTC/USDT".into(),
                    ..Default::default()
                })),
            }),
            ..pipeline("dust", quote("1"))
        },
    )
    .await;
    assert!(
        unreachable.message().contains("minimum notional"),
        "{}",
        unreachable.message()
    );

    let bad_cron = create_refused(
        &client,
        Pipeline {
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Schedule(Schedule {
                    spec: Some(schedule::Spec::Cron("61 * * * *".into())),
                    symbol: "BTC/USDT".into(),
                    action: "buy".into(),
                })),
            }),
            ..pipeline("bad-cron", quote("100"))
        },
    )
    .await;
    let violations = tonic_types::StatusExt::get_details_bad_request(&bad_cron)
        .expect("BadRequest details")
        .field_violations;
    assert_eq!(violations[0].field, "pipeline.trigger.schedule.cron");

    let created = create(&client, pipeline("editable", quote("100"))).await;
    let taken = create_refused(&client, pipeline("editable", quote("50"))).await;
    assert_eq!(
        (taken.code(), error_reason(&taken), taken.message()),
        (
            Code::AlreadyExists,
            "ALREADY_EXISTS".into(),
            "a pipeline named `editable` already exists"
        )
    );
    let updated = client
        .pipelines()
        .update_pipeline(UpdatePipelineRequest {
            pipeline: Some(Pipeline {
                id: created.id.clone(),
                sizing: Some(Sizing {
                    method: Some(quote("200")),
                }),
                name: "ignored-without-mask".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["sizing".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("UpdatePipeline answers")
        .into_inner()
        .pipeline
        .expect("a pipeline");
    assert_eq!(updated.name, "editable");
    assert_eq!(
        updated.sizing,
        Some(Sizing {
            method: Some(quote("200"))
        })
    );

    client
        .pipelines()
        .pause_pipeline(PausePipelineRequest {
            id: "editable".into(),
            ..Default::default()
        })
        .await
        .expect("PausePipeline answers");
    let paused = run(&client, &created, "buy", "50000", "").await;
    assert_eq!(paused.skip_reason, "paused");
    let listed = client
        .pipelines()
        .list_pipelines(ListPipelinesRequest {
            state: PipelineState::Paused as i32,
            ..Default::default()
        })
        .await
        .expect("ListPipelines answers")
        .into_inner()
        .pipelines;
    assert_eq!(listed.len(), 1);
    client
        .pipelines()
        .delete_pipeline(DeletePipelineRequest {
            id: created.id.clone(),
            ..Default::default()
        })
        .await
        .expect("DeletePipeline answers");
    let gone = client
        .pipelines()
        .get_pipeline(GetPipelineRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    let audit = audit_events(&client, "pipeline.").await;
    let actions: Vec<_> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "pipeline.create",
            "pipeline.update",
            "pipeline.pause",
            "pipeline.run",
            "pipeline.delete"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_scheduled_pipeline_fires_with_the_latest_price() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // The paper exchange learns a price from an order's reference price.
    client
        .orders()
        .place_order(PlaceOrderRequest {
            symbol: "BTC/USDT".into(),
            side: Side::Buy as i32,
            r#type: OrderType::Market as i32,
            quantity: "0.001".into(),
            reference_price: "42000".into(),
            ..Default::default()
        })
        .await
        .expect("PlaceOrder answers");
    let scheduled = create(
        &client,
        Pipeline {
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Schedule(Schedule {
                    spec: Some(schedule::Spec::Interval(prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    })),
                    symbol: "BTC/USDT".into(),
                    action: "buy".into(),
                })),
            }),
            ..pipeline("every-second", quote("100"))
        },
    )
    .await;
    let fired = eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let filter = ExecutionFilter {
                pipeline_id: scheduled.id.clone(),
                ..Default::default()
            };
            executions(&client, filter)
                .await
                .pop()
                .ok_or_else(|| "the schedule never fired".to_string())
        },
    )
    .await;
    let execution = finished(&client, &fired.id).await;
    assert_eq!(
        status(&execution),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    assert_eq!(execution.steps[0].detail, "schedule fired");
    let placed = get_order(&client, &execution.order_ids[0]).await;
    assert_eq!(placed.reference_price, "42000");
    server.stop().await;
}

/// The acknowledged signal's execution survives a SIGKILL before any
/// worker ran it; after a restart it runs once and orders once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_queued_before_a_crash_runs_once_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let start = |workers: &'static str| {
        let data_dir = data_dir.clone();
        async move {
            let env = [
                ("TRADEPLANE_PIPELINES__WORKERS", workers),
                ("TRADEPLANE_WEBHOOK_PASSPHRASE", PASSPHRASE),
            ];
            serve_async(&data_dir, &env).await
        }
    };
    // This node only ingests: executions queue up.
    let ingest = start("0").await;
    let client = Client::connect(&ingest.grpc, Some(&ingest.api_key))
        .await
        .expect("client");
    create(&client, pipeline("after-crash", quote("100"))).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    webhook_accepts(
        &ingest.webhook_url(),
        &json!({"passphrase": PASSPHRASE, "ticker": "BTCUSDT", "action": "buy", "price": "50000"}),
        &[("traceparent", &traceparent)],
    )
    .await;
    ingest.kill();

    let node = start("2").await;
    let client = Client::connect(&node.grpc, Some(&node.api_key))
        .await
        .expect("client");
    let execution = eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let executions = executions(&client, ExecutionFilter::default()).await;
            assert_eq!(executions.len(), 1, "exactly the one execution");
            if executions[0].status == ExecutionStatus::Succeeded as i32 {
                Ok(executions[0].clone())
            } else {
                Err(format!("never ran: {:?}", executions[0]))
            }
        },
    )
    .await;
    let orders = client
        .orders()
        .list_orders(ListOrdersRequest::default())
        .await
        .expect("ListOrders answers")
        .into_inner()
        .orders;
    assert_eq!(orders.len(), 1, "one order for one execution");
    assert_eq!(orders[0].execution_id, execution.id);
    let placed = audit_events(&client, "order.place").await;
    assert_eq!(
        (placed[0].actor.as_str(), placed[0].trace_id.as_str()),
        ("pipeline:after-crash", trace_id),
        "the execution continued the webhook's trace across the restart"
    );
    node.kill();
}

/// Positions and paper balances come back after a SIGKILL from the ledger
/// saved with each fill (start-up reads only open orders): an exit after
/// the restart closes exactly what was bought before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_and_balances_survive_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let node = serve_async(&data_dir, &[]).await;
    let client = Client::connect(&node.grpc, Some(&node.api_key))
        .await
        .expect("client");
    let held = create(&client, pipeline("held", quote("100"))).await;
    let bought = run(&client, &held, "buy", "50000", "").await;
    let entry = get_order(&client, &bought.order_ids[0]).await;
    assert_eq!(entry.pipeline_id, held.id, "the order names its pipeline");
    let balances = |client: Client| async move {
        client
            .orders()
            .get_balances(GetBalancesRequest {
                exchange: "paper".into(),
                ..Default::default()
            })
            .await
            .expect("GetBalances answers")
            .into_inner()
            .balances
    };
    let before = balances(client.clone()).await;
    node.kill();

    let node = serve_async(&data_dir, &[]).await;
    let client = Client::connect(&node.grpc, Some(&node.api_key))
        .await
        .expect("client");
    assert_eq!(
        balances(client.clone()).await,
        before,
        "the paper balances after the crash"
    );
    let exit = run(&client, &held, "exit", "50000", "").await;
    let closing = get_order(&client, &exit.order_ids[0]).await;
    assert_eq!(
        (closing.side, closing.quantity.as_str()),
        (Side::Sell as i32, entry.filled_quantity.as_str()),
        "the exit sells the position bought before the crash"
    );
    let nothing = run(&client, &held, "exit", "50000", "").await;
    assert_eq!(nothing.skip_reason, "no_position");
    node.kill();
}

#[tokio::test]
async fn the_examples_load_and_tpctl_drives_a_pipeline() {
    let server = TestServer::start().await;
    for example in [
        "ema-cross.yaml",
        "dca-weekdays.yaml",
        "target-position.json",
        "bracket-ladder.yaml",
        "trailing-stop.yaml",
        "perp-futures.yaml",
    ] {
        let path = format!("examples/{example}");
        let created = server
            .tpctl(&["pipeline", "create", "-f", &path, "-o", "json"])
            .await;
        let created: serde_json::Value = serde_json::from_str(&created).expect("json");
        assert_eq!(created["state"], "enabled", "{example}: {created}");
    }
    let listed = server.tpctl(&["pipeline", "list"]).await;
    assert!(
        listed.contains("ema-cross") && listed.contains("cron `0 9 * * MON-FRI`"),
        "{listed}"
    );

    webhook_accepts(
        &server.webhook_url(),
        &json!({"passphrase": PASSPHRASE, "ticker": "BTCUSDT", "action": "buy", "price": "50000"}),
        &[],
    )
    .await;
    let execution = eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let out = server
                .tpctl(&["pipeline", "executions", "-o", "json"])
                .await;
            let out: serde_json::Value = serde_json::from_str(&out).expect("json");
            let first = out["executions"][0].clone();
            if first["status"] == "succeeded" {
                Ok(first)
            } else {
                Err(out.to_string())
            }
        },
    )
    .await;
    assert_eq!(execution["pipeline"], "ema-cross");
    let ids = execution["order_ids"].as_array().expect("orders");
    assert_eq!(ids.len(), 3, "the entry, its stop-loss and its take-profit");
    let shown = server
        .tpctl(&[
            "pipeline",
            "execution",
            execution["id"].as_str().expect("id"),
        ])
        .await;
    assert!(
        shown.contains("sizing") && shown.contains("risk") && shown.contains("protect"),
        "{shown}"
    );
    // `-o json` gives the whole pipeline, its risk and order settings too.
    let whole = server
        .tpctl(&["pipeline", "get", "ema-cross", "-o", "json"])
        .await;
    let whole: serde_json::Value = serde_json::from_str(&whole).expect("json");
    assert_eq!(whole["risk"]["max_position"], "0.5", "{whole}");
    assert_eq!(whole["risk"]["cooldown_seconds"], 60, "{whole}");
    assert_eq!(whole["order"]["stop_loss"]["offset_bps"], "200", "{whole}");
    assert_eq!(
        whole["order"]["take_profit"]["offset_bps"], "400",
        "{whole}"
    );

    let paused = server
        .tpctl(&["pipeline", "pause", "ema-cross", "-o", "json"])
        .await;
    assert!(paused.contains("\"state\":\"paused\""), "{paused}");
    std::fs::write(
        server.data_dir.path().join("bigger.yaml"),
        "sizing: { quote_amount: 2000 }\n",
    )
    .expect("write");
    let bigger = server.data_dir.path().join("bigger.yaml");
    let updated = server
        .tpctl(&[
            "pipeline",
            "update",
            "ema-cross",
            "-f",
            bigger.to_str().expect("path"),
            "-o",
            "json",
        ])
        .await;
    assert!(
        updated.contains("quote 2000") && updated.contains("paused"),
        "only sizing changed: {updated}"
    );
    server.stop().await;
}

/// Starts a manual run and returns its execution without waiting.
async fn start_run(client: &Client, pipeline: &Pipeline) -> Execution {
    client
        .pipelines()
        .run_pipeline(RunPipelineRequest {
            id: pipeline.id.clone(),
            symbol: "BTC/USDT".into(),
            action: "buy".into(),
            price: "50000".into(),
            ..Default::default()
        })
        .await
        .expect("RunPipeline answers")
        .into_inner()
        .execution
        .expect("an execution")
}

/// A slow exchange keeps the first execution running while a second
/// trigger arrives: `skip_if_running` skips it, `queue` runs it after.
#[tokio::test]
async fn a_trigger_while_running_is_skipped_or_queued_as_the_pipeline_says() {
    let mock = MockBinance::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.exchanges.binance.request_timeout = Duration::from_secs(5);
    })
    .await;
    let client = server.client().await;
    let on_binance = |name: &str, policy: ConcurrencyPolicy| Pipeline {
        exchange: "binance".into(),
        concurrency: policy as i32,
        ..pipeline(name, sizing::Method::FixedQuantity("0.001".into()))
    };

    let skipping = create(
        &client,
        on_binance("skipping", ConcurrencyPolicy::SkipIfRunning),
    )
    .await;
    mock.fail_next(Route::PlaceOrder, Fault::SlowAnswer(Duration::from_secs(2)));
    let first = start_run(&client, &skipping).await;
    mock.wait_for_orders(1, Duration::from_secs(10)).await;
    let second = finished(&client, &start_run(&client, &skipping).await.id).await;
    assert_eq!(
        (status(&second), second.skip_reason.as_str()),
        (ExecutionStatus::Skipped, "already_running")
    );
    assert_eq!(
        status(&finished(&client, &first.id).await),
        ExecutionStatus::Succeeded
    );

    let queueing = create(&client, on_binance("queueing", ConcurrencyPolicy::Queue)).await;
    mock.fail_next(Route::PlaceOrder, Fault::SlowAnswer(Duration::from_secs(2)));
    let first = start_run(&client, &queueing).await;
    mock.wait_for_orders(2, Duration::from_secs(10)).await;
    let second = finished(&client, &start_run(&client, &queueing).await.id).await;
    let first = finished(&client, &first.id).await;
    assert_eq!(status(&first), ExecutionStatus::Succeeded);
    assert_eq!(
        status(&second),
        ExecutionStatus::Succeeded,
        "queued, then run"
    );
    let ms = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
            .unwrap_or_default()
    };
    assert!(
        ms(&second.start_time) >= ms(&first.end_time),
        "the second started only after the first ended"
    );
    assert_eq!(mock.orders().len(), 3, "one order per execution that ran");
    server.stop().await;
}

/// A worker that dies after placing the order but before saving the
/// execution leaves it RUNNING with a lease that runs out. Another worker
/// resumes it, and the order desk hands back the order it already placed.
#[tokio::test]
async fn a_resumed_execution_finds_its_order_instead_of_placing_another() {
    let server = TestServer::start_with(|config| {
        config.pipelines.lease = Duration::from_secs(1);
    })
    .await;
    let client = server.client().await;
    // The cooldown would refuse a second order: a resumed execution must
    // not run its checks again against its own fill.
    let created = create(
        &client,
        Pipeline {
            risk: Some(RiskRules {
                cooldown: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..pipeline("resumable", quote("100"))
        },
    )
    .await;
    let done = run(&client, &created, "buy", "50000", "").await;
    assert_eq!(status(&done), ExecutionStatus::Succeeded);
    let order_id = done.order_ids[0].clone();

    // The state a crash right after the order would have left behind.
    let mut interrupted = done.clone();
    interrupted.status = ExecutionStatus::Running as i32;
    interrupted.steps.truncate(1);
    interrupted.order_ids.clear();
    interrupted.end_time = None;
    let interrupted = tradeplane_server::model::execution::Execution::try_from(interrupted)
        .expect("an execution the domain can hold");
    server
        .store()
        .update_execution(&interrupted, Vec::new())
        .await
        .expect("saved");

    let resumed = finished(&client, &done.id).await;
    assert_eq!(status(&resumed), ExecutionStatus::Succeeded, "{resumed:?}");
    assert_eq!(resumed.attempt, 2, "resumed, not started over");
    assert_eq!(resumed.order_ids, [order_id], "the same order");
    let order_step = resumed
        .steps
        .iter()
        .find(|s| s.name == "order")
        .expect("order step");
    assert!(
        order_step.detail.contains("placed before the restart"),
        "{order_step:?}"
    );
    let orders = client
        .orders()
        .list_orders(ListOrdersRequest::default())
        .await
        .expect("ListOrders answers")
        .into_inner()
        .orders;
    assert_eq!(orders.len(), 1, "never a second order");
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_create_answers_the_first_pipeline_even_at_the_cap() {
    let server = TestServer::start_with(|c| c.pipelines.max_pipelines = 2).await;
    let client = server.client().await;
    let create_with = |request_id: &str, name: &str| {
        let request = CreatePipelineRequest {
            request_id: request_id.into(),
            pipeline: Some(pipeline(name, quote("100"))),
        };
        let mut pipelines = client.pipelines();
        async move { pipelines.create_pipeline(request).await }
    };
    let mut created = Vec::new();
    for n in 0..2 {
        let first = create_with(&format!("create-{n}"), &format!("capped-{n}"))
            .await
            .expect("CreatePipeline answers")
            .into_inner()
            .pipeline
            .expect("a pipeline");
        created.push(first);
    }

    let replayed = create_with("create-0", "capped-0")
        .await
        .expect("a replay at the cap answers the first pipeline")
        .into_inner()
        .pipeline
        .expect("a pipeline");
    assert_eq!(replayed, created[0]);

    let refused = create_with("create-2", "capped-2")
        .await
        .expect_err("a new pipeline past the cap is refused");
    assert_eq!(
        (refused.code(), error_reason(&refused)),
        (Code::FailedPrecondition, "TOO_MANY_PIPELINES".into())
    );
    let listed = client
        .pipelines()
        .list_pipelines(ListPipelinesRequest::default())
        .await
        .expect("ListPipelines answers")
        .into_inner()
        .pipelines;
    let mut names: Vec<_> = listed.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["capped-0", "capped-1"],
        "the refused one left no trace"
    );
    server.stop().await;
}

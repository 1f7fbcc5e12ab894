//! Alert fields that shape one trade, end to end: TradingView bodies
//! posted to the real webhook, traded by a pipeline on the paper exchange
//! (spot). Exit by percent closes that share of the position, rounded
//! down to the lot; a percent outside (0, 100] is refused naming it.
//! Overrides (contracts, order_type, limit_price, stop_loss, take_profit)
//! replace the pipeline's order within its risk rules, unless the pipeline
//! forbids them; a bad one is refused naming it.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, all_orders_of, any_signal_pipeline, bad_request_field, bracketed,
    create_pipeline, dec, deliver, eventually, market_at, order_reaches, orders_of, paper_btc,
    post_webhook, refused, role, submit,
};

/// A pipeline buying a fixed 0.00333 BTC a buy alert, without a bracket.
fn fixed(name: &str) -> Pipeline {
    Pipeline {
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuantity("0.00333".into())),
        }),
        ..any_signal_pipeline(name)
    }
}

/// An alert naming `action`, with `percent` when not empty.
fn alert(action: &str, percent: &str) -> Value {
    let mut body = json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": action,
        "price": "50000",
        "time": chrono::Utc::now().to_rfc3339(),
    });
    if !percent.is_empty() {
        body["percent"] = json!(percent);
    }
    body
}

/// The side and quantity of each of the execution's orders.
async fn trades(client: &Client, execution: &Execution) -> Vec<(Side, Decimal)> {
    orders_of(client, execution)
        .await
        .iter()
        .map(|order| {
            (
                Side::try_from(order.side).expect("a known side"),
                dec(&order.quantity),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_exit_by_percent_closes_that_share_rounded_down_to_the_lot() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, fixed("percent")).await;
    let start = paper_btc(&client).await;
    deliver(&server, &client, &alert("buy", "")).await;
    assert_eq!(paper_btc(&client).await - start, dec("0.00333"));

    // 50 % of 0.00333 is 0.001665: rounded down to the paper lot of
    // 0.00001, 0.00166 is sold and 0.00167 stays.
    let half = deliver(&server, &client, &alert("exit", "50")).await;
    assert_eq!(trades(&client, &half).await, [(Side::Sell, dec("0.00166"))]);
    assert_eq!(paper_btc(&client).await - start, dec("0.00167"));

    // close_long takes a percent too: 100 % closes what is left.
    let rest = deliver(&server, &client, &alert("close_long", "100")).await;
    assert_eq!(trades(&client, &rest).await, [(Side::Sell, dec("0.00167"))]);
    assert_eq!(paper_btc(&client).await, start);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_percent_is_refused_naming_it_and_a_good_one_is_recorded() {
    let server = TestServer::start().await;
    for body in [
        alert("exit", "0"),
        alert("close_short", "150"),
        alert("exit", "-10"),
        alert("buy", "50"),
    ] {
        let reply = refused(&server, &body).await;
        let error = &reply["error"];
        assert_eq!(
            error["field_violations"][0]["field"], "percent",
            "{body}: {reply}"
        );
        assert_eq!(error["reason"], "BAD_PERCENT", "{body}: {reply}");
    }
    // Over gRPC the field is `exit_percent`, and the recorded signal keeps it.
    let client = server.client().await;
    let accepted = submit(
        &client,
        SubmitSignalRequest {
            symbol: "BTCUSDT".into(),
            action: "close_short".into(),
            exit_percent: "25".into(),
            ..Default::default()
        },
    )
    .await;
    let signal = accepted.signal.expect("the recorded signal");
    assert_eq!(signal.exit_percent, "25");
    server.stop().await;
}

/// An alert naming `action` at 50000 with the override `fields` added.
fn with(action: &str, fields: Value) -> Value {
    let mut body = alert(action, "");
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    body
}

/// `with`, from the source the bracketed pipelines listen to.
fn strategy(action: &str, fields: Value) -> Value {
    let mut body = with(action, fields);
    body["source"] = json!("strategy");
    body
}

/// The open stop and take-profit legs of `entry`'s bracket, once both
/// rest: (stop price, target price, quantity of each).
async fn bracket_of(
    client: &Client,
    execution_id: &str,
    entry: &Order,
) -> Vec<(OrderRole, Decimal, Decimal)> {
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || async {
            let mut legs: Vec<(OrderRole, Decimal, Decimal)> = all_orders_of(client, execution_id)
                .await
                .iter()
                .filter(|o| o.bracket_id == entry.id && o.id != entry.id)
                .filter(|o| o.status == OrderStatus::Submitted as i32)
                .map(|o| {
                    let price = if role(o) == OrderRole::StopLoss {
                        &o.stop_price
                    } else {
                        &o.price
                    };
                    (role(o), dec(price), dec(&o.quantity))
                })
                .collect();
            legs.sort_by_key(|(role, _, _)| *role as i32);
            if legs.len() == 2 {
                Ok(legs)
            } else {
                Err(format!("no whole bracket resting yet: {legs:?}"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_stop_and_target_override_replace_the_pipelines_bracket() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // The pipeline's own bracket: a stop 2 % under the fill and two
    // targets, +2 % and +4 %, for half the position each.
    create_pipeline(
        &client,
        bracketed("levels", &[("200", "50"), ("400", "50")]),
    )
    .await;
    let execution = deliver(
        &server,
        &client,
        &strategy("buy", json!({"stop_loss": "48500", "take_profit": "52500"})),
    )
    .await;
    let orders = orders_of(&client, &execution).await;
    let entry = orders.first().expect("the entry");
    assert_eq!(entry.status, OrderStatus::Filled as i32, "{execution:?}");
    // Worked by hand: 1000 USDT / 50000 = 0.02 BTC. The pipeline would
    // place a stop 2 % under the fill (about 49000) and targets 2 % and 4 %
    // over it (about 51000 and 52000) for 0.01 each; the alert's stop is
    // 48500 and its one target 52500, for all 0.02.
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"));
    assert_eq!(
        bracket_of(&client, &execution.id, entry).await,
        [
            (OrderRole::StopLoss, dec("48500"), dec("0.02")),
            (OrderRole::TakeProfit, dec("52500"), dec("0.02")),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_limit_override_rests_at_its_price_and_its_late_fill_gets_the_alerts_bracket() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, bracketed("limit", &[("400", "100")])).await;
    let execution = deliver(
        &server,
        &client,
        &strategy(
            "buy",
            json!({"order_type": "limit", "limit_price": "49500", "stop_loss": "48000", "take_profit": "53000"}),
        ),
    )
    .await;
    let [entry] = orders_of(&client, &execution)
        .await
        .try_into()
        .expect("one order: the entry rests");
    assert_eq!(entry.r#type, OrderType::Limit as i32);
    assert_eq!(dec(&entry.price), dec("49500"));
    assert_eq!(entry.status, OrderStatus::Submitted as i32, "it rests");

    // The market falls through the limit: it fills at 49500 after its
    // execution ended, and the late bracket is the alert's, not the
    // pipeline's (48510 and 51480).
    market_at(&client, "49400").await;
    let entry = order_reaches(&client, &entry.id, OrderStatus::Filled).await;
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"));
    assert_eq!(
        bracket_of(&client, &execution.id, &entry).await,
        [
            (OrderRole::StopLoss, dec("48000"), dec("0.02")),
            (OrderRole::TakeProfit, dec("53000"), dec("0.02")),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_alert_quantity_is_traded_over_the_pipelines_sizing() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, fixed("quantity")).await;
    let start = paper_btc(&client).await;
    let bought = deliver(
        &server,
        &client,
        &with("buy", json!({"contracts": "0.0123"})),
    )
    .await;
    assert_eq!(trades(&client, &bought).await, [(Side::Buy, dec("0.0123"))]);
    assert_eq!(paper_btc(&client).await - start, dec("0.0123"));
    // Without contracts the pipeline's 0.00333 is bought.
    let plain = deliver(&server, &client, &with("buy", json!({}))).await;
    assert_eq!(trades(&client, &plain).await, [(Side::Buy, dec("0.00333"))]);
    server.stop().await;
}

#[tokio::test]
async fn an_alert_quantity_stays_within_the_pipelines_risk_rules() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let limited = Pipeline {
        risk: Some(RiskRules {
            max_order_notional: "1000".into(),
            ..Default::default()
        }),
        ..fixed("limited")
    };
    create_pipeline(&client, limited).await;
    // 0.05 × 50000 = 2500 USDT, over the 1000 the pipeline allows.
    let refused = deliver(&server, &client, &with("buy", json!({"contracts": "0.05"}))).await;
    assert_eq!(
        refused.status,
        ExecutionStatus::Skipped as i32,
        "{refused:?}"
    );
    assert_eq!(refused.skip_reason, "risk_rejected");
    assert!(
        refused.error.starts_with("max_order_notional"),
        "{}",
        refused.error
    );
    assert!(refused.order_ids.is_empty());
    // 0.01 × 50000 = 500 is within it.
    let within = deliver(&server, &client, &with("buy", json!({"contracts": "0.01"}))).await;
    assert_eq!(trades(&client, &within).await, [(Side::Buy, dec("0.01"))]);
    server.stop().await;
}

#[tokio::test]
async fn a_pipeline_that_forbids_overrides_skips_naming_the_fields() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let strict = Pipeline {
        forbid_overrides: true,
        ..fixed("strict")
    };
    create_pipeline(&client, strict).await;
    let start = paper_btc(&client).await;
    let skipped = deliver(
        &server,
        &client,
        &with(
            "buy",
            json!({"contracts": "0.01", "order_type": "market", "stop_loss": "49000"}),
        ),
    )
    .await;
    assert_eq!(
        skipped.status,
        ExecutionStatus::Skipped as i32,
        "{skipped:?}"
    );
    assert_eq!(skipped.skip_reason, "overrides_forbidden");
    assert!(
        skipped
            .error
            .ends_with("the alert sets quantity, order_type, stop_loss"),
        "{}",
        skipped.error
    );
    assert!(skipped.order_ids.is_empty());
    assert_eq!(paper_btc(&client).await, start);
    // A plain alert trades the pipeline's own order.
    let plain = deliver(&server, &client, &with("buy", json!({}))).await;
    assert_eq!(trades(&client, &plain).await, [(Side::Buy, dec("0.00333"))]);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_override_is_refused_naming_it_and_a_good_one_is_recorded() {
    let server = TestServer::start().await;
    for (body, field, reason) in [
        (
            with("buy", json!({"order_type": "limit"})),
            "limit_price",
            "MISSING_FIELD",
        ),
        (
            with("buy", json!({"limit_price": "49000"})),
            "limit_price",
            "BAD_OVERRIDE",
        ),
        (
            with("buy", json!({"order_type": "stop", "limit_price": "49000"})),
            "order_type",
            "BAD_OVERRIDE",
        ),
        (
            with("buy", json!({"stop_loss": "51000"})),
            "stop_loss",
            "BAD_OVERRIDE",
        ),
        (
            with("sell", json!({"take_profit": "51000"})),
            "take_profit",
            "BAD_OVERRIDE",
        ),
        (
            with("buy", json!({"take_profit": "-5"})),
            "take_profit",
            "NON_POSITIVE_PRICE",
        ),
    ] {
        let reply = refused(&server, &body).await;
        let error = &reply["error"];
        assert_eq!(
            error["field_violations"][0]["field"], field,
            "{body}: {reply}"
        );
        assert_eq!(error["reason"], reason, "{body}: {reply}");
    }
    // One template serves entries and exits: an exit carrying the entry's
    // stop is taken, its overrides ignored.
    let exit = with("exit", json!({"stop_loss": "49000", "order_type": "limit"}));
    let reply = post_webhook(&server.webhook_url(), exit.to_string(), &[]).await;
    assert_eq!(
        reply.status(),
        202,
        "an exit is never refused for its overrides"
    );
    // Over gRPC the fields are under `overrides`, and the recorded signal
    // keeps them.
    let client = server.client().await;
    let request = |overrides: AlertOverrides| SubmitSignalRequest {
        symbol: "BTCUSDT".into(),
        action: "buy".into(),
        price: "50000".into(),
        overrides: Some(overrides),
        ..Default::default()
    };
    let status = client
        .signals()
        .submit_signal(request(AlertOverrides {
            order_type: OrderType::Limit as i32,
            limit_price: "0".into(),
            ..Default::default()
        }))
        .await
        .expect_err("a limit price of 0 is refused");
    assert_eq!(bad_request_field(&status), "overrides.limit_price");
    let accepted = submit(
        &client,
        request(AlertOverrides {
            order_type: OrderType::Limit as i32,
            limit_price: "49500".into(),
            stop_loss: "49000".into(),
            take_profit: String::new(),
        }),
    )
    .await;
    let overrides = accepted
        .signal
        .and_then(|s| s.overrides)
        .expect("the recorded overrides");
    assert_eq!(
        (
            overrides.order_type,
            overrides.limit_price.as_str(),
            overrides.stop_loss.as_str()
        ),
        (OrderType::Limit as i32, "49500", "49000")
    );
    // tpctl sends them with flags and shows them.
    let shown = server
        .tpctl(&[
            "signal",
            "submit",
            "--symbol",
            "BTCUSDT",
            "--action",
            "sell",
            "--price",
            "50000",
            "--take-profit",
            "48000",
            "--order-type",
            "market",
            "-o",
            "json",
        ])
        .await;
    let shown: Value = serde_json::from_str(&shown).expect("JSON");
    assert_eq!(shown["outcome"], "accepted", "{shown}");
    assert_eq!(
        shown["signal"]["overrides"],
        json!({"order_type": "market", "limit_price": "", "stop_loss": "", "take_profit": "48000"})
    );
    server.stop().await;
}

#[tokio::test]
async fn an_approved_entry_gets_the_alerts_bracket() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let held = Pipeline {
        approval: Some(ApprovalPolicy {
            required: true,
            expiry: None,
        }),
        ..bracketed("held", &[("400", "100")])
    };
    let pipeline = create_pipeline(&client, held).await;
    let waiting = deliver(
        &server,
        &client,
        &strategy("buy", json!({"stop_loss": "48000", "take_profit": "53000"})),
    )
    .await;
    assert_eq!(
        waiting.status,
        ExecutionStatus::AwaitingApproval as i32,
        "{waiting:?}"
    );
    let approvals = client
        .pipelines()
        .list_approvals(ListApprovalsRequest {
            pipeline_id: pipeline.id.clone(),
            ..Default::default()
        })
        .await
        .expect("ListApprovals answers")
        .into_inner()
        .approvals;
    let [approval] = approvals.try_into().expect("one approval");
    let approved = client
        .pipelines()
        .approve_order(ApproveOrderRequest { id: approval.id })
        .await
        .expect("ApproveOrder answers")
        .into_inner()
        .execution
        .expect("the execution");
    let orders = orders_of(&client, &approved).await;
    let entry = orders.first().expect("the entry");
    // 1000 / 50000 = 0.02 BTC; the pipeline's stop and target would sit
    // 2 % and 4 % from the fill, about 49000 and 52000.
    assert_eq!(
        bracket_of(&client, &approved.id, entry).await,
        [
            (OrderRole::StopLoss, dec("48000"), dec("0.02")),
            (OrderRole::TakeProfit, dec("53000"), dec("0.02")),
        ]
    );
    server.stop().await;
}

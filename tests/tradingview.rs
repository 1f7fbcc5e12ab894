//! TradingView strategy alerts end to end: the exact bodies a Pine
//! strategy's alert sends (placeholders filled in) posted to the real
//! webhook, traded by a pipeline with a bracket on the paper exchange
//! (spot). Each new action, a whole strategy cycle (through the README's
//! own `examples/ema-cross.yaml`), and the refusals.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, all_orders_of, any_signal_pipeline, audit_events, bad_request_field,
    create_pipeline, dec, deliver, error_reason, get_order, list_signals, paper_btc, refused,
    resting_orders, submit, template_alert,
};

/// A pipeline for TradingView alerts buying 1000 USDT of BTC a run when
/// an alert states no position, with a stop 2 % under the fill and a
/// take-profit 4 % over it.
fn bracketed(name: &str) -> Pipeline {
    let level = |bps: &str| ProtectiveOrder {
        level: Some(protective_order::Level::OffsetBps(bps.into())),
    };
    Pipeline {
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                source: "tradingview".into(),
                ..Default::default()
            })),
        }),
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuoteAmount("1000".into())),
        }),
        order: Some(OrderSettings {
            stop_loss: Some(level("200")),
            take_profits: vec![TakeProfitLevel {
                level: Some(level("400")),
                percent: "100".into(),
            }],
            ..Default::default()
        }),
        ..any_signal_pipeline(name)
    }
}

/// `examples/ema-cross.yaml`, the pipeline the README loads, with its
/// one-minute cooldown lifted (these tests are faster than a minute).
fn readme_example() -> Pipeline {
    let mut pipeline = tradeplane_e2e::example_pipeline("ema-cross.yaml");
    if let Some(risk) = pipeline.risk.as_mut() {
        risk.cooldown = None;
    }
    pipeline
}

/// The README's template as TradingView fills it in for BTCUSDT at 50000.
fn strategy_alert(action: &str, contracts: &str, market_position: &str, size: &str) -> Value {
    template_alert(
        ("BTCUSDT", "50000"),
        action,
        contracts,
        market_position,
        size,
    )
}

/// A plain alert naming an action (no strategy placeholders).
fn alert(action: &str) -> Value {
    json!({
        "passphrase": PASSPHRASE,
        "ticker": "BTCUSDT",
        "action": action,
        "price": "50000",
        "time": chrono::Utc::now().to_rfc3339(),
    })
}

/// The execution's status and skip reason.
fn ended(execution: &Execution) -> (ExecutionStatus, &str) {
    let status = ExecutionStatus::try_from(execution.status).expect("a known status");
    (status, execution.skip_reason.as_str())
}

/// The execution's orders as (role, side, filled quantity, status).
async fn orders_of(client: &Client, execution: &Execution) -> Vec<(OrderRole, Side, Decimal)> {
    let mut orders = Vec::new();
    for id in &execution.order_ids {
        let order = get_order(client, id).await;
        orders.push((
            OrderRole::try_from(order.role).expect("a known role"),
            Side::try_from(order.side).expect("a known side"),
            dec(&order.quantity),
        ));
    }
    orders
}

/// The names of the execution's steps.
fn steps(execution: &Execution) -> Vec<&str> {
    execution.steps.iter().map(|s| s.name.as_str()).collect()
}

use ExecutionStatus::{Skipped, Succeeded};
use OrderRole::{Entry, Exit, StopLoss, TakeProfit};
use Side::{Buy, Sell};

/// Entry with its bracket: the entry, then the stop and the take-profit
/// for the same quantity, closing its side.
fn entry_with_bracket(side: Side, quantity: &str) -> Vec<(OrderRole, Side, Decimal)> {
    let closing = if side == Buy { Sell } else { Buy };
    vec![
        (Entry, side, dec(quantity)),
        (StopLoss, closing, dec(quantity)),
        (TakeProfit, closing, dec(quantity)),
    ]
}

#[tokio::test]
async fn a_whole_strategy_cycle_on_spot_ends_flat_with_nothing_resting() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, readme_example()).await;
    let start = paper_btc(&client).await;

    // Long entry: the strategy's size is followed, and bracketed.
    let long = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.03", "long", "0.03"),
    )
    .await;
    assert_eq!(ended(&long), (Succeeded, ""), "{long:?}");
    assert_eq!(
        orders_of(&client, &long).await,
        entry_with_bracket(Buy, "0.03")
    );
    assert_eq!(paper_btc(&client).await - start, dec("0.03"));

    // The long closed to flat arrives as sell + flat: an exit that
    // cancels the bracket first and gets no protection of its own.
    let flat = deliver(
        &server,
        &client,
        &strategy_alert("sell", "0.03", "flat", "0"),
    )
    .await;
    assert_eq!(ended(&flat), (Succeeded, ""), "{flat:?}");
    assert_eq!(steps(&flat), ["match", "cancel", "sizing", "risk", "order"]);
    assert_eq!(orders_of(&client, &flat).await, [(Exit, Sell, dec("0.03"))]);
    assert_eq!(paper_btc(&client).await, start);
    assert!(resting_orders(&client).await.is_empty());

    // A short entry: spot cannot short, and there is no long to close.
    let short = deliver(
        &server,
        &client,
        &strategy_alert("sell", "0.03", "short", "-0.03"),
    )
    .await;
    assert_eq!(ended(&short), (Skipped, "spot_cannot_short"), "{short:?}");
    assert!(short.order_ids.is_empty());

    // The short closed arrives as buy + flat: nothing to close here.
    let cover = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.03", "flat", "0"),
    )
    .await;
    assert_eq!(ended(&cover), (Skipped, "no_position"), "{cover:?}");
    assert_eq!(paper_btc(&client).await, start);

    // Long again, then a reversal long → short (sell + short with a size):
    // on spot it closes the long and opens nothing.
    let again = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.02", "long", "0.02"),
    )
    .await;
    assert_eq!(
        orders_of(&client, &again).await,
        entry_with_bracket(Buy, "0.02")
    );
    let reversal = deliver(
        &server,
        &client,
        &strategy_alert("sell", "0.04", "short", "-0.02"),
    )
    .await;
    assert_eq!(ended(&reversal), (Succeeded, ""), "{reversal:?}");
    assert_eq!(
        orders_of(&client, &reversal).await,
        [(Exit, Sell, dec("0.02"))],
        "only the long is sold, and it gets no bracket"
    );

    assert_eq!(
        paper_btc(&client).await,
        start,
        "the account holds what it held"
    );
    let left = resting_orders(&client).await;
    assert!(left.is_empty(), "nothing left resting: {left:#?}");

    // The stated position is kept with each signal.
    let signals = list_signals(&client, SignalFilter::default()).await;
    let exit = signals
        .iter()
        .find(|s| s.action == SignalAction::Exit as i32)
        .expect("the flat alerts were recorded as exits");
    assert_eq!(
        (exit.market_position, exit.position_size.as_str()),
        (MarketPosition::Flat as i32, "0")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_partial_exit_reduces_to_the_strategys_size() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, bracketed("partial")).await;
    let start = paper_btc(&client).await;
    deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.04", "long", "0.04"),
    )
    .await;

    // Pine's strategy.close(qty_percent = 50): sell, still long 0.02.
    let half = deliver(
        &server,
        &client,
        &strategy_alert("sell", "0.02", "long", "0.02"),
    )
    .await;
    assert_eq!(ended(&half), (Succeeded, ""), "{half:?}");
    assert_eq!(orders_of(&client, &half).await, [(Exit, Sell, dec("0.02"))]);
    assert_eq!(paper_btc(&client).await - start, dec("0.02"));
    server.stop().await;
}

#[tokio::test]
async fn each_new_action_trades_what_it_names() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_pipeline(&client, bracketed("actions")).await;
    let start = paper_btc(&client).await;
    let entry = deliver(&server, &client, &alert("buy")).await;
    assert_eq!(
        orders_of(&client, &entry).await,
        entry_with_bracket(Buy, "0.02")
    );

    // cancel: the bracket goes, the position stays, nothing is placed.
    let cancel = deliver(&server, &client, &alert("cancel")).await;
    assert_eq!(ended(&cancel), (Succeeded, ""), "{cancel:?}");
    assert_eq!(steps(&cancel), ["match", "cancel"]);
    for leg in &entry.order_ids[1..] {
        let leg = get_order(&client, leg).await;
        assert_eq!(leg.status, OrderStatus::Canceled as i32, "{leg:?}");
    }
    assert!(cancel.order_ids.is_empty());
    assert!(resting_orders(&client).await.is_empty());
    assert_eq!(paper_btc(&client).await - start, dec("0.02"));

    // add: more in the position's direction, bracketed for what it added.
    let add = deliver(&server, &client, &alert("add")).await;
    assert_eq!(ended(&add), (Succeeded, ""), "{add:?}");
    assert_eq!(
        orders_of(&client, &add).await,
        entry_with_bracket(Buy, "0.02")
    );
    assert_eq!(paper_btc(&client).await - start, dec("0.04"));

    // close_short touches nothing while the pipeline is long.
    let not_short = deliver(&server, &client, &alert("close_short")).await;
    assert_eq!(ended(&not_short), (Skipped, "nothing_to_trade"));
    assert_eq!(
        resting_orders(&client).await.len(),
        2,
        "the long's bracket stays"
    );

    // close_long: cancels the bracket, sells the whole long, unprotected.
    let close = deliver(&server, &client, &alert("close_long")).await;
    assert_eq!(ended(&close), (Succeeded, ""), "{close:?}");
    assert_eq!(
        orders_of(&client, &close).await,
        [(Exit, Sell, dec("0.04"))]
    );
    assert_eq!(paper_btc(&client).await, start);
    let again = deliver(&server, &client, &alert("close_long")).await;
    assert_eq!(ended(&again), (Skipped, "nothing_to_trade"));
    let flat_add = deliver(&server, &client, &alert("add")).await;
    assert_eq!(ended(&flat_add), (Skipped, "no_position"));

    // reverse on spot: the long is closed and no short is opened.
    deliver(&server, &client, &alert("buy")).await;
    let reverse = deliver(&server, &client, &alert("reverse")).await;
    assert_eq!(ended(&reverse), (Succeeded, ""), "{reverse:?}");
    assert_eq!(
        orders_of(&client, &reverse).await,
        [(Exit, Sell, dec("0.02"))]
    );
    assert_eq!(paper_btc(&client).await, start);

    // Pine's sentiment flat is an exit.
    deliver(&server, &client, &alert("buy")).await;
    let mut flat = alert("sell");
    flat["sentiment"] = json!("flat");
    let exit = deliver(&server, &client, &flat).await;
    assert_eq!(orders_of(&client, &exit).await, [(Exit, Sell, dec("0.02"))]);

    assert_eq!(paper_btc(&client).await, start);
    let left = resting_orders(&client).await;
    assert!(left.is_empty(), "nothing left resting: {left:#?}");
    server.stop().await;
}

#[tokio::test]
async fn contradictions_and_unknown_words_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    // The field as in the template, and the reason as gRPC's ErrorInfo.
    let violation = |reply: &Value| {
        let error = &reply["error"];
        (
            error["field_violations"][0]["field"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            error["reason"].as_str().unwrap_or_default().to_string(),
        )
    };
    let cases = [
        // Covered down to nothing, yet still short.
        (
            strategy_alert("buy", "0.02", "short", "0"),
            "position_size",
            "POSITION_MISMATCH",
        ),
        (
            strategy_alert("sell", "0.02", "flat", "0.02"),
            "position_size",
            "POSITION_MISMATCH",
        ),
        (
            strategy_alert("buy", "0.02", "long", "-0.02"),
            "position_size",
            "POSITION_MISMATCH",
        ),
        (
            strategy_alert("sideways", "0.02", "long", "0.02"),
            "action",
            "UNKNOWN_ACTION",
        ),
        (
            strategy_alert("buy", "0.02", "up", "0.02"),
            "market_position",
            "BAD_POSITION",
        ),
    ];
    for (body, field, reason) in cases {
        let reply = refused(&server, &body).await;
        assert_eq!(
            violation(&reply),
            (field.to_string(), reason.to_string()),
            "{body}"
        );
    }
    let mut exit_long = strategy_alert("buy", "0.02", "long", "0.02");
    exit_long["action"] = json!("exit");
    assert_eq!(
        violation(&refused(&server, &exit_long).await),
        (
            "market_position".to_string(),
            "POSITION_MISMATCH".to_string()
        )
    );
    let mut moody = alert("buy");
    moody["sentiment"] = json!("euphoric");
    assert_eq!(
        violation(&refused(&server, &moody).await),
        ("sentiment".to_string(), "BAD_POSITION".to_string())
    );
    // gRPC speaks the same rules: a flat strategy's sell is an exit, and a
    // contradiction names its field.
    let client = server.client().await;
    let grpc = |action: &str, size: &str| SubmitSignalRequest {
        symbol: "BTCUSDT".into(),
        action: action.into(),
        market_position: "flat".into(),
        position_size: size.into(),
        ..Default::default()
    };
    let exit = submit(&client, grpc("sell", "0"))
        .await
        .signal
        .expect("a signal");
    assert_eq!(
        (exit.action, exit.market_position),
        (SignalAction::Exit as i32, MarketPosition::Flat as i32)
    );
    let status = client
        .signals()
        .submit_signal(grpc("sell", "1"))
        .await
        .expect_err("a flat strategy holding 1 is refused");
    assert_eq!(
        (bad_request_field(&status), error_reason(&status)),
        ("position_size".to_string(), "POSITION_MISMATCH".to_string())
    );
    let mut torn = strategy_alert("sell", "0.02", "flat", "0");
    torn["sentiment"] = json!("long");
    assert_eq!(
        violation(&refused(&server, &torn).await),
        ("sentiment".to_string(), "POSITION_MISMATCH".to_string())
    );
    server.stop().await;
}

#[tokio::test]
async fn resync_sells_a_long_the_strategy_says_it_closed() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut pipeline = bracketed("resyncs");
    pipeline.drift_policy = DriftPolicy::Resync as i32;
    create_pipeline(&client, pipeline).await;
    let start = paper_btc(&client).await;
    let long = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.01", "long", "0.01"),
    )
    .await;
    assert_eq!(
        orders_of(&client, &long).await,
        entry_with_bracket(Buy, "0.01")
    );

    // The strategy's exit alert never arrived; its next alert says flat.
    let cancel = deliver(&server, &client, &strategy_alert("cancel", "", "flat", "0")).await;
    assert_eq!(ended(&cancel), (Succeeded, ""), "{cancel:?}");
    let sold: Vec<_> = all_orders_of(&client, &cancel.id)
        .await
        .into_iter()
        .filter(|o| o.role == Exit as i32)
        .collect();
    let [sold] = sold.as_slice() else {
        panic!("one exit, sold by the resync: {sold:#?}");
    };
    assert_eq!(
        (Side::try_from(sold.side), dec(&sold.filled_quantity)),
        (Ok(Sell), dec("0.01"))
    );
    assert_eq!(paper_btc(&client).await, start, "flat, as the strategy is");
    assert!(
        resting_orders(&client).await.is_empty(),
        "the bracket went first"
    );

    // The same alert again (a redelivery) sells nothing more.
    let again = deliver(&server, &client, &strategy_alert("cancel", "", "flat", "0")).await;
    assert!(all_orders_of(&client, &again.id).await.is_empty());
    assert_eq!(paper_btc(&client).await, start);
    server.stop().await;
}

#[tokio::test]
async fn a_book_that_disagrees_with_the_strategy_is_a_drift_that_refuses_entries() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut pipeline = bracketed("follows");
    pipeline.risk = Some(RiskRules {
        max_order_notional: "500".into(),
        ..Default::default()
    });
    pipeline.drift_policy = DriftPolicy::Refuse as i32;
    create_pipeline(&client, pipeline).await;
    // (The audit filter matches by prefix: `position.drift_resolved` too.)
    let drifts = || async {
        let mut events = audit_events(&client, "position.drift").await;
        events.retain(|e| e.action == "position.drift");
        events
    };

    // The strategy went long 0.02 (1000 USDT): the risk rule refuses it,
    // so the book stays flat while the strategy is long.
    let refused = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.02", "long", "0.02"),
    )
    .await;
    assert_eq!(ended(&refused), (ExecutionStatus::Skipped, "risk_rejected"));
    let started = drifts().await;
    let [drift] = started.as_slice() else {
        panic!("one drift: {started:#?}");
    };
    assert_eq!(drift.target, "follows");
    assert!(
        drift
            .detail
            .contains("alert: the strategy is long in BTC/USDT, the pipeline's book holds 0"),
        "{drift:?}"
    );

    // `refuse`: no new entry while it lasts.
    let blocked = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.005", "long", "0.005"),
    )
    .await;
    assert_eq!(
        ended(&blocked),
        (ExecutionStatus::Skipped, "position_drift")
    );

    // The strategy closes: flat agrees with the book, the drift ends and
    // entries trade again.
    deliver(
        &server,
        &client,
        &strategy_alert("sell", "0.005", "flat", "0"),
    )
    .await;
    let resolved = audit_events(&client, "position.drift_resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    let entry = deliver(
        &server,
        &client,
        &strategy_alert("buy", "0.005", "long", "0.005"),
    )
    .await;
    assert_eq!(ended(&entry), (ExecutionStatus::Succeeded, ""), "{entry:?}");
    assert_eq!(drifts().await.len(), 1, "no new drift");
    server.stop().await;
}

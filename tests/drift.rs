//! Position drift end to end on the paper exchange: an order outside the
//! pipelines sells BTC a pipeline's book holds, so the venue holds less
//! than the book. Every policy meters it, audits it (seen on
//! WatchAuditEvents) and, for `refuse`, blocks new entries until the venue
//! holds enough again, or, for `resync`, has the book adopt the venue.
//! Perpetuals, on paper and on Binance USDⓈ-M (its mock): the venue's
//! signed position changed outside the pipeline is a drift the same way,
//! and `resync` has the book adopt the venue's signed figure.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, conformance::VenueUnderTest, create_pipeline, dec, deliver, deliver_ok, eventually,
    example_pipeline, mock_binance_futures::MockBinanceFutures, orders_of, perpetual_alert,
    place_order, run_pipeline, strategy_pipeline,
};

/// A pipeline buying 1000 USDT of BTC a run (0.02 BTC at 50 000).
fn holding(name: &str, policy: DriftPolicy) -> Pipeline {
    Pipeline {
        drift_policy: policy as i32,
        ..strategy_pipeline(name, sizing::Method::FixedQuoteAmount("1000".into()))
    }
}

/// A server that reconciles positions every 100 ms.
async fn reconciling() -> TestServer {
    TestServer::start_with(|config| {
        config.pipelines.reconcile_every = Duration::from_millis(100);
    })
    .await
}

/// A market order on paper outside every pipeline.
async fn by_hand(client: &Client, side: Side, quantity: &str) {
    by_hand_in(client, "BTC/USDT", side, quantity).await;
}

/// A market order in `symbol` on paper outside every pipeline.
async fn by_hand_in(client: &Client, symbol: &str, side: Side, quantity: &str) {
    let order = place_order(
        client,
        PlaceOrderRequest {
            exchange: "paper".into(),
            symbol: symbol.into(),
            side: side as i32,
            r#type: OrderType::Market as i32,
            quantity: quantity.into(),
            reference_price: "50000".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(order.status, OrderStatus::Filled as i32, "{order:?}");
}

/// Waits for the next audit event on `watch`.
async fn next_event(watch: &mut tonic::Streaming<WatchAuditEventsResponse>) -> AuditEvent {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an audit event in time")
        .expect("the stream answers")
        .expect("an event")
        .event
        .expect("an event")
}

/// Waits until the drift gauge of `pipeline` from the venue reads `value`.
async fn gauge_reads(server: &TestServer, pipeline: &str, value: u8) {
    let line =
        format!("tradeplane_position_drift{{pipeline=\"{pipeline}\",source=\"venue\"}} {value}");
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let metrics = server.metrics().await;
            if metrics
                .lines()
                .any(|l| l.starts_with(&line) || strip_scope(l) == line)
            {
                Ok(())
            } else {
                Err(format!("no `{line}` in the metrics"))
            }
        },
    )
    .await
}

/// A metric line without the OpenTelemetry scope labels.
fn strip_scope(line: &str) -> String {
    let Some((name, rest)) = line.split_once('{') else {
        return line.to_string();
    };
    let Some((labels, value)) = rest.split_once('}') else {
        return line.to_string();
    };
    let kept: Vec<&str> = labels
        .split(',')
        .filter(|l| !l.starts_with("otel_"))
        .collect();
    format!("{name}{{{}}}{value}", kept.join(","))
}

/// Waits for the next audit event: the drift of `pipeline` starting,
/// with a detail that contains `detail`.
async fn drift_starts(
    watch: &mut tonic::Streaming<WatchAuditEventsResponse>,
    pipeline: &str,
    detail: &str,
) {
    let drift = next_event(watch).await;
    assert_eq!(
        (drift.action.as_str(), drift.target.as_str()),
        ("position.drift", pipeline)
    );
    assert!(drift.detail.contains(detail), "{drift:?}");
}

/// Waits for the drift, then, once the next pass found the same figures,
/// the resync of the book to `quantity` it answers, and the drift's end.
async fn resynced_to(watch: &mut tonic::Streaming<WatchAuditEventsResponse>, quantity: &str) {
    assert_eq!(next_event(watch).await.action, "position.drift");
    let resync = next_event(watch).await;
    assert_eq!(resync.action, "position.resync", "{resync:?}");
    assert!(
        resync.detail.contains(&format!("set to {quantity}")),
        "{resync:?}"
    );
    assert_eq!(next_event(watch).await.action, "position.drift_resolved");
}

async fn watch_positions(client: &Client) -> tonic::Streaming<WatchAuditEventsResponse> {
    client
        .security()
        .watch_audit_events(WatchAuditEventsRequest {
            filter: Some(AuditFilter {
                action: "position.".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("WatchAuditEvents answers")
        .into_inner()
}

#[tokio::test]
async fn a_drift_is_metered_and_audited_when_it_starts_and_ends() {
    let server = reconciling().await;
    let client = server.client().await;
    let mut watch = watch_positions(&client).await;
    let pipeline = create_pipeline(&client, holding("warned", DriftPolicy::Warn)).await;
    run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    gauge_reads(&server, "warned", 0).await;

    // 1 BTC to start + 0.02 bought - 1.01 sold by hand = 0.01 < 0.02.
    by_hand(&client, Side::Sell, "1.01").await;
    drift_starts(
        &mut watch,
        "warned",
        "holds 0.02 BTC on paper, the venue 0.01",
    )
    .await;
    gauge_reads(&server, "warned", 1).await;
    // `warn` trades on.
    let entry = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(entry.status, ExecutionStatus::Succeeded as i32, "{entry:?}");

    // The venue holds enough again: the drift ends.
    by_hand(&client, Side::Buy, "0.5").await;
    let resolved = next_event(&mut watch).await;
    assert_eq!(resolved.action, "position.drift_resolved", "{resolved:?}");
    gauge_reads(&server, "warned", 0).await;
    server.stop().await;
}

#[tokio::test]
async fn refuse_blocks_new_entries_until_the_drift_ends() {
    let server = reconciling().await;
    let client = server.client().await;
    let mut watch = watch_positions(&client).await;
    let pipeline = create_pipeline(&client, holding("refusing", DriftPolicy::Refuse)).await;
    run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    by_hand(&client, Side::Sell, "1.01").await;
    assert_eq!(next_event(&mut watch).await.action, "position.drift");

    let refused = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        refused.status,
        ExecutionStatus::Skipped as i32,
        "{refused:?}"
    );
    assert_eq!(refused.skip_reason, "position_drift");
    assert!(refused.error.contains("venue drift"), "{refused:?}");
    assert!(refused.order_ids.is_empty());

    by_hand(&client, Side::Buy, "0.5").await;
    assert_eq!(
        next_event(&mut watch).await.action,
        "position.drift_resolved"
    );
    let entry = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(entry.status, ExecutionStatus::Succeeded as i32, "{entry:?}");
    server.stop().await;
}

#[tokio::test]
async fn resync_has_the_book_adopt_what_the_venue_holds() {
    let server = reconciling().await;
    let client = server.client().await;
    let mut watch = watch_positions(&client).await;
    let pipeline = create_pipeline(&client, holding("resyncing", DriftPolicy::Resync)).await;
    run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    by_hand(&client, Side::Sell, "1.01").await;

    // Next pass: the book agrees with the venue.
    resynced_to(&mut watch, "0.01").await;

    // The exit sells what the book now holds: the venue's 0.01.
    let exit = run_pipeline(&client, &pipeline, "exit", "50000", "").await;
    assert_eq!(exit.status, ExecutionStatus::Succeeded as i32, "{exit:?}");
    let [close] = orders_of(&client, &exit)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(dec(&close.filled_quantity), dec("0.01"));
    server.stop().await;
}

/// `examples/perp-futures.yaml` (0.04 BTC a trade at 50,000) as `name` on
/// `exchange`, under `policy`.
fn perpetual(name: &str, exchange: &str, policy: DriftPolicy) -> Pipeline {
    Pipeline {
        name: name.into(),
        exchange: exchange.into(),
        drift_policy: policy as i32,
        ..example_pipeline("perp-futures.yaml")
    }
}

/// Delivers a `BTCUSDT.P` alert; the execution succeeds.
async fn alert(server: &TestServer, client: &Client, action: &str) -> Execution {
    deliver_ok(server, client, &perpetual_alert(action, "50000")).await
}

#[tokio::test]
async fn a_paper_perpetual_changed_outside_the_pipeline_is_refused_until_it_matches_again() {
    let server = reconciling().await;
    let client = server.client().await;
    let mut watch = watch_positions(&client).await;
    create_pipeline(
        &client,
        perpetual("perp-refusing", "paper", DriftPolicy::Refuse),
    )
    .await;
    alert(&server, &client, "buy").await;
    gauge_reads(&server, "perp-refusing", 0).await;

    // Someone sells 0.01 of the long on the venue: 0.03 there, 0.04 booked.
    by_hand_in(&client, "BTC/USDT:PERP", Side::Sell, "0.01").await;
    let detail = "holds 0.04 BTC/USDT:PERP on paper, the venue 0.03";
    drift_starts(&mut watch, "perp-refusing", detail).await;
    gauge_reads(&server, "perp-refusing", 1).await;
    let refused = deliver(&server, &client, &perpetual_alert("buy", "50000")).await;
    assert_eq!(refused.skip_reason, "position_drift", "{refused:?}");

    // More than the book on the venue is a drift too, until it matches.
    by_hand_in(&client, "BTC/USDT:PERP", Side::Buy, "0.02").await;
    by_hand_in(&client, "BTC/USDT:PERP", Side::Sell, "0.01").await;
    assert_eq!(
        next_event(&mut watch).await.action,
        "position.drift_resolved"
    );
    gauge_reads(&server, "perp-refusing", 0).await;
    alert(&server, &client, "buy").await;
    server.stop().await;
}

#[tokio::test]
async fn resync_has_a_paper_short_adopt_the_venues_signed_position() {
    let server = reconciling().await;
    let client = server.client().await;
    let mut watch = watch_positions(&client).await;
    create_pipeline(
        &client,
        perpetual("perp-resyncing", "paper", DriftPolicy::Resync),
    )
    .await;
    alert(&server, &client, "sell").await;
    // Someone buys back 0.01 of the short: -0.03 at the venue.
    by_hand_in(&client, "BTC/USDT:PERP", Side::Buy, "0.01").await;

    resynced_to(&mut watch, "-0.03").await;
    let exit = alert(&server, &client, "exit").await;
    let [close] = orders_of(&client, &exit)
        .await
        .try_into()
        .expect("one order");
    assert_eq!(close.side, Side::Buy as i32);
    assert_eq!(dec(&close.filled_quantity), dec("0.03"));
    server.stop().await;
}

/// The Binance USDⓈ-M mock, a server on it that reconciles every
/// 100 ms, its client watching position events, and `name` under
/// `policy` holding a 0.04 long there.
async fn long_on_binance_usdm(
    name: &str,
    policy: DriftPolicy,
) -> (
    MockBinanceFutures,
    TestServer,
    Client,
    tonic::Streaming<WatchAuditEventsResponse>,
) {
    let mock = MockBinanceFutures::start().await;
    let server = TestServer::start_with(|config| {
        mock.configure(config);
        config.pipelines.reconcile_every = Duration::from_millis(100);
    })
    .await;
    let client = server.client().await;
    let watch = watch_positions(&client).await;
    create_pipeline(&client, perpetual(name, "binance_usdm", policy)).await;
    alert(&server, &client, "buy").await;
    (mock, server, client, watch)
}

#[tokio::test]
async fn a_binance_usdm_position_changed_at_binance_is_a_drift_that_warns() {
    let (mock, server, _client, mut watch) =
        long_on_binance_usdm("usdm-warned", DriftPolicy::Warn).await;
    gauge_reads(&server, "usdm-warned", 0).await;

    mock.trade_outside("BTCUSDT", "SELL", dec("0.05"));
    let detail = "holds 0.04 BTC/USDT:PERP on binance_usdm, the venue -0.01";
    drift_starts(&mut watch, "usdm-warned", detail).await;
    gauge_reads(&server, "usdm-warned", 1).await;

    mock.trade_outside("BTCUSDT", "BUY", dec("0.05"));
    assert_eq!(
        next_event(&mut watch).await.action,
        "position.drift_resolved"
    );
    gauge_reads(&server, "usdm-warned", 0).await;
    server.stop().await;
}

#[tokio::test]
async fn resync_has_the_book_adopt_binances_signed_position() {
    let (mock, server, client, mut watch) =
        long_on_binance_usdm("usdm-resyncing", DriftPolicy::Resync).await;
    mock.trade_outside("BTCUSDT", "BUY", dec("0.02"));
    resynced_to(&mut watch, "0.06").await;
    alert(&server, &client, "exit").await;
    assert!(
        mock.position("BTCUSDT").amount.is_zero(),
        "the exit sold 0.06"
    );
    server.stop().await;
}

//! Position drift end to end on the paper exchange: an order outside the
//! pipelines sells BTC a pipeline's book holds, so the venue holds less
//! than the book. Every policy meters it, audits it (seen on
//! WatchAuditEvents) and, for `refuse`, blocks new entries until the venue
//! holds enough again, or, for `resync`, has the book adopt the venue.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    TestServer, create_pipeline, dec, eventually, orders_of, place_order, run_pipeline,
    strategy_pipeline,
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
    let order = place_order(
        client,
        PlaceOrderRequest {
            exchange: "paper".into(),
            symbol: "BTC/USDT".into(),
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
    let drift = next_event(&mut watch).await;
    assert_eq!(
        (drift.action.as_str(), drift.target.as_str()),
        ("position.drift", "warned")
    );
    assert!(
        drift
            .detail
            .contains("holds 0.02 BTC on paper, the venue 0.01"),
        "{drift:?}"
    );
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

    let resync = next_event(&mut watch).await;
    assert_eq!(resync.action, "position.resync", "{resync:?}");
    assert!(resync.detail.contains("set to 0.01"), "{resync:?}");
    assert_eq!(next_event(&mut watch).await.action, "position.drift");
    // Next pass: the book agrees with the venue.
    assert_eq!(
        next_event(&mut watch).await.action,
        "position.drift_resolved"
    );

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

//! The daily P&L summary end to end: a paper pipeline buys and exits
//! through TradingView alerts, realising a profit; the server then runs
//! with `[notify.daily_summary]` a few seconds ahead, and a webhook
//! subscription hears the summary once, with the figures of the orders
//! the API returns. A restart on the same data writes it no second time.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use tempfile::TempDir;
use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, all_orders, audit_events, create_pipeline, dec, deliver, eventually,
    example_pipeline, halt_trading,
    mock_notify::{WEBHOOK_SECRET, subscription, webhook::MockWebhook, webhook_to},
    template_alert,
};
use tradeplane_server::{
    notify::daily_summary::{DailySummaryConfig, TimeOfDay},
    store::Store,
};

/// A server on `dir` telling `receiver` of daily summaries and halts,
/// with the summary at `at` (none: no summary).
async fn server(dir: TempDir, receiver: &MockWebhook, at: Option<&str>) -> TestServer {
    let daily_summary = at.map(|at| DailySummaryConfig {
        at: TimeOfDay::try_from(at.to_string()).expect("a time of day"),
    });
    TestServer::start_in(dir, |config| {
        config.notify.subscriptions = vec![subscription(
            "desk",
            webhook_to(receiver),
            &["daily_pnl", "halt_set"],
        )];
        config.notify.poll_interval = Duration::from_millis(50);
        config.notify.daily_summary = daily_summary;
    })
    .await
}

/// Waits until `receiver` has accepted a message of `kind`.
async fn heard(receiver: &MockWebhook, kind: &str) {
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            match receiver.received(kind).len() {
                0 => Err(format!("no {kind} message yet")),
                _ => Ok(()),
            }
        },
    )
    .await
}

/// Waits until the outbox holds nothing waiting.
async fn outbox_settled(store: &dyn Store) {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match store
                .outbox_depth()
                .await
                .map_err(|e| e.to_string())?
                .pending
            {
                0 => Ok(()),
                pending => Err(format!("{pending} deliveries still waiting")),
            }
        },
    )
    .await
}

/// A figure as the summary shows it.
fn shown(value: Decimal) -> String {
    value.round_dp(8).normalize().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_summary_is_told_once_with_the_days_figures() {
    let receiver = MockWebhook::start(WEBHOOK_SECRET).await;
    let first = server(tempfile::tempdir().expect("a data dir"), &receiver, None).await;
    let client = first.client().await;
    create_pipeline(&client, example_pipeline("target-position.json")).await;
    for (action, price, position, size) in
        [("buy", "3000", "long", "2"), ("sell", "3100", "flat", "0")]
    {
        let alert = template_alert(("ETHUSDT", price), action, "2", position, size);
        let execution = deliver(&first, &client, &alert).await;
        assert_eq!(
            execution.status,
            ExecutionStatus::Succeeded as i32,
            "{execution:?}"
        );
    }
    let orders = all_orders(&client, OrderFilter::default()).await;
    let [sell, buy] = orders.as_slice() else {
        panic!("two orders: {orders:?}");
    };
    assert_eq!(buy.side, Side::Buy as i32, "{buy:?}");
    assert_eq!(dec(&buy.filled_quantity), dec(&sell.filled_quantity));
    assert_eq!(
        (buy.fee_asset.as_str(), sell.fee_asset.as_str()),
        ("USDT", "USDT")
    );
    let realized =
        (dec(&sell.average_fill_price) - dec(&buy.average_fill_price)) * dec(&sell.filled_quantity);
    assert!(realized > Decimal::ZERO, "a profit: {orders:?}");
    let fees = dec(&buy.fee_total) + dec(&sell.fee_total);
    let fills = buy.fills.len() + sell.fills.len();
    let dir = first.stop().await;

    // The summary a few seconds from now, to the second (UTC).
    let instant = (Utc::now() + chrono::Duration::seconds(3))
        .with_nanosecond(0)
        .expect("a whole second");
    let at = instant.format("%H:%M:%S").to_string();
    let second = server(dir, &receiver, Some(&at)).await;
    heard(&receiver, "daily_pnl").await;
    let summaries = receiver.received("daily_pnl");
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let data = &summaries[0]["data"];
    let date = (instant - chrono::Duration::milliseconds(1)).date_naive();
    let title = format!("Daily P&L {date}");
    assert_eq!(data["title"], title.as_str(), "{data}");
    assert_eq!(data["severity"], "info", "{data}");
    let (realized, fees) = (shown(realized), shown(fees));
    let figures = format!(
        "Total USDT: realised {realized}, fees {fees}\n\
         target-position on paper/default: {realized} USDT, {fills} fills, fees {fees} USDT"
    );
    assert_eq!(
        data["text"],
        format!("{title}: {figures}").as_str(),
        "{data}"
    );
    let reports = audit_events(&second.client().await, "report.daily_pnl").await;
    let rfc = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Secs, true);
    let window = format!(
        "{}/{}",
        rfc(instant - chrono::Duration::days(1)),
        rfc(instant)
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].target, window, "{reports:?}");
    let dir = second.stop().await;

    // Restarted after the instant: the window is reported already. A halt
    // after start-up is told after anything start-up wrote.
    let third = server(dir, &receiver, Some(&at)).await;
    halt_trading(&third.client().await).await;
    heard(&receiver, "halt_set").await;
    outbox_settled(&*third.store()).await;
    assert_eq!(receiver.received("daily_pnl").len(), 1);
    assert_eq!(receiver.duplicates(), 0);
    let reports = audit_events(&third.client().await, "report.daily_pnl").await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    third.stop().await;
}

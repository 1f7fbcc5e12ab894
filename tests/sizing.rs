//! Sizing by risk end to end: the quantity that loses the set share of
//! equity at the stop, worked by hand on the paper exchange's starting
//! balances (100 000 USDT and 1 BTC).

use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, bad_request_field, create_pipeline, dec, orders_of, run_pipeline,
    strategy_pipeline, try_create_pipeline,
};

fn risking(name: &str, percent: &str, stop_loss: protective_order::Level) -> Pipeline {
    Pipeline {
        order: Some(OrderSettings {
            stop_loss: Some(ProtectiveOrder {
                level: Some(stop_loss),
            }),
            ..Default::default()
        }),
        ..strategy_pipeline(name, sizing::Method::RiskPercent(percent.into()))
    }
}

/// Runs `pipeline` for a buy at 50 000 and returns its entry's quantity.
async fn entry_quantity(pipeline: Pipeline) -> String {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pipeline = create_pipeline(&client, pipeline).await;
    let execution = run_pipeline(&client, &pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let orders = orders_of(&client, &execution).await;
    server.stop().await;
    orders[0].quantity.clone()
}

#[tokio::test]
async fn the_quantity_risks_the_set_share_of_equity_at_the_stop() {
    use protective_order::Level;
    // Equity at 50 000: 100 000 USDT + 1 BTC × 50 000 = 150 000 USDT.
    // 1 % of it is 1 500 USDT; a stop 200 bps under 50 000 is 1 000
    // away: 1 500 / 1 000 = 1.5 BTC.
    let bps = risking("risk-bps", "1", Level::OffsetBps("200".into()));
    assert_eq!(dec(&entry_quantity(bps).await), dec("1.5"));
    // 0.5 % is 750 USDT; a stop at 49 300 is 700 away: 750 / 700 =
    // 1.0714285…, rounded down to the 0.00001 lot: 1.07142 BTC.
    let price = risking("risk-price", "0.5", Level::Price("49300".into()));
    assert_eq!(dec(&entry_quantity(price).await), dec("1.07142"));
}

#[tokio::test]
async fn risk_sizing_without_a_stop_is_refused_naming_the_field() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut pipeline = risking(
        "no-stop",
        "1",
        protective_order::Level::OffsetBps("200".into()),
    );
    pipeline.order = None;
    let refused = try_create_pipeline(&client, pipeline).await.unwrap_err();
    assert_eq!(bad_request_field(&refused), "pipeline.sizing.risk_percent");
    let mut pipeline = risking(
        "too-much",
        "150",
        protective_order::Level::OffsetBps("200".into()),
    );
    pipeline.name = "too-much".into();
    let refused = try_create_pipeline(&client, pipeline).await.unwrap_err();
    assert_eq!(bad_request_field(&refused), "pipeline.sizing.risk_percent");
    server.stop().await;
}

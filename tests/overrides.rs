//! Alert fields that shape one trade, end to end: TradingView bodies
//! posted to the real webhook, traded by a pipeline on the paper exchange
//! (spot). Exit by percent closes that share of the position, rounded
//! down to the lot; a percent outside (0, 100] is refused naming it.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    PASSPHRASE, TestServer, any_signal_pipeline, create_pipeline, dec, deliver, orders_of,
    paper_btc, refused, submit,
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

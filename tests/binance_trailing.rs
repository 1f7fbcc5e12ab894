//! Native trailing stops on Binance: the real server, configured with the
//! mock Binance, places a percent trailing stop as a stop with Binance's
//! `trailingDelta` (in the bracket's order list with a take-profit, on its
//! own without one), and Binance trails it: tradeplane never moves it. An
//! offset trailing stop stays emulated by the bracket keeper. The mock
//! refuses a trailing delta the way Binance does.

use std::time::Duration;

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    all_orders_of, create_pipeline, dec, eventually, get_order,
    mock_binance::{Fault, MockBinance, MockOrderList, Route},
    order_reaches as reaches, orders_of, role, run_pipeline, start_on_mock_binance,
    strategy_pipeline,
};
use tradeplane_server::{
    market::side::Side as TicketSide,
    model::order::{OrderTicket, OrderType as TicketType},
    orders::exchanges::{
        Exchange, ExchangeError,
        binance::{BinanceExchange, Market},
    },
};

/// A pipeline on Binance buying 1000 USDT of BTC a run (0.02 BTC at the
/// mock's 50,000), with a trailing stop `distance` away and, when given, a
/// take-profit for the whole position `take_profit_bps` over the fill.
async fn trailing_on_binance(
    client: &Client,
    name: &str,
    distance: trailing_stop::Distance,
    take_profit_bps: Option<&str>,
) -> Pipeline {
    let order = OrderSettings {
        trailing_stop: Some(TrailingStop {
            distance: Some(distance),
        }),
        take_profit: take_profit_bps.map(|bps| ProtectiveOrder {
            level: Some(protective_order::Level::OffsetBps(bps.into())),
        }),
        ..Default::default()
    };
    let pipeline = Pipeline {
        exchange: "binance".into(),
        order: Some(order),
        ..strategy_pipeline(name, sizing::Method::FixedQuoteAmount("1000".into()))
    };
    create_pipeline(client, pipeline).await
}

/// A 2 % trailing stop: 200 basis points.
fn two_percent() -> trailing_stop::Distance {
    trailing_stop::Distance::Percent("2".into())
}

/// Runs the pipeline's entry at the mock's 50,000; returns the execution
/// and its orders (the entry first).
async fn enter(client: &Client, pipeline: &Pipeline) -> (Execution, Vec<Order>) {
    let execution = run_pipeline(client, pipeline, "buy", "50000", "").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded as i32,
        "{execution:?}"
    );
    let orders = orders_of(client, &execution).await;
    let entry = &orders[0];
    assert_eq!(role(entry), OrderRole::Entry);
    assert_eq!(entry.status, OrderStatus::Filled as i32, "{entry:?}");
    assert_eq!(dec(&entry.filled_quantity), dec("0.02"), "1000 / 50000");
    (execution, orders)
}

/// The pipeline holds nothing: an exit finds no position.
async fn assert_flat(client: &Client, pipeline: &Pipeline, price: &str) {
    let exit = run_pipeline(client, pipeline, "exit", price, "").await;
    assert_eq!(exit.status, ExecutionStatus::Skipped as i32, "{exit:?}");
    assert_eq!(exit.skip_reason, "no_position", "{exit:?}");
}

/// No order of the execution replaces another: nothing moved a stop.
async fn assert_never_replaced(client: &Client, execution: &Execution, count: usize) {
    let orders = all_orders_of(client, &execution.id).await;
    assert_eq!(orders.len(), count, "{orders:#?}");
    assert!(
        orders.iter().all(|o| o.replaces.is_empty()),
        "a stop was moved: {orders:#?}"
    );
}

#[tokio::test]
async fn binance_trails_the_stop_of_the_order_list_and_fires_it() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start_on_mock_binance(&mock).await;
    let client = server.client().await;
    let pipeline =
        trailing_on_binance(&client, "native-trail-oco", two_percent(), Some("500")).await;
    let (execution, orders) = enter(&client, &pipeline).await;
    let [_, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {orders:#?}");
    };
    assert_eq!(role(stop), OrderRole::StopLoss);
    assert_eq!(role(target), OrderRole::TakeProfit);
    // 2 % is 200 basis points; the stop has no trigger price of its own.
    assert_eq!(stop.trailing_delta_bips, 200, "{stop:?}");
    assert_eq!(stop.stop_price, "", "{stop:?}");
    assert_eq!(target.trailing_delta_bips, 0);

    // What Binance received: one order list whose stop leg trails by 200
    // basis points from the next trade on (no belowStopPrice), and the
    // take-profit 5 % over the fill: 50,000 × 1.05 = 52,500.
    let lists = mock.order_lists();
    let [list]: [MockOrderList; 1] = lists.try_into().expect("one order list");
    let param = |name: &str| list.params.get(name).map(String::as_str);
    for (name, expected) in [
        ("side", "SELL"),
        // The 0.02 bought less Binance's 0.1 % fee, taken in BTC.
        ("quantity", "0.01998"),
        ("aboveType", "LIMIT_MAKER"),
        ("abovePrice", "52500"),
        ("belowType", "STOP_LOSS"),
        ("belowClientOrderId", stop.client_order_id.as_str()),
        ("belowTrailingDelta", "200"),
    ] {
        assert_eq!(param(name), Some(expected), "{name} of {list:#?}");
    }
    assert_eq!(param("belowStopPrice"), None, "{list:#?}");
    let held = mock.order(&stop.client_order_id).expect("the stop leg");
    assert_eq!((held.trailing_delta, held.stop_price), (Some(200), None));

    // Up to 52,000 (under the take-profit): the best price is 52,000, so
    // the stop fires at 52,000 × 0.98 = 50,960 or lower. 51,000 is not
    // low enough; 50,900 is.
    for price in ["51000", "52000", "51000"] {
        mock.set_price("BTCUSDT", dec(price));
    }
    let held = mock.order(&stop.client_order_id).expect("the stop leg");
    assert_eq!(held.status, "NEW", "51,000 is above 50,960: {held:?}");
    assert_eq!(held.trail_best, Some(dec("52000")));
    mock.set_price("BTCUSDT", dec("50900"));

    let filled = reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills.len(), 1, "{filled:?}");
    assert_eq!(filled.fills[0].price, "50900");
    assert_eq!(dec(&filled.filled_quantity), dec(&stop.quantity));
    let expired = reaches(&client, &target.id, OrderStatus::Canceled).await;
    assert_eq!(expired.status_reason, "expired at Binance", "{expired:?}");
    assert_eq!(
        mock.order(&target.client_order_id).map(|o| o.status),
        Some("EXPIRED")
    );

    // Binance did the trailing: tradeplane never replaced the stop, and
    // sent nothing after the order list.
    assert_never_replaced(&client, &execution, 3).await;
    assert_eq!(mock.orders().len(), 3, "{:#?}", mock.orders());
    assert_eq!(mock.order_lists().len(), 1);
    assert_flat(&client, &pipeline, "50900").await;
    server.stop().await;
}

#[tokio::test]
async fn an_order_list_sent_again_by_the_sync_keeps_its_trailing_delta() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start_on_mock_binance(&mock).await;
    let client = server.client().await;
    let pipeline =
        trailing_on_binance(&client, "native-trail-resent", two_percent(), Some("500")).await;

    // A 500 before Binance created the list: its legs are unknown until
    // Binance can no longer accept the request; then the sync sends them
    // again, from the stored orders.
    mock.fail_next(Route::PlaceOrderList, Fault::ServerError);
    let (_, orders) = enter(&client, &pipeline).await;
    let [_, stop, target] = orders.as_slice() else {
        panic!("an entry and two legs: {orders:#?}");
    };
    let stop = reaches(&client, &stop.id, OrderStatus::Submitted).await;
    reaches(&client, &target.id, OrderStatus::Submitted).await;
    let lists = mock.order_lists();
    let [list]: [MockOrderList; 1] = lists.try_into().expect("one list at Binance");
    assert_eq!(
        list.params.get("belowTrailingDelta").map(String::as_str),
        Some("200"),
        "{list:#?}"
    );
    assert_eq!(list.params.get("belowStopPrice"), None);
    assert_eq!(stop.trailing_delta_bips, 200);

    // Trailing from 50,000: it fires at 50,000 × 0.98 = 49,000.
    mock.set_price("BTCUSDT", dec("49000"));
    let filled = reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills[0].price, "49000");
    reaches(&client, &target.id, OrderStatus::Canceled).await;
    server.stop().await;
}

#[tokio::test]
async fn without_a_take_profit_the_trailing_stop_is_a_stop_loss_order() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start_on_mock_binance(&mock).await;
    let client = server.client().await;
    let pipeline = trailing_on_binance(&client, "native-trail-alone", two_percent(), None).await;
    let (execution, orders) = enter(&client, &pipeline).await;
    let [_, stop] = orders.as_slice() else {
        panic!("an entry and its stop: {orders:#?}");
    };
    assert_eq!(role(stop), OrderRole::StopLoss);
    assert_eq!(stop.trailing_delta_bips, 200);
    let held = mock.order(&stop.client_order_id).expect("the stop");
    assert_eq!(held.kind, "STOP_LOSS");
    assert_eq!((held.trailing_delta, held.stop_price), (Some(200), None));
    assert_eq!(held.order_list_id, -1, "an order of its own");
    assert!(mock.order_lists().is_empty());

    // Best 53,000: it fires at 53,000 × 0.98 = 51,940 or lower.
    for price in ["53000", "52000"] {
        mock.set_price("BTCUSDT", dec(price));
    }
    assert_eq!(
        mock.order(&stop.client_order_id).map(|o| o.status),
        Some("NEW")
    );
    mock.set_price("BTCUSDT", dec("51900"));
    let filled = reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(filled.fills[0].price, "51900");
    assert_never_replaced(&client, &execution, 2).await;
    assert_flat(&client, &pipeline, "51900").await;
    server.stop().await;
}

#[tokio::test]
async fn an_offset_trailing_stop_stays_emulated_on_binance() {
    let mock = MockBinance::start_without("BTC").await;
    let server = start_on_mock_binance(&mock).await;
    let client = server.client().await;
    let offset = trailing_stop::Distance::Offset("1000".into());
    let pipeline = trailing_on_binance(&client, "emulated-trail", offset, Some("500")).await;
    let (execution, orders) = enter(&client, &pipeline).await;
    let stop = &orders[1];
    // A fixed stop 1,000 under the fill, which Binance does not trail.
    assert_eq!(stop.trailing_delta_bips, 0);
    assert_eq!(dec(&stop.stop_price), dec("49000"));
    assert_eq!(mock.order_lists()[0].params.get("belowTrailingDelta"), None);

    // The keeper follows the market: at 52,000 the stop goes to 51,000 in
    // a new order list that replaces the first.
    mock.set_price("BTCUSDT", dec("52000"));
    let moved = eventually(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let orders = all_orders_of(&client, &execution.id).await;
            orders
                .into_iter()
                .find(|o| o.replaces == stop.id && role(o) == OrderRole::StopLoss)
                .ok_or_else(|| "the stop has not moved yet".to_string())
        },
    )
    .await;
    assert_eq!(dec(&moved.stop_price), dec("51000"));
    let moved = reaches(&client, &moved.id, OrderStatus::Submitted).await;
    let lists = mock.order_lists();
    assert_eq!(lists.len(), 2, "{lists:#?}");
    assert_eq!(
        lists[1].params.get("belowStopPrice").map(String::as_str),
        Some("51000")
    );
    assert_eq!(
        get_order(&client, &stop.id).await.status,
        OrderStatus::Canceled as i32
    );
    assert_eq!(moved.trailing_delta_bips, 0);
    server.stop().await;
}

#[tokio::test]
async fn binance_refuses_a_trailing_delta_out_of_range_or_on_a_limit() {
    let mock = MockBinance::start().await;
    let mut config = tradeplane_server::config::Config::default();
    mock.configure(&mut config);
    let binance = BinanceExchange::new(Market::Spot, "default", &config.exchanges.binance)
        .expect("a connector");
    let stop = |id: &str, order_type, bips| OrderTicket {
        client_order_id: id.into(),
        order_type,
        price: (order_type == TicketType::Limit).then(|| dec("49000")),
        trailing_delta_bips: Some(bips),
        ..OrderTicket::market(TicketSide::Sell, "BTC", "USDT", dec("0.01"))
    };
    // Binance's TRAILING_DELTA filter: 10 to 2000 basis points.
    for bips in [5, 2001] {
        let refused = binance
            .place(&stop("tp-out-of-range", TicketType::Stop, bips))
            .await;
        assert_eq!(
            refused,
            Err(ExchangeError::Rejected(
                "Filter failure: TRAILING_DELTA (Binance -1013)".into()
            )),
            "{bips} bips"
        );
    }
    let refused = binance
        .place(&stop("tp-limit", TicketType::Limit, 200))
        .await;
    assert_eq!(
        refused,
        Err(ExchangeError::Rejected(
            "Parameter 'trailingDelta' sent when not required. (Binance -1106)".into()
        ))
    );
    assert!(mock.orders().is_empty(), "{:#?}", mock.orders());
    let placed = binance
        .place(&stop("tp-in-range", TicketType::Stop, 2000))
        .await
        .expect("2000 bips is in range");
    assert_eq!(
        placed.status,
        tradeplane_server::model::order::OrderStatus::Submitted
    );
    let held = mock.order("tp-in-range").expect("at the mock");
    assert_eq!(held.trailing_delta, Some(2000));
}

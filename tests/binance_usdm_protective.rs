//! Binance USDⓈ-M's native protective orders and realized profit, against
//! the mock in `support/mock_binance_futures`: a pipeline's percent
//! trailing stop is a `TRAILING_STOP_MARKET` that Binance trails at the
//! mark; a bracket for the whole position closes it by `closePosition`
//! (a triggered take-profit as `TAKE_PROFIT_MARKET`); callback rates off
//! Binance's range or step are refused; and the realized profit Binance
//! keeps in its income history reaches `GetPositions`.

use tradeplane_api::*;
use tradeplane_e2e::{
    TestServer, conformance::VenueUnderTest, create_pipeline, dec, deliver_ok, example_pipeline,
    mock_binance_futures::MockBinanceFutures, order_reaches, orders_of, perpetual_alert as alert,
    place_order, positions_on, try_create_pipeline,
};
use tradeplane_server::{
    market::{instrument::InstrumentKind, side::Side as TicketSide},
    model::order::{OrderStatus as TicketStatus, OrderTicket, OrderType as TicketType},
    orders::exchanges::{
        Exchange, ExchangeError,
        binance::{BinanceExchange, Market},
    },
};

/// A connector on the mock, outside any server.
fn connector(mock: &MockBinanceFutures) -> BinanceExchange {
    let mut config = tradeplane_server::config::Config::default();
    mock.configure(&mut config);
    BinanceExchange::new(Market::UsdM, "default", &config.exchanges.binance_usdm)
        .expect("a connector")
}

/// A BTC perpetual ticket for 0.04 on `side`.
fn ticket(id: &str, side: TicketSide, order_type: TicketType) -> OrderTicket {
    OrderTicket {
        client_order_id: id.into(),
        symbol: "BTC/USDT:PERP".into(),
        order_type,
        kind: InstrumentKind::Perpetual,
        ..OrderTicket::market(side, "BTC", "USDT", dec("0.04"))
    }
}

/// Opens a 0.04 long under `id` at the mock's mark.
async fn enter(binance: &BinanceExchange, id: &str) {
    binance
        .place(&ticket(id, TicketSide::Buy, TicketType::Market))
        .await
        .expect("the entry");
}

/// A reduce-only triggered exit of a long at `trigger`.
fn exit_at(id: &str, trigger: &str) -> OrderTicket {
    OrderTicket {
        stop_price: Some(dec(trigger)),
        reduce_only: true,
        ..ticket(id, TicketSide::Sell, TicketType::Stop)
    }
}

#[tokio::test]
async fn a_percent_trailing_stop_is_trailed_by_binance_at_the_mark() {
    let mock = MockBinanceFutures::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    let mut pipeline = Pipeline {
        exchange: "binance_usdm".into(),
        ..example_pipeline("perp-futures.yaml")
    };
    let order = pipeline.order.as_mut().expect("order settings");
    order.stop_loss = None;
    order.trailing_stop = Some(TrailingStop {
        distance: Some(trailing_stop::Distance::Percent("2".into())),
    });
    create_pipeline(&client, pipeline).await;
    let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
    let [_, stop, target]: [Order; 3] = orders_of(&client, &long)
        .await
        .try_into()
        .expect("an entry and two legs");
    assert_eq!(stop.trailing_delta_bips, 200, "{stop:?}");
    let held = mock.order(&stop.client_order_id).expect("at Binance");
    assert_eq!(held.kind, "TRAILING_STOP_MARKET");
    assert_eq!(held.callback_rate, Some(dec("2")));
    assert_eq!(held.stop_price, None, "no trigger: it trails from the mark");
    // Binance takes no closePosition on a trailing stop: it carries 0.04.
    assert_eq!((held.quantity, held.reduce_only), (dec("0.04"), true));

    // The mark climbs to 52,000, then retraces 2 % (to 50,960) and more.
    mock.set_price("BTCUSDT", dec("52000"));
    mock.set_price("BTCUSDT", dec("51000"));
    assert_eq!(
        mock.order(&stop.client_order_id).map(|o| o.status),
        Some("NEW")
    );
    mock.set_price("BTCUSDT", dec("50900"));
    let stopped = order_reaches(&client, &stop.id, OrderStatus::Filled).await;
    assert_eq!(dec(&stopped.filled_quantity), dec("0.04"));
    assert!(mock.position("BTCUSDT").amount.is_zero(), "flat at Binance");
    order_reaches(&client, &target.id, OrderStatus::Canceled).await;
    server.stop().await;
}

#[tokio::test]
async fn a_pipelines_take_profit_at_the_market_is_a_take_profit_market_order() {
    let mock = MockBinanceFutures::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    let mut pipeline = example_pipeline("perp-futures.yaml");
    pipeline
        .order
        .as_mut()
        .expect("order settings")
        .take_profit_at_market = true;
    // Only a venue with triggered take-profits takes it.
    let refused = try_create_pipeline(&client, pipeline.clone())
        .await
        .expect_err("paper has no triggered take-profit");
    assert!(
        refused
            .message()
            .contains("pipeline.order.take_profit_at_market"),
        "{refused:?}"
    );
    create_pipeline(
        &client,
        Pipeline {
            exchange: "binance_usdm".into(),
            ..pipeline
        },
    )
    .await;
    let long = deliver_ok(&server, &client, &alert("buy", "50000")).await;
    let [_, stop, target]: [Order; 3] = orders_of(&client, &long)
        .await
        .try_into()
        .expect("an entry and two legs");
    assert_eq!(target.r#type, OrderType::Stop as i32, "{target:?}");
    assert_eq!(dec(&target.stop_price), dec("53000"), "{target:?}");
    let held = mock.order(&target.client_order_id).expect("at Binance");
    assert_eq!(
        (held.kind.as_str(), held.close_position),
        ("TAKE_PROFIT_MARKET", true)
    );
    mock.set_price("BTCUSDT", dec("52900"));
    assert_eq!(
        mock.order(&target.client_order_id).map(|o| o.status),
        Some("NEW"),
        "it waits for its level"
    );
    mock.set_price("BTCUSDT", dec("53100"));
    let taken = order_reaches(&client, &target.id, OrderStatus::Filled).await;
    assert_eq!(dec(&taken.filled_quantity), dec("0.04"));
    order_reaches(&client, &stop.id, OrderStatus::Canceled).await;
    assert!(mock.position("BTCUSDT").amount.is_zero(), "flat at Binance");
    server.stop().await;
}

#[tokio::test]
async fn a_bracket_for_the_whole_position_closes_it_by_close_position_at_a_take_profit() {
    let mock = MockBinanceFutures::start().await;
    let binance = connector(&mock);
    enter(&binance, "tp-entry").await;
    assert_eq!(mock.position("BTCUSDT").amount, dec("0.04"));
    let [stop, target] = binance
        .place_oco(&exit_at("tp-stop", "48500"), &exit_at("tp-target", "53000"))
        .await
        .expect("the bracket");
    assert_eq!(
        (stop.status, target.status),
        (TicketStatus::Submitted, TicketStatus::Submitted)
    );
    let (stop, target) = (
        mock.order("tp-stop").expect("stop"),
        mock.order("tp-target").expect("target"),
    );
    assert_eq!(
        [
            (stop.kind.as_str(), stop.close_position),
            (target.kind.as_str(), target.close_position)
        ],
        [("STOP_MARKET", true), ("TAKE_PROFIT_MARKET", true)]
    );
    // Something else adds to the position before the take-profit: a
    // close-position order closes what is there when it triggers.
    binance
        .place(&OrderTicket {
            quantity: dec("0.01"),
            ..ticket("tp-add", TicketSide::Buy, TicketType::Market)
        })
        .await
        .expect("the addition");
    mock.set_price("BTCUSDT", dec("53000"));
    let target = mock.order("tp-target").expect("target");
    assert_eq!((target.status, target.executed), ("FILLED", dec("0.05")));
    assert!(mock.position("BTCUSDT").amount.is_zero());
    assert_eq!(mock.order("tp-stop").map(|o| o.status), Some("EXPIRED"));

    // A bracket for part of a position keeps its quantities.
    enter(&binance, "tp-entry-2").await;
    let half = |id: &str, trigger: &str| OrderTicket {
        quantity: dec("0.02"),
        ..exit_at(id, trigger)
    };
    binance
        .place_oco(&half("tp-stop-2", "48500"), &half("tp-target-2", "53000"))
        .await
        .expect("the bracket");
    let stop = mock.order("tp-stop-2").expect("stop");
    assert_eq!(
        (stop.close_position, stop.quantity, stop.reduce_only),
        (false, dec("0.02"), true)
    );
}

#[tokio::test]
async fn binance_refuses_a_callback_rate_off_its_range_or_step() {
    let mock = MockBinanceFutures::start().await;
    let binance = connector(&mock);
    enter(&binance, "tp-entry").await;
    let trailing = |id: &str, bips| OrderTicket {
        trailing_delta_bips: Some(bips),
        reduce_only: true,
        ..ticket(id, TicketSide::Sell, TicketType::Stop)
    };
    // 0.05 %, 10.1 %, and 1.25 % (not a tenth of a percent).
    for bips in [5, 1010, 125] {
        assert_eq!(
            binance.place(&trailing(&format!("tp-{bips}"), bips)).await,
            Err(ExchangeError::Rejected(
                "Invalid callBack rate. (Binance -2007)".into()
            )),
            "{bips} bips"
        );
    }
    assert_eq!(
        mock.orders().len(),
        1,
        "only the entry: {:#?}",
        mock.orders()
    );
    // An activation price: it trails only once the mark reaches it.
    let activated = OrderTicket {
        stop_price: Some(dec("51000")),
        ..trailing("tp-activated", 100)
    };
    binance.place(&activated).await.expect("1 % is in range");
    mock.set_price("BTCUSDT", dec("49000"));
    assert_eq!(mock.order("tp-activated").map(|o| o.status), Some("NEW"));
    mock.set_price("BTCUSDT", dec("51500"));
    mock.set_price("BTCUSDT", dec("50985"));
    let held = mock.order("tp-activated").expect("at the mock");
    assert_eq!((held.status, held.average_price), ("FILLED", dec("50985")));
}

#[tokio::test]
async fn the_realized_profit_comes_from_binances_income_history() {
    let mock = MockBinanceFutures::start().await;
    let server = TestServer::start_with(|config| mock.configure(config)).await;
    let client = server.client().await;
    let by_hand = |side: Side, quantity: &str, reduce_only| PlaceOrderRequest {
        exchange: "binance_usdm".into(),
        symbol: "BTC/USDT:PERP".into(),
        side: side as i32,
        r#type: OrderType::Market as i32,
        quantity: quantity.into(),
        reduce_only,
        ..Default::default()
    };
    place_order(&client, by_hand(Side::Buy, "0.04", false)).await;
    mock.set_price("BTCUSDT", dec("51000"));
    let sold = place_order(&client, by_hand(Side::Sell, "0.01", true)).await;
    assert_eq!(sold.status, OrderStatus::Filled as i32, "{sold:?}");
    let positions = positions_on(&client, "binance_usdm").await;
    let [held] = positions.as_slice() else {
        panic!("one position: {positions:?}");
    };
    assert_eq!(dec(&held.quantity), dec("0.03"));
    // 0.01 sold 1,000 over the entry; the fees are income of their own.
    assert_eq!(dec(&held.realized_pnl), dec("10"));
    server.stop().await;
}

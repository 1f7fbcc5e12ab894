//! The paper exchange's perpetuals: margin, profit, reduce-only and
//! liquidation, on the exchange's own surface.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::{PaperPerp, perp_settlement};
use crate::{
    market::{
        instrument::InstrumentKind,
        margin::{Leverage, MarginMode},
        side::Side,
    },
    model::order::{Fill, OrderStatus, OrderTicket, OrderType},
    orders::exchanges::{
        Exchange, ExchangeError, PerpPosition,
        paper::{PaperConfig, PaperExchange},
    },
};

const PERP: &str = "BTC/USDT:PERP";

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

/// A paper exchange without slippage, 10 bps fees and `usdt` to trade.
fn paper(usdt: &str) -> PaperExchange {
    PaperExchange::new(PaperConfig {
        slippage_bps: Decimal::ZERO,
        balances: BTreeMap::from([("USDT".into(), d(usdt))]),
        ..PaperConfig::default()
    })
}

fn ticket(id: &str, side: Side, quantity: &str, price: &str) -> OrderTicket {
    OrderTicket {
        client_order_id: id.into(),
        symbol: PERP.into(),
        kind: InstrumentKind::Perpetual,
        reference_price: Some(d(price)),
        ..OrderTicket::market(side, "BTC", "USDT", d(quantity))
    }
}

fn reducing(id: &str, side: Side, quantity: &str, price: &str) -> OrderTicket {
    OrderTicket {
        reduce_only: true,
        ..ticket(id, side, quantity, price)
    }
}

async fn position(paper: &PaperExchange) -> Option<PerpPosition> {
    paper
        .positions()
        .await
        .expect("positions")
        .into_iter()
        .next()
}

async fn usdt(paper: &PaperExchange) -> (Decimal, Decimal) {
    let balances = paper.balances().await.expect("balances");
    let (_, free, locked) = balances
        .into_iter()
        .find(|(asset, _, _)| asset == "USDT")
        .expect("USDT");
    (free, locked)
}

fn isolated(leverage: u32) -> Leverage {
    Leverage {
        leverage,
        mode: MarginMode::Isolated,
    }
}

#[tokio::test]
async fn a_long_holds_its_margin_and_realises_its_profit_when_closed() {
    let paper = paper("100000");
    paper.set_leverage(PERP, isolated(10)).await.expect("set");
    let open = paper
        .place(&ticket("a", Side::Buy, "0.1", "50000"))
        .await
        .expect("placed");
    assert_eq!(open.status, OrderStatus::Filled);
    let held = position(&paper).await.expect("a position");
    assert_eq!(
        (held.quantity, held.entry_price, held.margin),
        (d("0.1"), d("50000"), d("500"))
    );
    assert_eq!(held.liquidation_price, Some(d("45226.13065327")));
    // The wallet paid the 5 USDT fee; 500 is held as margin.
    assert_eq!(usdt(&paper).await, (d("99495"), d("500")));
    let _ = paper.observe_price(PERP, d("50500"), 0);
    assert_eq!(position(&paper).await.expect("held").unrealized, d("50"));

    let close = paper
        .place(&reducing("b", Side::Sell, "0.1", "51000"))
        .await
        .expect("placed");
    assert_eq!(close.status, OrderStatus::Filled);
    assert_eq!(position(&paper).await, None, "flat");
    // 100000 + 100 realised - 5 - 5.1 fees.
    assert_eq!(usdt(&paper).await, (d("100089.9"), Decimal::ZERO));
}

#[tokio::test]
async fn a_sell_opens_a_short_that_profits_as_the_price_falls() {
    let paper = paper("100000");
    paper
        .place(&ticket("a", Side::Sell, "0.2", "50000"))
        .await
        .expect("short");
    let _ = paper.observe_price(PERP, d("49000"), 0);
    let held = position(&paper).await.expect("a short");
    assert_eq!((held.quantity, held.unrealized), (d("-0.2"), d("200")));
    assert_eq!(held.leverage, Leverage::DEFAULT, "1x isolated until set");
    paper
        .place(&reducing("b", Side::Buy, "0.2", "49000"))
        .await
        .expect("cover");
    let realized = paper.lock_book().expect("book").perps[PERP].realized;
    assert_eq!(realized, d("200"));
}

#[tokio::test]
async fn reduce_only_orders_never_increase_or_flip_a_position() {
    let paper = paper("100000");
    let refused = |result: Result<_, ExchangeError>| match result {
        Err(ExchangeError::Rejected(why)) => assert!(why.starts_with("reduce_only"), "{why}"),
        other => panic!("not refused: {other:?}"),
    };
    refused(
        paper
            .place(&reducing("a", Side::Sell, "0.1", "50000"))
            .await,
    );
    paper
        .place(&ticket("b", Side::Buy, "0.1", "50000"))
        .await
        .expect("long");
    refused(paper.place(&reducing("c", Side::Buy, "0.1", "50000")).await);
    refused(
        paper
            .place(&reducing("d", Side::Sell, "0.2", "50000"))
            .await,
    );
    let half = paper
        .place(&reducing("e", Side::Sell, "0.05", "50000"))
        .await;
    assert_eq!(half.expect("reduces").status, OrderStatus::Filled);
}

#[tokio::test]
async fn an_order_needs_its_initial_margin_and_the_mode_stays_while_a_position_is_open() {
    let paper = paper("1000");
    paper.set_leverage(PERP, isolated(10)).await.expect("set");
    // 0.3 BTC at 50000 is 15000 notional: 1500 of margin at 10x.
    let refused = paper.place(&ticket("a", Side::Buy, "0.3", "50000")).await;
    assert_eq!(
        refused,
        Err(ExchangeError::Rejected("insufficient balance".into()))
    );
    paper
        .place(&ticket("b", Side::Buy, "0.1", "50000"))
        .await
        .expect("fits");
    let cross = Leverage {
        leverage: 10,
        mode: MarginMode::Cross,
    };
    assert!(paper.set_leverage(PERP, cross).await.is_err());
    assert!(
        paper.set_leverage(PERP, isolated(1)).await.is_err(),
        "5000 of margin at 1x is not there"
    );
    paper
        .set_leverage(PERP, isolated(10))
        .await
        .expect("the same again");
}

#[tokio::test]
async fn an_isolated_position_is_liquidated_at_the_mark_and_its_protection_canceled() {
    let paper = paper("100000");
    paper.set_leverage(PERP, isolated(10)).await.expect("set");
    paper
        .place(&ticket("a", Side::Buy, "0.1", "50000"))
        .await
        .expect("long");
    let stop = OrderTicket {
        order_type: OrderType::Stop,
        stop_price: Some(d("40000")),
        reference_price: None,
        ..reducing("stop", Side::Sell, "0.1", "50000")
    };
    paper.place(&stop).await.expect("a resting stop");
    let calm = paper.observe_price(PERP, d("45300"), 0);
    assert!(calm.liquidated.is_empty() && calm.changed.is_empty());
    let crash = paper.observe_price(PERP, d("45200"), 0);
    let [(ticket, order)] = crash.liquidated.as_slice() else {
        panic!("one liquidation: {crash:?}");
    };
    assert_eq!((ticket.side, ticket.quantity), (Side::Sell, d("0.1")));
    assert!(ticket.reduce_only);
    assert_eq!(order.fills[0].price, d("45200"));
    assert!(order.reason.starts_with("liquidated"), "{}", order.reason);
    assert_eq!(crash.changed.len(), 1, "the stop is canceled");
    assert_eq!(crash.changed[0].1.status, OrderStatus::Canceled);
    assert_eq!(position(&paper).await, None);
    // Lost 480 and two fees (5 and 4.52), no more than the margin.
    assert_eq!(usdt(&paper).await, (d("99510.48"), Decimal::ZERO));
}

#[tokio::test]
async fn a_cross_position_is_backed_by_the_whole_wallet() {
    let paper = paper("1000");
    let cross = Leverage {
        leverage: 10,
        mode: MarginMode::Cross,
    };
    paper.set_leverage(PERP, cross).await.expect("set");
    paper
        .place(&ticket("a", Side::Buy, "0.1", "50000"))
        .await
        .expect("long");
    // Isolated it would go at 45226; cross, the 995 left carry it to
    // 995 + 0.1 (p - 50000) = 0.0005 p, p = 40251.
    let held = position(&paper).await.expect("held");
    assert_eq!(held.liquidation_price, Some(d("40251.25628141")));
    assert!(
        paper
            .observe_price(PERP, d("41000"), 0)
            .liquidated
            .is_empty()
    );
    assert_eq!(paper.observe_price(PERP, d("40000"), 0).liquidated.len(), 1);
}

#[tokio::test]
async fn a_restored_book_holds_the_perpetuals_it_is_given() {
    let first = paper("100000");
    first.set_leverage(PERP, isolated(10)).await.expect("set");
    first
        .place(&ticket("a", Side::Sell, "0.1", "50000"))
        .await
        .expect("short");
    let perps = first.lock_book().expect("book").perps.clone();
    let second = paper("100000");
    assert!(second.restore(&BTreeMap::new(), &perps, &[], || true));
    assert_eq!(position(&second).await, position(&first).await);
}

proptest! {
    /// Opening and closing a position moves the wallet by the price move
    /// times the size, in the position's direction, less both fees.
    #[test]
    fn open_and_close_realise_the_move_less_fees(
        lots in 1i64..100_000,
        long in any::<bool>(),
        open_cents in 100i64..10_000_000,
        close_cents in 100i64..10_000_000,
        fee_cents in 0i64..10_000,
    ) {
        let quantity = Decimal::new(lots, 4);
        let (open, close) = (Decimal::new(open_cents, 2), Decimal::new(close_cents, 2));
        let fee = Decimal::new(fee_cents, 2);
        let fill = |price| Fill {
            trade_id: "t".into(),
            quantity,
            price,
            fee,
            fee_asset: "USDT".into(),
            time_ms: 0,
        };
        let (side, direction) = if long { (Side::Buy, Decimal::ONE) } else { (Side::Sell, -Decimal::ONE) };
        let mut perp = PaperPerp::default();
        let assets = ("BTC", "USDT");
        let moved = perp_settlement(&mut perp, assets, side, &fill(open))
            + perp_settlement(&mut perp, assets, side.opposite(), &fill(close));
        prop_assert_eq!(moved, (close - open) * quantity * direction - fee - fee);
        prop_assert!(perp.position.quantity.is_zero());
        prop_assert_eq!(perp.realized, (close - open) * quantity * direction);
    }
}

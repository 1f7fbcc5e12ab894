//! How alert overrides change a pipeline's order, and when a pipeline
//! refuses them.

use tradeplane_api::{Pipeline, SignalMatch, Trigger, sizing, trigger};

use super::*;
use crate::{
    market::{instrument::Instrument, position::Position},
    model::order::OrderType,
    orders::exchanges::InstrumentRules,
    pipelines::{
        sizing::{Market, plan},
        spec::{Trail, compile},
    },
};

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// A pipeline sizing by `method`, with a stop, a trailing stop and a
/// two-level take-profit ladder.
fn bracketed(method: sizing::Method, forbid_overrides: bool) -> Compiled {
    let mut compiled = compile(Pipeline {
        name: "overrides".into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch::default())),
        }),
        sizing: Some(tradeplane_api::Sizing {
            method: Some(method),
        }),
        forbid_overrides,
        ..Default::default()
    })
    .unwrap();
    compiled.order.stop_loss = Some(Level::OffsetBps(d("100")));
    compiled.order.trailing_stop = Some(Trail::Percent(d("1")));
    compiled.order.take_profits = vec![
        (Level::OffsetBps(d("200")), d("50")),
        (Level::OffsetBps(d("400")), d("50")),
    ];
    compiled
}

fn fixed(forbid_overrides: bool) -> Compiled {
    bracketed(
        sizing::Method::FixedQuantity("0.1".into()),
        forbid_overrides,
    )
}

fn alert(action: SignalAction, quantity: Option<&str>, overrides: Overrides) -> Signal {
    Signal {
        intent: Some(Intent {
            instrument: Instrument::spot("BTC", "USDT"),
            action,
            quantity: quantity.map(d),
            price: Some(d("50000")),
            confidence: None,
            target_position: None,
            strategy_position: None,
            event_time_ms: None,
            exit_percent: None,
            overrides,
        }),
        ..Signal::received("s".into(), "tradingview", 0)
    }
}

fn stop_and_target() -> Overrides {
    Overrides {
        stop_loss: Some(d("49000")),
        take_profit: Some(d("52000")),
        ..Overrides::default()
    }
}

#[test]
fn overrides_replace_the_order_type_the_stop_and_the_take_profit_ladder() {
    let limit = Overrides {
        order_type: Some(OrderType::Limit),
        limit_price: Some(d("49500")),
        ..stop_and_target()
    };
    let order = applied(&fixed(false), &alert(SignalAction::Buy, None, limit))
        .unwrap()
        .order;
    assert_eq!(order.order_type, OrderType::Limit);
    assert_eq!(order.stop_loss, Some(Level::Price(d("49000"))));
    // An alert's stop replaces the trailing stop too.
    assert_eq!(order.trailing_stop, None);
    // One target for the whole quantity instead of the ladder.
    assert_eq!(
        order.take_profits,
        [(Level::Price(d("52000")), Decimal::ONE_HUNDRED)]
    );

    // Without overrides the pipeline's order stays as it is.
    let plain = applied(
        &fixed(false),
        &alert(SignalAction::Buy, None, Overrides::default()),
    )
    .unwrap()
    .order;
    assert_eq!(plain, fixed(false).order);
    // A take-profit alone keeps the pipeline's stop and trailing stop.
    let target_only = Overrides {
        take_profit: Some(d("52000")),
        ..Overrides::default()
    };
    let order = applied(&fixed(false), &alert(SignalAction::Buy, None, target_only))
        .unwrap()
        .order;
    assert_eq!(order.stop_loss, Some(Level::OffsetBps(d("100"))));
    assert_eq!(order.trailing_stop, Some(Trail::Percent(d("1"))));
}

#[test]
fn a_forbidding_pipeline_skips_naming_every_override() {
    let skipped = |compiled: &Compiled, signal: &Signal| match applied(compiled, signal) {
        Err(Stop::Skip(SkipReason::OverridesForbidden, detail)) => Some(detail),
        Err(other) => panic!("{other:?}"),
        Ok(_) => None,
    };
    let detail = skipped(
        &fixed(true),
        &alert(SignalAction::Buy, Some("0.5"), stop_and_target()),
    );
    assert_eq!(
        detail.as_deref(),
        Some(
            "the pipeline forbids alert overrides, and the alert sets quantity, stop_loss, take_profit"
        )
    );
    // A quantity is no override where the sizing is from the signal, nor
    // on an exit.
    let from_signal = bracketed(sizing::Method::FromSignal(true), true);
    assert_eq!(
        skipped(
            &from_signal,
            &alert(SignalAction::Buy, Some("0.5"), Overrides::default())
        ),
        None
    );
    assert_eq!(
        skipped(
            &fixed(true),
            &alert(SignalAction::Exit, Some("0.5"), Overrides::default())
        ),
        None
    );
    // A plain alert runs; an allowing pipeline takes every override.
    assert_eq!(
        skipped(
            &fixed(true),
            &alert(SignalAction::Buy, None, Overrides::default())
        ),
        None
    );
    assert_eq!(
        skipped(
            &fixed(false),
            &alert(SignalAction::Buy, Some("0.5"), stop_and_target())
        ),
        None
    );
}

#[test]
fn risk_sizing_measures_the_risk_to_the_alerts_stop() {
    let mut compiled = fixed(false);
    compiled.sizing = SizingRule::RiskPercent(d("1"));
    let signal = alert(
        SignalAction::Buy,
        None,
        Overrides {
            stop_loss: Some(d("49000")),
            ..Overrides::default()
        },
    );
    let quantity = |compiled: &Compiled| {
        let intent = signal.intent.as_ref().unwrap();
        let rules = InstrumentRules {
            tick_size: d("0.01"),
            lot_size: d("0.0001"),
            min_quantity: d("0.0001"),
            min_notional: d("10"),
        };
        let balances = [("USDT".to_string(), d("10000"), Decimal::ZERO)];
        let market = Market {
            symbol: "BTC/USDT",
            price: d("50000"),
            rules: &rules,
            position: Position::default(),
            balances: &balances,
            can_short: false,
        };
        plan(compiled.sizing, &compiled.order, intent, market)
            .unwrap()
            .quantity
    };
    // 1 % of 10000 USDT is 100: the pipeline's stop 1 % (500) under 50000
    // sizes 0.2 BTC; the alert's stop at 49000, 1000 under, sizes 0.1.
    assert_eq!(quantity(&compiled), d("0.2"));
    assert_eq!(quantity(&applied(&compiled, &signal).unwrap()), d("0.1"));
}

#[test]
fn levels_sit_on_their_side_of_the_entry() {
    let levels = stop_and_target();
    assert_eq!(check_levels(&levels, Side::Buy, d("50000")), Ok(()));
    // The same levels for a sell (an add to a short, say) are upside down.
    assert_eq!(
        check_levels(&levels, Side::Sell, d("50000")),
        Err(Stop::Fail(
            "the alert's stop_loss 49000 is not above the sell entry at 50000".into()
        ))
    );
    assert!(check_levels(&levels, Side::Buy, d("48000")).is_err());
    assert_eq!(
        check_levels(&Overrides::default(), Side::Sell, d("1")),
        Ok(())
    );
}

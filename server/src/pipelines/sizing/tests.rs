//! The sizing step's cases, one action and market at a time.

use crate::{
    market::{hours::OutsideMarketHours, instrument::Instrument},
    model::{order::TimeInForce, signal::Overrides},
};

use super::*;

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn rules() -> InstrumentRules {
    InstrumentRules {
        tick_size: d("0.01"),
        lot_size: d("0.001"),
        min_quantity: d("0.001"),
        min_notional: d("10"),
    }
}

fn market(order: OrderType) -> OrderPlan {
    OrderPlan {
        order_type: order,
        limit_offset_bps: d("10"),
        time_in_force: TimeInForce::Gtc,
        stop_loss: None,
        take_profits: Vec::new(),
        trailing_stop: None,
        breakeven: false,
        cancel_after: None,
        leverage: None,
        outside_market_hours: OutsideMarketHours::Refuse,
        attach_exits: false,
        take_profit_at_market: false,
    }
}

fn signal(action: SignalAction) -> Intent {
    Intent {
        instrument: Instrument {
            symbol: "BINANCE:BTC/USDT".into(),
            ..Instrument::spot("BTC", "USDT")
        },
        action,
        quantity: None,
        price: None,
        confidence: None,
        target_position: None,
        strategy_position: None,
        event_time_ms: None,
        exit_percent: None,
        overrides: Overrides::default(),
    }
}

fn size(sizing: SizingRule, signal: &Intent, position: Position) -> Result<Plan, Stop> {
    size_on(true, sizing, signal, position)
}

/// Sizes on a market that can (perpetual) or cannot (spot) short.
fn size_on(
    can_short: bool,
    sizing: SizingRule,
    signal: &Intent,
    position: Position,
) -> Result<Plan, Stop> {
    let balances = [
        ("USDT".to_string(), d("1000"), d("0")),
        ("BTC".to_string(), d("0.5"), d("0")),
    ];
    plan(
        sizing,
        &market(OrderType::Market),
        signal,
        Market {
            symbol: "BINANCE:BTC/USDT",
            price: d("50000"),
            rules: &rules(),
            position,
            balances: &balances,
            can_short,
        },
    )
}

fn sized(sizing: SizingRule, signal: &Intent) -> (Side, Decimal) {
    let plan = size(sizing, signal, Position::default()).unwrap();
    (plan.side, plan.quantity)
}

#[test]
fn a_fixed_quantity_stays_and_a_quote_amount_is_divided_by_the_price() {
    let buy = signal(SignalAction::Buy);
    assert_eq!(
        sized(SizingRule::Quantity(d("0.01")), &buy),
        (Side::Buy, d("0.01"))
    );
    // 123 / 50000 = 0.00246, rounded down to the lot.
    let sell = signal(SignalAction::Sell);
    assert_eq!(
        sized(SizingRule::QuoteAmount(d("123")), &sell),
        (Side::Sell, d("0.002"))
    );
}

#[test]
fn a_percent_of_balance_spends_quote_to_buy_and_base_to_sell() {
    let percent = SizingRule::PercentOfBalance(d("50"));
    assert_eq!(
        sized(percent, &signal(SignalAction::Buy)),
        (Side::Buy, d("0.01"))
    );
    assert_eq!(
        sized(percent, &signal(SignalAction::Sell)),
        (Side::Sell, d("0.25"))
    );
    assert!(needs_balances(percent, &signal(SignalAction::Buy)));
    assert!(!needs_balances(percent, &signal(SignalAction::Exit)));
    assert!(!needs_balances(
        SizingRule::Quantity(d("1")),
        &signal(SignalAction::Buy)
    ));
}

#[test]
fn from_signal_takes_the_signal_quantity_or_fails() {
    let mut buy = signal(SignalAction::Buy);
    buy.quantity = Some(d("0.0456"));
    assert_eq!(sized(SizingRule::FromSignal, &buy), (Side::Buy, d("0.045")));
    buy.quantity = None;
    assert!(matches!(
        size(SizingRule::FromSignal, &buy, Position::default()),
        Err(Stop::Fail(_))
    ));
}

#[test]
fn exits_and_targets_trade_the_difference_to_the_position() {
    let long = Position {
        quantity: d("0.3"),
        ..Default::default()
    };
    let exit = size(SizingRule::FromSignal, &signal(SignalAction::Exit), long).unwrap();
    assert_eq!((exit.side, exit.quantity), (Side::Sell, d("0.3")));
    let nothing = size(
        SizingRule::FromSignal,
        &signal(SignalAction::Exit),
        Position::default(),
    );
    assert!(matches!(
        nothing,
        Err(Stop::Skip(SkipReason::NoPosition, _))
    ));
    let mut target = signal(SignalAction::TargetPosition);
    target.target_position = Some(d("0.5"));
    let more = size(SizingRule::FromSignal, &target, long).unwrap();
    assert_eq!((more.side, more.quantity), (Side::Buy, d("0.2")));
    target.target_position = Some(d("0.3"));
    assert!(matches!(
        size(SizingRule::FromSignal, &target, long),
        Err(Stop::Skip(SkipReason::AtTarget, _))
    ));
}

fn held(quantity: &str) -> Position {
    Position {
        quantity: d(quantity),
        ..Default::default()
    }
}

fn skipped(result: Result<Plan, Stop>) -> SkipReason {
    match result {
        Err(Stop::Skip(reason, _)) => reason,
        other => panic!("not skipped: {other:?}"),
    }
}

#[test]
fn add_reverse_and_one_sided_closes() {
    let fixed = SizingRule::Quantity(d("0.1"));
    let trade = |action, position: &str| {
        let plan = size(fixed, &signal(action), held(position)).unwrap();
        (plan.side, plan.quantity)
    };
    assert_eq!(trade(SignalAction::Add, "0.3"), (Side::Buy, d("0.1")));
    assert_eq!(trade(SignalAction::Add, "-0.3"), (Side::Sell, d("0.1")));
    // Reverse: close 0.3, open 0.1 the other way.
    assert_eq!(trade(SignalAction::Reverse, "0.3"), (Side::Sell, d("0.4")));
    assert_eq!(
        trade(SignalAction::CloseLong, "0.3"),
        (Side::Sell, d("0.3"))
    );
    assert_eq!(
        trade(SignalAction::CloseShort, "-0.3"),
        (Side::Buy, d("0.3"))
    );
    let nothing = |action, position: &str| skipped(size(fixed, &signal(action), held(position)));
    assert_eq!(nothing(SignalAction::Add, "0"), SkipReason::NoPosition);
    assert_eq!(nothing(SignalAction::Reverse, "0"), SkipReason::NoPosition);
    assert_eq!(
        nothing(SignalAction::CloseLong, "-0.3"),
        SkipReason::NothingToTrade
    );
    assert_eq!(
        nothing(SignalAction::CloseShort, "0.3"),
        SkipReason::NothingToTrade
    );
    assert_eq!(
        nothing(SignalAction::CloseShort, "0"),
        SkipReason::NothingToTrade
    );
    assert_eq!(
        nothing(SignalAction::Cancel, "0.3"),
        SkipReason::NothingToTrade
    );
}

#[test]
fn a_strategy_alert_follows_the_stated_position_in_its_own_direction() {
    let fixed = SizingRule::Quantity(d("0.1"));
    let alert = |action, target: &str| Intent {
        target_position: Some(d(target)),
        ..signal(action)
    };
    let trade = |intent: &Intent, position: &str| {
        let plan = size(fixed, intent, held(position)).unwrap();
        (plan.side, plan.quantity)
    };
    // Entry to the strategy's size, not the sizing rule's.
    assert_eq!(
        trade(&alert(SignalAction::Buy, "0.5"), "0"),
        (Side::Buy, d("0.5"))
    );
    // Partial exit: sell + long 0.2 from 0.5.
    assert_eq!(
        trade(&alert(SignalAction::Sell, "0.2"), "0.5"),
        (Side::Sell, d("0.3"))
    );
    // Reversal: sell + short 0.2 from long 0.5.
    assert_eq!(
        trade(&alert(SignalAction::Sell, "-0.2"), "0.5"),
        (Side::Sell, d("0.7"))
    );
    // A sell alert never buys, a buy alert never sells.
    let beyond = |intent: &Intent, position: &str| skipped(size(fixed, intent, held(position)));
    assert_eq!(
        beyond(&alert(SignalAction::Sell, "0.2"), "0.1"),
        SkipReason::AtTarget
    );
    assert_eq!(
        beyond(&alert(SignalAction::Buy, "-0.2"), "0"),
        SkipReason::AtTarget
    );
}

#[test]
fn spot_closes_the_long_and_never_opens_a_short() {
    let fixed = SizingRule::Quantity(d("0.1"));
    let spot = |intent: &Intent, position: &str| size_on(false, fixed, intent, held(position));
    let reverse = spot(&signal(SignalAction::Reverse), "0.3").unwrap();
    assert_eq!((reverse.side, reverse.quantity), (Side::Sell, d("0.3")));
    let short = Intent {
        target_position: Some(d("-0.2")),
        ..signal(SignalAction::Sell)
    };
    let closing = spot(&short, "0.5").unwrap();
    assert_eq!((closing.side, closing.quantity), (Side::Sell, d("0.5")));
    assert_eq!(skipped(spot(&short, "0")), SkipReason::SpotCannotShort);
    assert_eq!(
        skipped(spot(&signal(SignalAction::Sell), "0")),
        SkipReason::SpotCannotShort
    );
    let mut target = signal(SignalAction::TargetPosition);
    target.target_position = Some(d("-1"));
    assert_eq!(spot(&target, "0.3").unwrap().quantity, d("0.3"));
    // A sell within the long is untouched.
    assert_eq!(
        spot(&signal(SignalAction::Sell), "0.3").unwrap().quantity,
        d("0.1")
    );
}

#[test]
fn below_the_lot_or_the_minimum_notional_is_skipped() {
    let buy = signal(SignalAction::Buy);
    let at = |quantity: &str, price: &str| {
        plan(
            SizingRule::Quantity(d(quantity)),
            &market(OrderType::Market),
            &buy,
            Market {
                symbol: "BINANCE:BTC/USDT",
                price: d(price),
                rules: &rules(),
                position: Position::default(),
                balances: &[],
                can_short: false,
            },
        )
    };
    for (quantity, price) in [("0.0004", "50000"), ("0.001", "5000")] {
        assert!(
            matches!(
                at(quantity, price),
                Err(Stop::Skip(SkipReason::BelowMinNotional, _))
            ),
            "{quantity} at {price}"
        );
    }
    assert_eq!(at("0.002", "5000").unwrap().quantity, d("0.002"));
}

#[test]
fn limit_prices_sit_off_the_market_on_the_tick() {
    let sell = signal(SignalAction::Sell);
    let plan = plan(
        SizingRule::Quantity(d("1")),
        &market(OrderType::Limit),
        &sell,
        Market {
            symbol: "BINANCE:BTC/USDT",
            price: d("100.055"),
            rules: &rules(),
            position: Position::default(),
            balances: &[],
            can_short: true,
        },
    );
    // 100.055 - 10 bps = 99.954945, rounded up to the tick for a sell.
    assert_eq!(plan.unwrap().limit_price, Some(d("99.96")));
}

#[test]
fn an_exit_by_percent_closes_that_share_rounded_down_to_the_lot() {
    let fixed = SizingRule::Quantity(d("0.1"));
    let share = |action, percent: &str, position: &str| {
        let intent = Intent {
            exit_percent: Some(d(percent)),
            ..signal(action)
        };
        let plan = size(fixed, &intent, held(position)).unwrap();
        (plan.side, plan.quantity)
    };
    // 50 % of 0.5 is 0.25; 33 % of 0.5 is 0.165; 50 % of 0.005 is 0.0025 → 0.002.
    assert_eq!(
        share(SignalAction::Exit, "50", "0.5"),
        (Side::Sell, d("0.25"))
    );
    assert_eq!(
        share(SignalAction::Exit, "33", "0.5"),
        (Side::Sell, d("0.165"))
    );
    assert_eq!(
        share(SignalAction::Exit, "50", "0.005"),
        (Side::Sell, d("0.002"))
    );
    assert_eq!(
        share(SignalAction::CloseShort, "25", "-0.4"),
        (Side::Buy, d("0.1"))
    );
    assert_eq!(
        share(SignalAction::CloseLong, "100", "0.3"),
        (Side::Sell, d("0.3"))
    );
}

#[test]
fn an_entry_quantity_overrides_the_rule_but_not_a_reverse_or_a_stated_position() {
    let fixed = SizingRule::Quantity(d("0.1"));
    let with = |action, quantity: &str| Intent {
        quantity: Some(d(quantity)),
        ..signal(action)
    };
    // Rounded down to the lot like any other quantity.
    assert_eq!(
        sized(fixed, &with(SignalAction::Buy, "0.0456")),
        (Side::Buy, d("0.045"))
    );
    assert_eq!(
        sized(fixed, &with(SignalAction::Sell, "0.3")),
        (Side::Sell, d("0.3"))
    );
    let add = size(fixed, &with(SignalAction::Add, "0.02"), held("0.5")).unwrap();
    assert_eq!((add.side, add.quantity), (Side::Buy, d("0.02")));
    // A reverse closes the position and opens the rule's quantity.
    let reverse = size(fixed, &with(SignalAction::Reverse, "0.02"), held("0.5")).unwrap();
    assert_eq!((reverse.side, reverse.quantity), (Side::Sell, d("0.6")));
    // A buy that follows the strategy's stated position trades to it.
    let stated = Intent {
        target_position: Some(d("0.2")),
        ..with(SignalAction::Buy, "0.0456")
    };
    assert_eq!(sized(fixed, &stated), (Side::Buy, d("0.2")));
    // Still refused below the minimum notional: 0.0001 × 50000 = 5 < 10.
    assert!(matches!(
        size(
            fixed,
            &with(SignalAction::Buy, "0.0001"),
            Position::default()
        ),
        Err(Stop::Skip(SkipReason::BelowMinNotional, _))
    ));
}

#[test]
fn an_alert_limit_price_replaces_the_offset_on_the_tick() {
    let buy = Intent {
        overrides: Overrides {
            order_type: Some(OrderType::Limit),
            limit_price: Some(d("49000.017")),
            ..Overrides::default()
        },
        ..signal(SignalAction::Buy)
    };
    let plan = plan(
        SizingRule::Quantity(d("0.01")),
        &market(OrderType::Limit),
        &buy,
        Market {
            symbol: "BINANCE:BTC/USDT",
            price: d("50000"),
            rules: &rules(),
            position: Position::default(),
            balances: &[],
            can_short: false,
        },
    );
    // Rounded down to the tick for a buy.
    assert_eq!(plan.unwrap().limit_price, Some(d("49000.01")));
}

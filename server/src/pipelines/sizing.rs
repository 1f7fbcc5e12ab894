//! The sizing step, as a pure function: side, quantity and price from the
//! signal's intent and the pipeline's sizing rule, rounded to the venue's
//! lot and tick, and skipped below its minimums.

use rust_decimal::Decimal;

use super::{
    spec::{OrderPlan, SizingRule},
    stop::{SkipReason, Stop},
};
use crate::{
    market::{position::Position, side::Side},
    model::{
        order::OrderType,
        signal::{Intent, SignalAction},
    },
    orders::exchanges::{InstrumentRules, round_price, round_quantity},
};

/// One basis point is 1/10 000.
pub const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The order an execution decided on.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    /// The market price the order was sized at.
    pub price: Decimal,
    /// For limit orders: the limit, on the tick.
    pub limit_price: Option<Decimal>,
    /// The pipeline's position before the order.
    pub position: Position,
}

impl Plan {
    /// Whether the order goes against the position (reduces, closes or
    /// reverses it).
    pub fn reduces(&self) -> bool {
        !self.position.quantity.is_zero()
            && self.position.quantity.is_sign_positive() != (self.side == Side::Buy)
    }

    /// How the sizing step reads in the execution.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} at {}",
            self.side.word(),
            self.quantity,
            self.symbol,
            self.price
        )
    }
}

/// What sizing knows of the market and the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Market<'a> {
    pub symbol: &'a str,
    pub price: Decimal,
    pub rules: &'a InstrumentRules,
    pub position: Position,
    /// The exchange's balances (asset, free, locked); read only when
    /// [`needs_balances`] says so.
    pub balances: &'a [(String, Decimal, Decimal)],
    /// Whether the market can hold a short position (spot cannot).
    pub can_short: bool,
}

/// Whether sizing `intent` by `sizing` reads the exchange's balances.
pub fn needs_balances(sizing: SizingRule, intent: &Intent) -> bool {
    matches!(sizing, SizingRule::PercentOfBalance(_))
        && match intent.action {
            SignalAction::Buy | SignalAction::Sell => intent.target_position.is_none(),
            SignalAction::Add | SignalAction::Reverse => true,
            _ => false,
        }
}

/// The quantity the pipeline's sizing rule gives an order on `side`.
fn rule_quantity(
    sizing: SizingRule,
    intent: &Intent,
    side: Side,
    price: Decimal,
    balances: &[(String, Decimal, Decimal)],
) -> Result<Decimal, Stop> {
    Ok(match sizing {
        SizingRule::Quantity(q) => q,
        SizingRule::QuoteAmount(amount) => amount / price,
        SizingRule::FromSignal => intent.quantity.ok_or_else(|| {
            Stop::Fail("sizing is from_signal, and the signal has no quantity".into())
        })?,
        SizingRule::PercentOfBalance(percent) => {
            let instrument = &intent.instrument;
            let asset = if side == Side::Buy {
                &instrument.quote
            } else {
                &instrument.base
            };
            let free = balances
                .iter()
                .find(|(a, _, _)| a == asset)
                .map(|(_, free, _)| *free)
                .unwrap_or_default();
            let amount = free * percent / Decimal::ONE_HUNDRED;
            if side == Side::Buy {
                amount / price
            } else {
                amount
            }
        }
    })
}

/// The side that opened a signed position; `None` when flat.
fn holding_side(held: Decimal) -> Option<Side> {
    if held.is_zero() {
        None
    } else if held.is_sign_positive() {
        Some(Side::Buy)
    } else {
        Some(Side::Sell)
    }
}

/// The order from `held` to `target`; with a `direction`, only an order
/// on that side (a sell alert never buys).
fn toward(
    target: Decimal,
    held: Decimal,
    direction: Option<Side>,
    symbol: &str,
) -> Result<(Side, Decimal), Stop> {
    let difference = target - held;
    let side = holding_side(difference);
    match (side, direction) {
        (Some(side), None) => Ok((side, difference.abs())),
        (Some(side), Some(alert)) if side == alert => Ok((side, difference.abs())),
        (None, _) => Err(Stop::Skip(
            SkipReason::AtTarget,
            format!("already at {target} {symbol}"),
        )),
        (Some(_), Some(alert)) => Err(Stop::Skip(
            SkipReason::AtTarget,
            format!(
                "the strategy is at {target} {symbol} and the pipeline at {held}: a {alert} alert cannot get there"
            ),
        )),
    }
}

/// Where the market cannot short, a sell closes at most the long `held`;
/// with no long, it is skipped.
fn without_short(
    side: Side,
    quantity: Decimal,
    held: Decimal,
    can_short: bool,
    symbol: &str,
) -> Result<Decimal, Stop> {
    let long = held.max(Decimal::ZERO);
    if can_short || side == Side::Buy || quantity <= long {
        Ok(quantity)
    } else if long.is_zero() {
        Err(Stop::Skip(
            SkipReason::SpotCannotShort,
            format!("{symbol} cannot be sold short, and the pipeline holds none to sell"),
        ))
    } else {
        Ok(long)
    }
}

/// Sizes the order for a signal's `intent`.
pub fn plan(
    sizing: SizingRule,
    order: &OrderPlan,
    intent: &Intent,
    market: Market<'_>,
) -> Result<Plan, Stop> {
    let Market {
        symbol,
        price,
        rules,
        position,
        balances,
        can_short,
    } = market;
    let held = position.quantity;
    let rule = |side| rule_quantity(sizing, intent, side, price, balances);
    let (side, quantity) = match intent.action {
        SignalAction::Buy | SignalAction::Sell => {
            let side = if intent.action == SignalAction::Buy {
                Side::Buy
            } else {
                Side::Sell
            };
            match intent.target_position {
                // A TradingView strategy stated where it is now: follow it,
                // but only in the alert's direction.
                Some(target) => toward(target, held, Some(side), symbol)?,
                None => (side, rule(side)?),
            }
        }
        SignalAction::Add => {
            let side = holding_side(held).ok_or_else(|| {
                Stop::Skip(
                    SkipReason::NoPosition,
                    format!("add needs a position in {symbol} to add to"),
                )
            })?;
            (side, rule(side)?)
        }
        SignalAction::Reverse => {
            let side = holding_side(held)
                .ok_or_else(|| {
                    Stop::Skip(
                        SkipReason::NoPosition,
                        format!("reverse needs a position in {symbol} to reverse"),
                    )
                })?
                .opposite();
            (side, held.abs() + rule(side)?)
        }
        SignalAction::Exit => {
            let side = holding_side(held).ok_or_else(|| {
                Stop::Skip(
                    SkipReason::NoPosition,
                    format!("nothing to close in {symbol}"),
                )
            })?;
            (side.opposite(), held.abs())
        }
        SignalAction::CloseLong | SignalAction::CloseShort => {
            let wanted = if intent.action == SignalAction::CloseLong {
                Side::Buy
            } else {
                Side::Sell
            };
            if holding_side(held) != Some(wanted) {
                return Err(Stop::Skip(
                    SkipReason::NothingToTrade,
                    format!("{}: the pipeline holds {held} {symbol}", intent.action),
                ));
            }
            (wanted.opposite(), held.abs())
        }
        SignalAction::TargetPosition => {
            let target = intent.target_position.ok_or_else(|| {
                Stop::Fail("a target_position signal needs target_position".into())
            })?;
            toward(target, held, None, symbol)?
        }
        SignalAction::Cancel => {
            return Err(Stop::Skip(
                SkipReason::NothingToTrade,
                "cancel places no order".into(),
            ));
        }
    };
    let quantity = without_short(side, quantity, held, can_short, symbol)?;
    let quantity = round_quantity(quantity, rules);
    if quantity.is_zero() || quantity < rules.min_quantity || quantity * price < rules.min_notional
    {
        return Err(Stop::Skip(
            SkipReason::BelowMinNotional,
            format!(
                "{quantity} {symbol} at {price} is below the minimum (quantity {}, notional {})",
                rules.min_quantity, rules.min_notional
            ),
        ));
    }
    let limit_price = (order.order_type == OrderType::Limit).then(|| {
        let offset = price * order.limit_offset_bps / BPS;
        let raw = if side == Side::Buy {
            price + offset
        } else {
            price - offset
        };
        round_price(raw, side, rules)
    });
    Ok(Plan {
        symbol: symbol.to_string(),
        side,
        quantity,
        price,
        limit_price,
        position,
    })
}

#[cfg(test)]
mod tests {
    use crate::{market::instrument::Instrument, model::order::TimeInForce};

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
        let nothing =
            |action, position: &str| skipped(size(fixed, &signal(action), held(position)));
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
}

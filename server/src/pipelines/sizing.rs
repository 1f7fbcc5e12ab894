//! The sizing step, as a pure function: side, quantity and price from the
//! signal's intent and the pipeline's sizing rule, rounded to the venue's
//! lot and tick, and skipped below its minimums.

use rust_decimal::Decimal;

use super::{
    overrides::{check_levels, quantity_overrides},
    risk_sizing::risked_quantity,
    spec::{OrderPlan, SizingRule},
    stop::{SkipReason, Stop},
};
use crate::{
    market::{position::Position, side::Side},
    model::{
        order::OrderType,
        signal::{Intent, SignalAction},
    },
    orders::exchanges::{InstrumentRules, round_price, round_quantity, tradable_position},
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
    matches!(
        sizing,
        SizingRule::PercentOfBalance(_) | SizingRule::RiskPercent(_)
    ) && match intent.action {
        SignalAction::Buy | SignalAction::Sell => intent.target_position.is_none(),
        SignalAction::Add | SignalAction::Reverse => true,
        _ => false,
    }
}

/// The quantity the pipeline's sizing rule gives an order on `side`.
fn rule_quantity(
    sizing: SizingRule,
    order: &OrderPlan,
    intent: &Intent,
    side: Side,
    market: &Market<'_>,
) -> Result<Decimal, Stop> {
    let (price, balances) = (market.price, market.balances);
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
        SizingRule::RiskPercent(percent) => {
            risked_quantity(percent, order, &intent.instrument, side, market)?
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

/// The side of the open position `held`, or a `no_position` skip: `action`
/// needs a position.
fn open_side(held: Decimal, action: SignalAction, symbol: &str) -> Result<Side, Stop> {
    holding_side(held).ok_or_else(|| {
        Stop::Skip(
            SkipReason::NoPosition,
            format!("{action} needs a position in {symbol}, and there is none"),
        )
    })
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

/// The part of the position `held` a closing `intent` closes: its exit
/// percent of it, or all of it (rounded down to the lot later).
fn closing_share(held: Decimal, intent: &Intent) -> Decimal {
    match intent.exit_percent {
        Some(percent) => held.abs() * percent / Decimal::ONE_HUNDRED,
        None => held.abs(),
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
        can_short,
        ..
    } = market;
    // Dust below the lot is no position: it can be neither sold nor
    // protected.
    let held = tradable_position(position.quantity, rules);
    let rule = |side| rule_quantity(sizing, order, intent, side, &market);
    // An entry's own quantity overrides the rule.
    let entry = |side| match intent.quantity.filter(|_| quantity_overrides(intent)) {
        Some(quantity) => Ok(quantity),
        None => rule(side),
    };
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
                None => (side, entry(side)?),
            }
        }
        SignalAction::Add => {
            let side = open_side(held, intent.action, symbol)?;
            (side, entry(side)?)
        }
        SignalAction::Reverse => {
            let side = open_side(held, intent.action, symbol)?.opposite();
            (side, held.abs() + rule(side)?)
        }
        SignalAction::Exit => (
            open_side(held, intent.action, symbol)?.opposite(),
            closing_share(held, intent),
        ),
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
            (wanted.opposite(), closing_share(held, intent))
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
    // An alert's own limit price, or the pipeline's offset from the price.
    let limit_price = (order.order_type == OrderType::Limit).then(|| {
        let raw = intent.overrides.limit_price.unwrap_or_else(|| {
            let offset = price * order.limit_offset_bps / BPS;
            if side == Side::Buy {
                price + offset
            } else {
                price - offset
            }
        });
        round_price(raw, side, rules)
    });
    check_levels(&intent.overrides, side, limit_price.unwrap_or(price))?;
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
mod tests;

//! The risk step, as a pure function: a sized order against the
//! pipeline's limits and its recent history.

use std::time::Duration;

use super::{sizing::Plan, spec::RiskLimits, stop::RiskRule};
use crate::market::side::Side;
use rust_decimal::Decimal;

/// What risk knows of the pipeline's recent trading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct History {
    /// Orders placed in the last minute.
    pub orders_last_minute: u64,
    /// Realised profit (negative: loss) today.
    pub realized_today: Decimal,
    /// Milliseconds since the last fill, if there was one.
    pub since_last_fill_ms: Option<i64>,
}

/// Why risk refused an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A limit was hit (a rejection), with a detail for people.
    Rule(RiskRule, String),
    /// The pipeline filled too recently (a skip).
    Cooldown(String),
}

/// The sides, size and exposure of `plan` (checked before the history).
pub fn check_order(limits: &RiskLimits, plan: &Plan) -> Result<(), Refusal> {
    let reject = |rule, detail| Err(Refusal::Rule(rule, detail));
    if !limits.allowed_sides.is_empty() && !limits.allowed_sides.contains(&plan.side) {
        return reject(
            RiskRule::AllowedSides,
            format!("{} orders are not allowed", plan.side.word()),
        );
    }
    let notional = plan.quantity * plan.limit_price.unwrap_or(plan.price);
    if let Some(max) = limits.max_order_notional
        && notional > max
    {
        return reject(
            RiskRule::MaxOrderNotional,
            format!("{notional} is above {max}"),
        );
    }
    if let Some(max) = limits.max_position {
        let signed = if plan.side == Side::Sell {
            -plan.quantity
        } else {
            plan.quantity
        };
        let after = plan.position.quantity + signed;
        if after.abs() > max && after.abs() > plan.position.quantity.abs() {
            return reject(
                RiskRule::MaxPosition,
                format!("the position would be {after}, beyond {max}"),
            );
        }
    }
    Ok(())
}

/// The order rate, daily loss and cooldown, from the pipeline's history.
pub fn check_history(limits: &RiskLimits, history: &History) -> Result<(), Refusal> {
    let recent = history.orders_last_minute;
    if limits.max_orders_per_minute > 0 && recent >= u64::from(limits.max_orders_per_minute) {
        return Err(Refusal::Rule(
            RiskRule::MaxOrdersPerMinute,
            format!("{recent} orders in the last minute"),
        ));
    }
    if let Some(limit) = limits.daily_loss_limit
        && history.realized_today <= -limit
    {
        return Err(Refusal::Rule(
            RiskRule::DailyLossLimit,
            format!("realised {} today, limit {limit}", history.realized_today),
        ));
    }
    if !limits.cooldown.is_zero()
        && let Some(since) = history.since_last_fill_ms
        && since < millis(limits.cooldown)
    {
        return Err(Refusal::Cooldown(format!("last fill {since} ms ago")));
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::position::Position;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn buy(quantity: &str, held: &str) -> Plan {
        Plan {
            symbol: "BINANCE:BTC/USDT".into(),
            side: Side::Buy,
            quantity: d(quantity),
            price: d("100"),
            limit_price: None,
            position: Position {
                quantity: d(held),
                ..Default::default()
            },
        }
    }

    fn rule(result: Result<(), Refusal>) -> Option<RiskRule> {
        match result {
            Err(Refusal::Rule(rule, _)) => Some(rule),
            _ => None,
        }
    }

    #[test]
    fn no_limits_pass_everything() {
        let limits = RiskLimits::default();
        assert_eq!(check_order(&limits, &buy("1000", "0")), Ok(()));
        let busy = History {
            orders_last_minute: 1000,
            realized_today: d("-1000000"),
            since_last_fill_ms: Some(0),
        };
        assert_eq!(check_history(&limits, &busy), Ok(()));
    }

    #[test]
    fn allowed_sides_rejects_the_other_side() {
        let limits = RiskLimits {
            allowed_sides: vec![Side::Sell],
            ..Default::default()
        };
        assert_eq!(
            check_order(&limits, &buy("1", "0")),
            Err(Refusal::Rule(
                RiskRule::AllowedSides,
                "buy orders are not allowed".into()
            ))
        );
        let mut sell = buy("1", "0");
        sell.side = Side::Sell;
        assert_eq!(check_order(&limits, &sell), Ok(()));
    }

    #[test]
    fn size_limits_reject_what_is_beyond_them() {
        let notional = RiskLimits {
            max_order_notional: Some(d("100")),
            ..Default::default()
        };
        let position = RiskLimits {
            max_position: Some(d("2")),
            ..Default::default()
        };
        let mut above_limit_price = buy("1", "0");
        above_limit_price.limit_price = Some(d("101"));
        let cases = [
            (&notional, buy("1", "0"), None),
            (
                &notional,
                buy("1.01", "0"),
                Some(RiskRule::MaxOrderNotional),
            ),
            (
                &notional,
                above_limit_price,
                Some(RiskRule::MaxOrderNotional),
            ),
            (&position, buy("1", "1"), None),
            (&position, buy("1.5", "1"), Some(RiskRule::MaxPosition)),
            // Already beyond the limit (short 5): buying back shrinks it.
            (&position, buy("1", "-5"), None),
        ];
        for (limits, plan, expected) in cases {
            let result = check_order(limits, &plan);
            assert_eq!(rule(result.clone()), expected, "{plan:?}");
            assert_eq!(result.is_ok(), expected.is_none());
        }
    }

    #[test]
    fn max_orders_per_minute_rejects_at_the_limit() {
        let limits = RiskLimits {
            max_orders_per_minute: 3,
            ..Default::default()
        };
        let at = |orders_last_minute| History {
            orders_last_minute,
            ..Default::default()
        };
        assert_eq!(check_history(&limits, &at(2)), Ok(()));
        assert_eq!(
            rule(check_history(&limits, &at(3))),
            Some(RiskRule::MaxOrdersPerMinute)
        );
    }

    #[test]
    fn daily_loss_limit_rejects_once_the_loss_reaches_it() {
        let limits = RiskLimits {
            daily_loss_limit: Some(d("50")),
            ..Default::default()
        };
        let lost = |realized_today: &str| History {
            realized_today: d(realized_today),
            ..Default::default()
        };
        assert_eq!(check_history(&limits, &lost("-49.99")), Ok(()));
        assert_eq!(check_history(&limits, &lost("80")), Ok(()));
        assert_eq!(
            rule(check_history(&limits, &lost("-50"))),
            Some(RiskRule::DailyLossLimit)
        );
    }

    #[test]
    fn cooldown_skips_until_it_has_passed() {
        let limits = RiskLimits {
            cooldown: Duration::from_secs(60),
            ..Default::default()
        };
        let since = |ms| History {
            since_last_fill_ms: ms,
            ..Default::default()
        };
        assert_eq!(
            check_history(&limits, &since(Some(59_999))),
            Err(Refusal::Cooldown("last fill 59999 ms ago".into()))
        );
        assert_eq!(check_history(&limits, &since(Some(60_000))), Ok(()));
        assert_eq!(check_history(&limits, &since(None)), Ok(()));
    }
}

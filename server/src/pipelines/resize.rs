//! A take-profit that executed in part resizes its bracket: the venue
//! expired its stop on the first fill (Binance's OCO rule, which paper
//! follows), or the stop still holds the whole share. The take-profit's
//! remainder and the stop are replaced by a new OCO group for what is
//! left, at the same prices, through the desk's replace (stored first,
//! the old group retired once), so that the rest of the position keeps a
//! stop.

use rust_decimal::Decimal;

use super::{Pipelines, keeper::follow, spec::Compiled, worker::pipeline_audit};
use crate::{
    audit::AuditEntry,
    market::side::Side,
    model::order::{Order, OrderRole, OrderStatus},
    orders::{
        desk::client_order_id,
        exchanges::{InstrumentRules, round_quantity},
    },
};

impl Pipelines {
    /// Resizes the bracket of `target`, a take-profit that executed in
    /// part, unless its stop already holds no more than the remainder or
    /// the remainder is below the venue's minimums (then the take-profit's
    /// remainder is left alone). While the market is not between the two
    /// legs it waits (the keeper's tick asks again). Idempotent: the new
    /// legs' request ids name the take-profit and how much of it had
    /// filled.
    pub(super) async fn resize_after_partial_target(&self, compiled: &Compiled, target: &Order) {
        if target.origin.role != Some(OrderRole::TakeProfit)
            || target.status != OrderStatus::PartiallyFilled
            || target.origin.oco_group.is_empty()
        {
            return;
        }
        let Some(stop) = self
            .oco_group_of(target)
            .await
            .into_iter()
            .find(|o| o.origin.role == Some(OrderRole::StopLoss))
        else {
            return;
        };
        if stop.status.is_open() && stop.quantity <= target.quantity - target.filled_quantity {
            return;
        }
        let exchange = match self.desk.exchange(&target.exchange, &target.account) {
            Ok(exchange) => exchange,
            Err(err) => {
                tracing::warn!(target = %target.id, error = %err, "take-profit on an unknown exchange");
                return;
            }
        };
        let (rules, market) = match (
            exchange.rules(target.symbol()).await,
            exchange.last_price(target.symbol()).await,
        ) {
            (Ok(rules), Ok(Some(market))) => (rules, market),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(target = %target.id, error = %err, "cannot read the lot or the price; the bracket is resized later");
                return;
            }
            (Ok(_), Ok(None)) => return,
        };
        let Some(remaining) = remaining_quantity(target, &rules) else {
            tracing::debug!(target = %target.id, "the take-profit's remainder is below the venue's minimums; left as it is");
            return;
        };
        if !between_legs(market, &stop, target) {
            tracing::debug!(target = %target.id, %market, "a new OCO group would execute at once; the bracket is resized once the price leaves its legs");
            return;
        }
        let filled = target.filled_quantity.normalize();
        let request_id = |order: &Order| format!("{}:resize:{filled}", order.id);
        let group = client_order_id(&format!("{}:group", request_id(target)));
        let legs = [&stop, target].map(|order| {
            let (mut request, origin) = follow(order, &request_id(order), &group, None);
            request.quantity = remaining;
            (request, origin)
        });
        let audit = AuditEntry {
            detail: format!(
                "take-profit {} executed {filled} of {}: its remainder and stop {} replaced by an OCO group for {remaining} (resize)",
                target.id, target.quantity, stop.id
            ),
            ..pipeline_audit(compiled, "")
        };
        match self.desk.replace(&target.id, legs.to_vec(), audit).await {
            // A resize that waited for the price missed the take-profit's
            // breakeven move: the new stop makes it.
            Ok(_) if compiled.order.breakeven => {
                self.move_to_breakeven(compiled, &target.origin.bracket_id)
                    .await
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(target = %target.id, error = %err, "bracket not resized"),
        }
    }
}

/// Whether `market` lies strictly between the stop and the take-profit,
/// so that a venue accepts them as a new OCO group (neither would execute
/// at once): right after a partial take-profit the market sits at its
/// price.
fn between_legs(market: Decimal, stop: &Order, target: &Order) -> bool {
    let (Some(trigger), Some(limit)) = (stop.stop_price, target.price) else {
        return false;
    };
    match target.side {
        Side::Sell => trigger < market && market < limit,
        Side::Buy => limit < market && market < trigger,
    }
}

/// What of a take-profit is left to protect, rounded down to the lot;
/// `None` when that is below the venue's minimum quantity or notional
/// (at the take-profit's price).
fn remaining_quantity(target: &Order, rules: &InstrumentRules) -> Option<Decimal> {
    let remaining = round_quantity(target.quantity - target.filled_quantity, rules);
    let price = target.price.unwrap_or_default();
    let too_small = remaining <= Decimal::ZERO
        || remaining < rules.min_quantity
        || remaining * price < rules.min_notional;
    (!too_small).then_some(remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::order::{OrderOrigin, OrderTicket, OrderType};

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn target(quantity: &str, filled: &str) -> Order {
        let ticket = OrderTicket {
            order_type: OrderType::Limit,
            price: Some(d("52000")),
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", d(quantity))
        };
        let mut order = Order::new(&ticket, ("binance", "default"), OrderOrigin::default(), 0);
        order.filled_quantity = d(filled);
        order
    }

    fn rules() -> InstrumentRules {
        InstrumentRules {
            tick_size: d("0.01"),
            lot_size: d("0.00001"),
            min_quantity: d("0.00001"),
            min_notional: d("5"),
        }
    }

    #[test]
    fn the_remainder_is_rounded_down_to_the_lot() {
        // 40 % of 0.02 sold: 0.012 left.
        assert_eq!(
            remaining_quantity(&target("0.02", "0.008"), &rules()),
            Some(d("0.012"))
        );
        // 0.0200037 - 0.008 = 0.0120037, down to the lot of 0.00001.
        assert_eq!(
            remaining_quantity(&target("0.0200037", "0.008"), &rules()),
            Some(d("0.012"))
        );
    }

    #[test]
    fn a_new_group_waits_until_the_market_is_between_its_legs() {
        let stop = Order {
            stop_price: Some(d("49000")),
            ..target("0.02", "0")
        };
        let take_profit = target("0.02", "0.008");
        assert!(between_legs(d("50000"), &stop, &take_profit));
        // At the take-profit's price (where it just traded), or at the stop.
        assert!(!between_legs(d("52000"), &stop, &take_profit));
        assert!(!between_legs(d("49000"), &stop, &take_profit));
    }

    #[test]
    fn a_remainder_below_the_minimums_is_left_alone() {
        // 0.00009 at 52,000 is 4.68 USDT, under the 5 USDT notional.
        assert_eq!(
            remaining_quantity(&target("0.02", "0.01991"), &rules()),
            None
        );
        // Under one lot.
        assert_eq!(
            remaining_quantity(&target("0.02", "0.019995"), &rules()),
            None
        );
        assert_eq!(remaining_quantity(&target("0.02", "0.02"), &rules()), None);
    }
}

//! Alert overrides in a pipeline: an entry alert's order type, limit
//! price, stop-loss, take-profit and quantity replace the pipeline's own,
//! and the risk step still checks the order they make. A pipeline with
//! `forbid_overrides` skips a signal that carries any.

use rust_decimal::Decimal;

use super::{
    Pipelines,
    spec::{Compiled, Level, OrderPlan, SizingRule},
    stop::{SkipReason, Stop},
};
use crate::{
    market::side::Side,
    model::signal::{Intent, Overrides, Signal, SignalAction},
};

/// Whether `intent`'s quantity replaces the pipeline's sizing rule: on a
/// buy, sell or add that does not follow a position the strategy stated.
pub(super) fn quantity_overrides(intent: &Intent) -> bool {
    intent.quantity.is_some()
        && intent.target_position.is_none()
        && matches!(
            intent.action,
            SignalAction::Buy | SignalAction::Sell | SignalAction::Add
        )
}

/// Checks that an alert's stop-loss and take-profit sit on their sides of
/// an entry on `side` at `entry` (intake cannot tell the side of an add or
/// a reverse, nor the price of an alert that sent none).
pub(super) fn check_levels(overrides: &Overrides, side: Side, entry: Decimal) -> Result<(), Stop> {
    let buys = side == Side::Buy;
    for (name, level, below) in [
        ("stop_loss", overrides.stop_loss, buys),
        ("take_profit", overrides.take_profit, !buys),
    ] {
        let Some(level) = level else { continue };
        if (below && level >= entry) || (!below && level <= entry) {
            let where_ = if below { "below" } else { "above" };
            return Err(Stop::Fail(format!(
                "the alert's {name} {level} is not {where_} the {} entry at {entry}",
                side.word()
            )));
        }
    }
    Ok(())
}

/// The alert fields of `intent` that change what `compiled` would do: its
/// overrides, and its quantity unless the pipeline sizes from the signal.
fn overriding_fields(compiled: &Compiled, intent: &Intent) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if quantity_overrides(intent) && compiled.sizing != SizingRule::FromSignal {
        fields.push("quantity");
    }
    fields.extend(intent.overrides.fields());
    fields
}

/// The pipeline as `signal` runs it: `compiled` with the signal's
/// overrides applied, or an `overrides_forbidden` skip naming the fields
/// when the pipeline forbids them.
pub(super) fn applied(compiled: &Compiled, signal: &Signal) -> Result<Compiled, Stop> {
    let Some(intent) = &signal.intent else {
        return Ok(compiled.clone());
    };
    if compiled.forbid_overrides {
        let fields = overriding_fields(compiled, intent);
        if !fields.is_empty() {
            return Err(Stop::Skip(
                SkipReason::OverridesForbidden,
                format!(
                    "the pipeline forbids alert overrides, and the alert sets {}",
                    fields.join(", ")
                ),
            ));
        }
    }
    Ok(with_overrides(compiled, &intent.overrides))
}

/// `compiled` with its order changed by `overrides`.
fn with_overrides(compiled: &Compiled, overrides: &Overrides) -> Compiled {
    Compiled {
        order: overridden(&compiled.order, overrides),
        ..compiled.clone()
    }
}

/// `order` with `overrides`: their order type; their stop-loss instead of
/// the stop and the trailing stop; their take-profit as the one target for
/// the whole quantity.
fn overridden(order: &OrderPlan, overrides: &Overrides) -> OrderPlan {
    let mut order = order.clone();
    if let Some(order_type) = overrides.order_type {
        order.order_type = order_type;
    }
    if let Some(stop) = overrides.stop_loss {
        order.stop_loss = Some(Level::Price(stop));
        order.trailing_stop = None;
    }
    if let Some(target) = overrides.take_profit {
        order.take_profits = vec![(Level::Price(target), Decimal::ONE_HUNDRED)];
    }
    order
}

impl Pipelines {
    /// `compiled` as the signal `signal_id` runs it, for the steps that
    /// follow an order after its execution (a late bracket, an approval);
    /// the pipeline as it is when the signal cannot be read.
    pub(super) async fn as_signal_runs(&self, compiled: &Compiled, signal_id: &str) -> Compiled {
        match self.store.get_signal(signal_id).await {
            Ok(Some(signal)) => match &signal.intent {
                Some(intent) => with_overrides(compiled, &intent.overrides),
                None => compiled.clone(),
            },
            Ok(None) => compiled.clone(),
            Err(err) => {
                tracing::warn!(signal = %signal_id, error = %err, "cannot read the signal's overrides");
                compiled.clone()
            }
        }
    }

    /// Whether the stop-loss placed for signal `signal_id` may trail: not
    /// when the alert set its own stop-loss.
    pub(super) async fn may_trail(&self, signal_id: &str) -> bool {
        !matches!(
            self.store.get_signal(signal_id).await,
            Ok(Some(signal)) if signal.intent.as_ref().is_some_and(|i| i.overrides.stop_loss.is_some())
        )
    }
}

#[cfg(test)]
mod tests;

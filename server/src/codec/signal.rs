//! Signals on the wire and in the store's bodies.

use tradeplane_api as pb;

use super::{CodecError, enums::Mirrored, millis, optional_decimal, optional_text, timestamp};
use crate::model::{
    order::OrderType,
    signal::{
        FieldViolation, Intent, MarketPosition, Overrides, Signal, SignalAction, SignalOutcome,
        StrategyPosition,
    },
};

impl From<&Signal> for pb::Signal {
    fn from(signal: &Signal) -> Self {
        let mut wire = pb::Signal {
            id: signal.id.clone(),
            source: signal.source.clone(),
            strategy: signal.strategy.clone(),
            raw_symbol: signal.raw_symbol.clone(),
            raw_action: signal.raw_action.clone(),
            strategy_order_id: signal.strategy_order_id.clone(),
            comment: signal.comment.clone(),
            interval: signal.interval.clone(),
            receive_time: timestamp(signal.receive_time_ms),
            tags: signal
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            outcome: signal.outcome.number(),
            reject_reason: signal.reject_reason.clone(),
            field_violations: signal
                .field_violations
                .iter()
                .map(|v| pb::FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                    reason: v.reason.clone(),
                })
                .collect(),
            trace_id: signal.trace_id.clone(),
            idempotency_key: signal.idempotency_key.clone(),
            ..Default::default()
        };
        if let Some(intent) = &signal.intent {
            wire.instrument = Some((&intent.instrument).into());
            wire.action = intent.action.number();
            wire.quantity = optional_text(intent.quantity);
            wire.price = optional_text(intent.price);
            wire.confidence = optional_text(intent.confidence);
            wire.target_position = optional_text(intent.target_position);
            wire.event_time = intent.event_time_ms.and_then(timestamp);
            wire.exit_percent = optional_text(intent.exit_percent);
            wire.overrides =
                (intent.overrides != Overrides::default()).then(|| (&intent.overrides).into());
            if let Some(stated) = &intent.strategy_position {
                wire.market_position = stated.market_position.number();
                wire.position_size = optional_text(stated.size);
            }
        }
        wire
    }
}

impl TryFrom<pb::Signal> for Signal {
    type Error = CodecError;

    fn try_from(signal: pb::Signal) -> Result<Self, CodecError> {
        let outcome = SignalOutcome::required(signal.outcome, "outcome")?;
        let intent = match outcome {
            SignalOutcome::Rejected => None,
            SignalOutcome::Accepted | SignalOutcome::Duplicate => Some(Intent {
                instrument: signal
                    .instrument
                    .ok_or(CodecError::Missing {
                        field: "instrument",
                    })?
                    .try_into()?,
                action: SignalAction::required(signal.action, "action")?,
                quantity: optional_decimal(&signal.quantity, "quantity")?,
                price: optional_decimal(&signal.price, "price")?,
                confidence: optional_decimal(&signal.confidence, "confidence")?,
                target_position: optional_decimal(&signal.target_position, "target_position")?,
                event_time_ms: signal.event_time.as_ref().map(|t| millis(Some(t))),
                exit_percent: optional_decimal(&signal.exit_percent, "exit_percent")?,
                overrides: signal
                    .overrides
                    .map(Overrides::try_from)
                    .transpose()?
                    .unwrap_or_default(),
                strategy_position: MarketPosition::optional(
                    signal.market_position,
                    "market_position",
                )?
                .map(|market_position| {
                    Ok::<_, CodecError>(StrategyPosition {
                        market_position,
                        size: optional_decimal(&signal.position_size, "position_size")?,
                    })
                })
                .transpose()?,
            }),
        };
        Ok(Signal {
            receive_time_ms: millis(signal.receive_time.as_ref()),
            tags: signal.tags.into_iter().collect(),
            field_violations: signal
                .field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                    reason: v.reason,
                })
                .collect(),
            id: signal.id,
            source: signal.source,
            strategy: signal.strategy,
            raw_symbol: signal.raw_symbol,
            raw_action: signal.raw_action,
            strategy_order_id: signal.strategy_order_id,
            comment: signal.comment,
            interval: signal.interval,
            trace_id: signal.trace_id,
            idempotency_key: signal.idempotency_key,
            outcome,
            intent,
            reject_reason: signal.reject_reason,
        })
    }
}

impl From<&Overrides> for pb::AlertOverrides {
    fn from(overrides: &Overrides) -> Self {
        pb::AlertOverrides {
            order_type: overrides
                .order_type
                .map(Mirrored::number)
                .unwrap_or_default(),
            limit_price: optional_text(overrides.limit_price),
            stop_loss: optional_text(overrides.stop_loss),
            take_profit: optional_text(overrides.take_profit),
        }
    }
}

impl TryFrom<pb::AlertOverrides> for Overrides {
    type Error = CodecError;

    fn try_from(wire: pb::AlertOverrides) -> Result<Self, CodecError> {
        Ok(Overrides {
            order_type: OrderType::optional(wire.order_type, "overrides.order_type")?,
            limit_price: optional_decimal(&wire.limit_price, "overrides.limit_price")?,
            stop_loss: optional_decimal(&wire.stop_loss, "overrides.stop_loss")?,
            take_profit: optional_decimal(&wire.take_profit, "overrides.take_profit")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::market::instrument::Instrument;

    fn accepted() -> Signal {
        Signal {
            id: "s".into(),
            source: "tradingview".into(),
            strategy: "momentum".into(),
            raw_symbol: "BTCUSDT".into(),
            raw_action: "target_position".into(),
            strategy_order_id: "o".into(),
            comment: String::new(),
            interval: "5".into(),
            receive_time_ms: 1_000,
            tags: [("desk".to_string(), "a".to_string())].into(),
            trace_id: String::new(),
            idempotency_key: "k".into(),
            outcome: SignalOutcome::Accepted,
            intent: Some(Intent {
                instrument: Instrument::spot("BTC", "USDT"),
                action: SignalAction::TargetPosition,
                quantity: None,
                price: Some(Decimal::new(650001, 1)),
                confidence: None,
                target_position: Some(Decimal::ZERO),
                strategy_position: Some(StrategyPosition {
                    market_position: MarketPosition::Flat,
                    size: Some(Decimal::ZERO),
                }),
                event_time_ms: Some(900),
                exit_percent: Some(Decimal::new(50, 0)),
                overrides: Overrides {
                    order_type: Some(OrderType::Limit),
                    limit_price: Some(Decimal::new(64000, 0)),
                    stop_loss: Some(Decimal::new(63000, 0)),
                    take_profit: None,
                },
            }),
            reject_reason: String::new(),
            field_violations: Vec::new(),
        }
    }

    #[test]
    fn signals_survive_the_wire() {
        let signal = accepted();
        let wire = pb::Signal::from(&signal);
        assert_eq!(
            (wire.price.as_str(), wire.target_position.as_str()),
            ("65000.1", "0")
        );
        assert_eq!(
            (wire.market_position, wire.position_size.as_str()),
            (pb::MarketPosition::Flat as i32, "0")
        );
        let overrides = wire.overrides.clone().unwrap_or_default();
        assert_eq!(
            (overrides.order_type, overrides.limit_price.as_str()),
            (pb::OrderType::Limit as i32, "64000")
        );
        assert_eq!(Signal::try_from(wire), Ok(signal));
        let rejected = Signal {
            outcome: SignalOutcome::Rejected,
            intent: None,
            reject_reason: "bad_symbol".into(),
            field_violations: vec![FieldViolation {
                field: "symbol".into(),
                description: "cannot tell base from quote".into(),
                reason: "bad_symbol".into(),
            }],
            ..accepted()
        };
        assert_eq!(Signal::try_from(pb::Signal::from(&rejected)), Ok(rejected));
    }

    #[test]
    fn an_accepted_signal_without_an_action_is_corrupt() {
        let mut wire = pb::Signal::from(&accepted());
        wire.action = 0;
        assert_eq!(
            Signal::try_from(wire),
            Err(CodecError::Missing { field: "action" })
        );
    }
}

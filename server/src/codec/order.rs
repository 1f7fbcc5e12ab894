//! Orders on the wire and in the store's bodies.

use tradeplane_api as pb;

use super::{
    CodecError, decimal, decimal_text, enums::Mirrored, millis, optional_decimal, optional_text,
    timestamp,
};
use crate::{
    market::{account, side::Side},
    model::order::{
        AttachedExits, Attachment, Fill, Order, OrderOrigin, OrderRole, OrderStatus, OrderType,
        TimeInForce, Transition,
    },
};

impl From<&Order> for pb::Order {
    fn from(order: &Order) -> Self {
        pb::Order {
            id: order.id.clone(),
            client_order_id: order.client_order_id.clone(),
            exchange: order.exchange.clone(),
            account: order.account.clone(),
            exchange_order_id: order.exchange_order_id.clone(),
            instrument: Some((&order.instrument).into()),
            side: order.side.number(),
            r#type: order.order_type.number(),
            time_in_force: order.time_in_force.number(),
            quantity: decimal_text(order.quantity),
            price: optional_text(order.price),
            stop_price: optional_text(order.stop_price),
            status: order.status.number(),
            filled_quantity: decimal_text(order.filled_quantity),
            average_fill_price: optional_text(order.average_fill_price),
            fee_total: if order.fills.is_empty() {
                String::new()
            } else {
                decimal_text(order.fee_total)
            },
            fee_asset: order.fee_asset.clone(),
            reference_price: optional_text(order.reference_price),
            execution_id: order.origin.execution_id.clone(),
            signal_id: order.origin.signal_id.clone(),
            pipeline_id: order.origin.pipeline_id.clone(),
            role: order.origin.role.map_or(0, Mirrored::number),
            bracket_id: order.origin.bracket_id.clone(),
            oco_group: order.origin.oco_group.clone(),
            replaces: order.origin.replaces.clone(),
            trailing_delta_bips: order.trailing_delta_bips.unwrap_or(0),
            reduce_only: order.reduce_only,
            attached_exits: Attachment::exits(&order.attachment).map(exits_to_proto),
            attached_to: Attachment::entry(&order.attachment)
                .unwrap_or_default()
                .to_string(),
            fills: order.fills.iter().map(fill_to_proto).collect(),
            transitions: order
                .transitions
                .iter()
                .map(|t| pb::OrderTransition {
                    status: t.status.number(),
                    time: timestamp(t.time_ms),
                    note: t.note.clone(),
                })
                .collect(),
            status_reason: order.status_reason.clone(),
            create_time: timestamp(order.create_time_ms),
            update_time: timestamp(order.update_time_ms),
        }
    }
}

fn fill_to_proto(fill: &Fill) -> pb::Fill {
    pb::Fill {
        trade_id: fill.trade_id.clone(),
        quantity: decimal_text(fill.quantity),
        price: decimal_text(fill.price),
        fee: decimal_text(fill.fee),
        fee_asset: fill.fee_asset.clone(),
        time: timestamp(fill.time_ms),
    }
}

fn fill_from_proto(fill: pb::Fill) -> Result<Fill, CodecError> {
    Ok(Fill {
        quantity: decimal(&fill.quantity, "fills.quantity")?,
        price: decimal(&fill.price, "fills.price")?,
        fee: optional_decimal(&fill.fee, "fills.fee")?.unwrap_or_default(),
        time_ms: millis(fill.time.as_ref()),
        trade_id: fill.trade_id,
        fee_asset: fill.fee_asset,
    })
}

/// The exits an entry carries, on the wire.
pub(super) fn exits_to_proto(exits: &AttachedExits) -> pb::AttachedExits {
    pb::AttachedExits {
        group: exits.group.clone(),
        stop_price: decimal_text(exits.stop_price),
        target_price: decimal_text(exits.target_price),
    }
}

/// The exits an entry carries, read back; both prices are required.
pub(super) fn exits_from_proto(exits: pb::AttachedExits) -> Result<AttachedExits, CodecError> {
    Ok(AttachedExits {
        stop_price: decimal(&exits.stop_price, "attached_exits.stop_price")?,
        target_price: decimal(&exits.target_price, "attached_exits.target_price")?,
        group: exits.group,
    })
}

/// An order's attachment: exits it carries, or the entry it is an exit
/// of; never both.
fn attachment_from_proto(
    exits: Option<pb::AttachedExits>,
    attached_to: &str,
) -> Result<Option<Attachment>, CodecError> {
    match (exits, attached_to) {
        (None, "") => Ok(None),
        (None, entry) => Ok(Some(Attachment::ExitOf(entry.to_string()))),
        (Some(exits), "") => Ok(Some(Attachment::Exits(exits_from_proto(exits)?))),
        (Some(_), _) => Err(CodecError::Invalid {
            field: "attached_to",
            reason: "an entry that carries exits is not itself an attached exit".into(),
        }),
    }
}

impl TryFrom<pb::Order> for Order {
    type Error = CodecError;

    fn try_from(order: pb::Order) -> Result<Self, CodecError> {
        let transitions = order
            .transitions
            .iter()
            .map(|t| {
                Ok(Transition {
                    status: OrderStatus::required(t.status, "transitions.status")?,
                    time_ms: millis(t.time.as_ref()),
                    note: t.note.clone(),
                })
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(Order {
            instrument: order
                .instrument
                .ok_or(CodecError::Missing {
                    field: "instrument",
                })?
                .try_into()?,
            side: Side::required(order.side, "side")?,
            order_type: OrderType::required(order.r#type, "type")?,
            time_in_force: TimeInForce::required(order.time_in_force, "time_in_force")?,
            quantity: decimal(&order.quantity, "quantity")?,
            price: optional_decimal(&order.price, "price")?,
            stop_price: optional_decimal(&order.stop_price, "stop_price")?,
            reference_price: optional_decimal(&order.reference_price, "reference_price")?,
            trailing_delta_bips: Some(order.trailing_delta_bips).filter(|bips| *bips > 0),
            reduce_only: order.reduce_only,
            attachment: attachment_from_proto(order.attached_exits, &order.attached_to)?,
            status: OrderStatus::required(order.status, "status")?,
            filled_quantity: optional_decimal(&order.filled_quantity, "filled_quantity")?
                .unwrap_or_default(),
            average_fill_price: optional_decimal(&order.average_fill_price, "average_fill_price")?,
            fee_total: optional_decimal(&order.fee_total, "fee_total")?.unwrap_or_default(),
            fills: order
                .fills
                .into_iter()
                .map(fill_from_proto)
                .collect::<Result<_, _>>()?,
            transitions,
            create_time_ms: millis(order.create_time.as_ref()),
            update_time_ms: millis(order.update_time.as_ref()),
            origin: OrderOrigin {
                pipeline_id: order.pipeline_id,
                execution_id: order.execution_id,
                signal_id: order.signal_id,
                role: OrderRole::optional(order.role, "role")?,
                bracket_id: order.bracket_id,
                oco_group: order.oco_group,
                replaces: order.replaces,
            },
            id: order.id,
            client_order_id: order.client_order_id,
            exchange: order.exchange,
            // Orders stored before accounts existed are the default
            // account's.
            account: account::or_default(&order.account).to_string(),
            exchange_order_id: order.exchange_order_id,
            fee_asset: order.fee_asset,
            status_reason: order.status_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::model::order::{ExchangeOrder, OrderTicket};

    fn filled_order() -> Order {
        let ticket = OrderTicket {
            client_order_id: "tp-1".into(),
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Ioc,
            price: Some(Decimal::new(60000, 0)),
            reference_price: Some(Decimal::new(59990, 0)),
            trailing_delta_bips: Some(200),
            symbol: "BTC/USDT:PERP".into(),
            kind: crate::market::instrument::InstrumentKind::Perpetual,
            reduce_only: true,
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(15, 1))
        };
        let origin = OrderOrigin {
            pipeline_id: "p".into(),
            execution_id: "e".into(),
            signal_id: "s".into(),
            role: Some(OrderRole::TakeProfit),
            bracket_id: "b".into(),
            oco_group: "g".into(),
            replaces: "r".into(),
        };
        let mut order = Order::new(&ticket, ("binance", "copy_a"), origin, 1_000);
        order.apply(
            &ExchangeOrder {
                exchange_order_id: "x".into(),
                status: OrderStatus::Filled,
                fills: vec![Fill {
                    trade_id: "t".into(),
                    quantity: Decimal::new(15, 1),
                    price: Decimal::new(60001, 0),
                    fee: Decimal::new(9, 2),
                    fee_asset: "USDT".into(),
                    time_ms: 1_500,
                }],
                reason: String::new(),
            },
            2_000,
        );
        order
    }

    #[test]
    fn an_order_survives_the_wire() {
        let order = filled_order();
        let wire = pb::Order::from(&order);
        assert_eq!(wire.side, pb::Side::Sell as i32);
        assert_eq!(wire.quantity, "1.5");
        assert_eq!(wire.average_fill_price, "60001");
        assert_eq!(Order::try_from(wire), Ok(order));
    }

    #[test]
    fn attachments_survive_the_wire() {
        let mut entry = filled_order();
        entry.attachment = Some(Attachment::Exits(AttachedExits {
            group: "g".into(),
            stop_price: Decimal::new(58000, 0),
            target_price: Decimal::new(64000, 0),
        }));
        assert_eq!(Order::try_from(pb::Order::from(&entry)), Ok(entry));
        let mut leg = filled_order();
        leg.attachment = Some(Attachment::ExitOf("tp-entry".into()));
        assert_eq!(Order::try_from(pb::Order::from(&leg)), Ok(leg.clone()));
        let mut both = pb::Order::from(&leg);
        both.attached_exits = Some(pb::AttachedExits::default());
        assert!(
            Order::try_from(both)
                .unwrap_err()
                .to_string()
                .starts_with("attached_to:")
        );
    }

    #[test]
    fn unknown_numbers_and_bad_decimals_are_named() {
        let mut wire = pb::Order::from(&filled_order());
        wire.side = 999;
        assert_eq!(
            Order::try_from(wire.clone()).unwrap_err().to_string(),
            "side has no value numbered 999"
        );
        wire.side = pb::Side::Buy as i32;
        wire.quantity = "lots".into();
        assert_eq!(
            Order::try_from(wire).unwrap_err().to_string(),
            "quantity: `lots` is not a decimal"
        );
    }
}

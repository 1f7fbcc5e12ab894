//! Approvals on the wire and in the store's bodies. The held order
//! travels as the `PlaceOrderRequest` it would have been.

use tradeplane_api as pb;

use super::{
    CodecError, decimal, decimal_text, enums::Mirrored, millis, optional_decimal, optional_text,
    timestamp,
};
use crate::{
    market::side::Side,
    model::{
        approval::{Approval, ApprovalState, Decision},
        order::{Attachment, OrderOrigin, OrderRequest, OrderRole, OrderType, TimeInForce},
    },
    proto_time::ms_to_timestamp,
};

impl From<&OrderRequest> for pb::PlaceOrderRequest {
    fn from(request: &OrderRequest) -> Self {
        pb::PlaceOrderRequest {
            request_id: request.request_id.clone(),
            exchange: request.exchange.clone(),
            account: request.account.clone(),
            symbol: request.symbol.clone(),
            side: request.side.number(),
            r#type: request.order_type.number(),
            quantity: decimal_text(request.quantity),
            price: optional_text(request.price),
            stop_price: optional_text(request.stop_price),
            time_in_force: request.time_in_force.number(),
            reference_price: optional_text(request.reference_price),
            reduce_only: request.reduce_only,
        }
    }
}

/// A held order as it was stored: every enum known, every decimal exact.
fn request_from_proto(request: pb::PlaceOrderRequest) -> Result<OrderRequest, CodecError> {
    Ok(OrderRequest {
        side: Side::required(request.side, "order.side")?,
        order_type: OrderType::required(request.r#type, "order.type")?,
        time_in_force: TimeInForce::required(request.time_in_force, "order.time_in_force")?,
        quantity: decimal(&request.quantity, "order.quantity")?,
        price: optional_decimal(&request.price, "order.price")?,
        stop_price: optional_decimal(&request.stop_price, "order.stop_price")?,
        reference_price: optional_decimal(&request.reference_price, "order.reference_price")?,
        // Held orders are entries and exits, which never trail.
        trailing_delta_bips: None,
        reduce_only: request.reduce_only,
        request_id: request.request_id,
        exchange: request.exchange,
        account: request.account,
        symbol: request.symbol,
        // Exits travel beside the request, in the approval.
        attachment: None,
    })
}

impl From<&Approval> for pb::Approval {
    fn from(approval: &Approval) -> Self {
        let decision = approval.decision.as_ref();
        pb::Approval {
            id: approval.id.clone(),
            execution_id: approval.execution_id.clone(),
            pipeline_id: approval.origin.pipeline_id.clone(),
            pipeline_name: approval.pipeline_name.clone(),
            signal_id: approval.origin.signal_id.clone(),
            state: approval.state.number(),
            order: Some((&approval.request).into()),
            attached_exits: Attachment::exits(&approval.request.attachment)
                .map(super::order::exits_to_proto),
            role: approval.origin.role.map_or(0, Mirrored::number),
            create_time: timestamp(approval.create_time_ms),
            expire_time: timestamp(approval.expire_time_ms),
            decide_time: decision.map(|d| ms_to_timestamp(d.time_ms)),
            decided_by: decision.map(|d| d.by.clone()).unwrap_or_default(),
            reason: decision.map(|d| d.reason.clone()).unwrap_or_default(),
        }
    }
}

impl TryFrom<pb::Approval> for Approval {
    type Error = CodecError;

    fn try_from(approval: pb::Approval) -> Result<Self, CodecError> {
        let state = ApprovalState::required(approval.state, "state")?;
        let decision = (state != ApprovalState::Pending).then(|| Decision {
            state,
            by: approval.decided_by,
            reason: approval.reason,
            time_ms: millis(approval.decide_time.as_ref()),
        });
        let request = approval
            .order
            .ok_or(CodecError::Missing { field: "order" })?;
        let mut request = request_from_proto(request)?;
        request.attachment = approval
            .attached_exits
            .map(super::order::exits_from_proto)
            .transpose()?
            .map(Attachment::Exits);
        Ok(Approval {
            request,
            origin: OrderOrigin {
                pipeline_id: approval.pipeline_id,
                execution_id: approval.execution_id.clone(),
                signal_id: approval.signal_id,
                role: OrderRole::optional(approval.role, "role")?,
                ..Default::default()
            },
            id: approval.id,
            execution_id: approval.execution_id,
            pipeline_name: approval.pipeline_name,
            state,
            create_time_ms: millis(approval.create_time.as_ref()),
            expire_time_ms: millis(approval.expire_time.as_ref()),
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn held() -> Approval {
        Approval {
            id: "a".into(),
            execution_id: "e".into(),
            pipeline_name: "ema".into(),
            request: OrderRequest {
                request_id: "execution:e".into(),
                exchange: "paper".into(),
                account: "default".into(),
                symbol: "BTC/USDT".into(),
                side: Side::Buy,
                order_type: OrderType::Limit,
                time_in_force: TimeInForce::Ioc,
                quantity: Decimal::new(15, 4),
                price: Some(Decimal::new(60000, 0)),
                stop_price: None,
                reference_price: Some(Decimal::new(60010, 0)),
                trailing_delta_bips: None,
                reduce_only: true,
                attachment: None,
            },
            origin: OrderOrigin {
                pipeline_id: "p".into(),
                execution_id: "e".into(),
                signal_id: "s".into(),
                role: Some(OrderRole::Entry),
                ..Default::default()
            },
            state: ApprovalState::Pending,
            create_time_ms: 1_000,
            expire_time_ms: 61_000,
            decision: None,
        }
    }

    #[test]
    fn an_approval_survives_the_wire_pending_and_decided() {
        let pending = held();
        let wire = pb::Approval::from(&pending);
        assert_eq!(
            wire.order.as_ref().map(|o| o.quantity.as_str()),
            Some("0.0015")
        );
        assert_eq!(Approval::try_from(wire), Ok(pending.clone()));
        let rejected = Approval {
            state: ApprovalState::Rejected,
            decision: Some(Decision {
                state: ApprovalState::Rejected,
                by: "key:ops".into(),
                reason: "too big".into(),
                time_ms: 2_000,
            }),
            ..pending
        };
        assert_eq!(
            Approval::try_from(pb::Approval::from(&rejected)),
            Ok(rejected)
        );
    }

    #[test]
    fn an_unknown_side_is_an_error_not_a_guess() {
        let mut wire = pb::Approval::from(&held());
        if let Some(order) = wire.order.as_mut() {
            order.side = 99;
        }
        let err = Approval::try_from(wire).unwrap_err();
        assert!(err.to_string().contains("order.side"), "{err}");
    }
}

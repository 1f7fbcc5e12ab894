//! Replacing a resting order (a stop moved to breakeven, a trailing stop
//! following the price): the new legs are stored first, each naming the
//! order it replaces; sending them cancels that order (and its OCO group)
//! first, and never happens if it traded. A restart between the two finds
//! the new legs unsent and finishes the job through the same path.

use std::sync::Arc;

use super::{OrderDesk, placement::Leg};
use crate::{
    audit::AuditEntry,
    model::order::{Order, OrderStatus},
    orders::error::PlaceError,
    proto_time::now_ms,
    store::{OrderQuery, StoreError},
};

impl OrderDesk {
    /// Replaces the open order `old_id` and the rest of its OCO group by
    /// `legs` (one order, or a stop and a target as a new OCO group).
    /// Idempotent by the legs' request ids; runs to its end even if the
    /// caller goes away.
    pub async fn replace(
        self: &Arc<Self>,
        old_id: &str,
        legs: Vec<Leg>,
        audit: AuditEntry,
    ) -> Result<Vec<Order>, PlaceError> {
        let desk = self.clone();
        let old_id = old_id.to_string();
        super::placement::detached(async move { desk.replace_now(&old_id, legs, audit).await })
            .await?
    }

    async fn replace_now(
        &self,
        old_id: &str,
        legs: Vec<Leg>,
        audit: AuditEntry,
    ) -> Result<Vec<Order>, PlaceError> {
        let mut prepared = Vec::with_capacity(legs.len());
        for (request, mut origin) in legs {
            origin.replaces = old_id.to_string();
            let ready = self.prepare(&request, &origin).await?;
            let order = Order::new(&ready.ticket, &ready.exchange_name, origin, now_ms());
            prepared.push((order, ready));
        }
        let Some((_, first)) = prepared.first() else {
            return Ok(Vec::new());
        };
        let exchange = first.exchange_name.clone();
        let rows: Vec<_> = prepared.iter().map(|(o, p)| (o, p)).collect();
        let fresh = self.insert(&exchange, &rows).await?.is_none();
        if fresh {
            tracing::info!(old = old_id, "replacing an order");
            let orders: Vec<Order> = prepared.iter().map(|(o, _)| o.clone()).collect();
            self.send_again(orders, audit).await;
        }
        let mut placed = Vec::with_capacity(prepared.len());
        for (_, ready) in &prepared {
            match self.store.order_for_request(&ready.request_id).await? {
                Some(order) => placed.push(order),
                None => {
                    return Err(PlaceError::Store(StoreError::Corrupt(format!(
                        "the replacement for request {} is missing",
                        ready.request_id
                    ))));
                }
            }
        }
        Ok(placed)
    }

    /// Before `legs` that replace an order are sent: cancels that order
    /// and its OCO group. Whether the legs may go: not when a replaced
    /// order traded (the position it protected moved) or could not be
    /// canceled yet (the next sync tries again).
    pub(super) async fn retire_replaced(&self, legs: &[Order]) -> Retired {
        let Some(old_id) = legs
            .first()
            .map(|o| o.origin.replaces.clone())
            .filter(|id| !id.is_empty())
        else {
            return Retired::Done;
        };
        let old = match self.get(&old_id).await {
            Ok(old) => old,
            Err(err) => return Retired::NotYet(err.to_string()),
        };
        let mut members = vec![old.clone()];
        if !old.origin.oco_group.is_empty()
            && let Ok(stored) = self
                .store
                .list_orders(&OrderQuery {
                    execution_id: Some(old.origin.execution_id.clone()),
                    limit: 1000,
                    ..Default::default()
                })
                .await
        {
            members.extend(
                stored
                    .into_iter()
                    .filter(|o| o.origin.oco_group == old.origin.oco_group && o.id != old.id),
            );
        }
        for member in members {
            let member = match self.tracked(&member.client_order_id) {
                Some(open) => match self.cancel_or_refresh(open, None).await {
                    Ok(done) => done,
                    Err(err) => return Retired::NotYet(err.to_string()),
                },
                None => member,
            };
            if member.status.is_open() {
                return Retired::NotYet(format!("order {} is still {}", member.id, member.status));
            }
            if !member.filled_quantity.is_zero() {
                return Retired::Traded(member.id);
            }
        }
        Retired::Done
    }

    /// Ends legs that must never be sent: what they replace traded first.
    pub(super) async fn drop_replacement(&self, legs: Vec<Order>, traded: &str) {
        for mut order in legs {
            let reason = format!("not sent: order {traded}, which it was to replace, traded first");
            order.transition(OrderStatus::Canceled, &reason, now_ms());
            order.status_reason = reason;
            if let Err(err) = self.record(&order, None, None).await {
                tracing::error!(error = %err, order = %order.id, "a dropped replacement was not saved");
            }
        }
    }
}

/// What became of the orders a replacement replaces.
pub(super) enum Retired {
    /// All ended untraded: the replacement may go.
    Done,
    /// One traded: the replacement must not go.
    Traded(String),
    /// One is still open: try again later.
    NotYet(String),
}

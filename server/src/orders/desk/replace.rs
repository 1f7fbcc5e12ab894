//! Replacing a resting order (a stop moved to breakeven, a trailing stop
//! following the price, the bracket of a take-profit that executed in
//! part): the new legs are stored first, each naming the order it
//! replaces; sending them cancels that order (and its OCO group) first,
//! and never happens if the group traded more than the new legs account
//! for. A restart between the two finds the new legs unsent and finishes
//! the job through the same path.

use std::sync::Arc;

use rust_decimal::Decimal;

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
        super::placement::detached(async move {
            let _op = desk.paper_ops.begin();
            desk.replace_now(&old_id, legs, audit).await
        })
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
            let order = Order::new(&ready.ticket, ready.venue(), origin, now_ms());
            prepared.push((order, ready));
        }
        let Some((_, first)) = prepared.first() else {
            return Ok(Vec::new());
        };
        let exchange = first.key.clone();
        let rows: Vec<_> = prepared.iter().map(|(o, p)| (o, p)).collect();
        let fresh = self.insert(&exchange, &rows).await?.is_none();
        if fresh {
            tracing::info!(old = old_id, "replacing an order");
            let orders: Vec<Order> = prepared.iter().map(|(o, _)| o.clone()).collect();
            // Tracked while unsent, so that the sync sends them once what
            // they replace is retired, if that cannot happen now.
            if let Ok(mut open) = self.open.lock() {
                for order in &orders {
                    open.insert(order.client_order_id.clone(), order.clone());
                }
            }
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
    /// and its OCO group. Whether the legs may go: not when the replaced
    /// orders traded more than the legs leave room for (the position they
    /// protected moved; see [`traded_beyond`]) or could not be canceled
    /// yet (the next sync tries again).
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
        let mut retired = Vec::with_capacity(members.len());
        for member in members {
            let latest = match self.latest_open(&member).await {
                Ok(latest) => latest,
                Err(err) => return Retired::NotYet(err.to_string()),
            };
            let member = match latest {
                Some(open) => match self.cancel_or_refresh(open, None).await {
                    Ok(done) => done,
                    Err(err) => return Retired::NotYet(err.to_string()),
                },
                // Ended meanwhile (a sync or a price): its stored state
                // is newer than the copy read above.
                None => match self.get(&member.id).await {
                    Ok(stored) => stored,
                    Err(err) => return Retired::NotYet(err.to_string()),
                },
            };
            if member.status.is_open() {
                return Retired::NotYet(format!("order {} is still {}", member.id, member.status));
            }
            retired.push(member);
        }
        let needed = legs.iter().map(|o| o.quantity).max().unwrap_or_default();
        match traded_beyond(&retired, needed) {
            Some(traded) => Retired::Traded(traded),
            None => Retired::Done,
        }
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

/// The id of a retired order that traded, when the retired group traded
/// more than replacement legs for `needed` leave room for. The legs of a
/// group each hold the group's one share: a replacement for `needed` may
/// go only if the group's fills and `needed` together stay within that
/// share (a moved stop needs no fill at all; the remainder of a take-profit
/// that executed in part needs no more fill than it accounts for).
fn traded_beyond(retired: &[Order], needed: Decimal) -> Option<String> {
    let share = retired.iter().map(|o| o.quantity).max()?;
    let traded: Decimal = retired.iter().map(|o| o.filled_quantity).sum();
    if traded + needed <= share {
        return None;
    }
    retired
        .iter()
        .find(|o| !o.filled_quantity.is_zero())
        .map(|o| o.id.clone())
}

/// What became of the orders a replacement replaces.
pub(super) enum Retired {
    /// All ended, leaving room for the replacement: it may go.
    Done,
    /// They traded more than the replacement accounts for (one that
    /// traded): it must not go.
    Traded(String),
    /// One is still open: try again later.
    NotYet(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        market::side::Side,
        model::order::{OrderOrigin, OrderTicket},
    };

    fn leg(quantity: &str, filled: &str) -> Order {
        let ticket = OrderTicket::market(Side::Sell, "BTC", "USDT", quantity.parse().unwrap());
        let mut order = Order::new(&ticket, ("binance", "default"), OrderOrigin::default(), 0);
        order.filled_quantity = filled.parse().unwrap();
        order
    }

    #[test]
    fn a_replacement_may_cover_only_what_its_group_did_not_trade() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // A stop moved with its untraded take-profit: the whole share.
        assert_eq!(
            traded_beyond(&[leg("0.02", "0"), leg("0.02", "0")], d("0.02")),
            None
        );
        // The take-profit sold 0.008 of 0.02: a group for 0.012 may go.
        let partial = [leg("0.02", "0"), leg("0.02", "0.008")];
        assert_eq!(traded_beyond(&partial, d("0.012")), None);
        assert_eq!(
            traded_beyond(&partial, d("0.02")),
            Some(partial[1].id.clone()),
            "a move of the whole share after a fill"
        );
        // It sold more before it was canceled: 0.012 is too much.
        let more = [leg("0.02", "0"), leg("0.02", "0.01")];
        assert_eq!(traded_beyond(&more, d("0.012")), Some(more[1].id.clone()));
    }
}

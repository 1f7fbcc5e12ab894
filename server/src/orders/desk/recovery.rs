//! Recovery: what the last run (or a replica that stopped) left open is
//! brought to a known state. An order stored as `new` never reached its
//! exchange (or the exchange has no trace of it once it can no longer
//! accept it), so it is sent again with the same client order id, unless
//! it is too old to trade on; an OCO group with a finished leg loses its
//! other legs. A leg stored as `new` whose sibling got further was placed
//! with it (the pair goes out as one; the process stopped between
//! recording the two): it shares its sibling's fate, never going out
//! alone.

use std::{collections::BTreeMap, time::Instant};

use super::{OrderDesk, placement::settle, replace::Retired};
use crate::{
    audit::AuditEntry,
    market::account::key,
    model::order::{Order, OrderRole, OrderStatus},
    orders::exchanges::{Exchange, ExchangeOrder},
    proto_time::now_ms,
    store::{OrderQuery, StoreError},
};

impl OrderDesk {
    /// Settles what the last run left open, for a process alone on its
    /// store (so nothing else is placing an order): paper orders it never
    /// sent are sent again, then [`OrderDesk::take_over`] brings the rest
    /// to a known state.
    pub async fn recover(&self) {
        let unsent = match self.open_orders().await {
            Ok(open) => open
                .into_iter()
                .filter(|o| o.exchange == self.paper.name() && o.status == OrderStatus::New)
                .collect(),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the open orders to recover; the sync tries again");
                Vec::new()
            }
        };
        self.send_again(unsent, AuditEntry::system()).await;
        self.take_over().await;
    }

    /// Settles what stopped processes left open, for the replica that
    /// takes over the upkeep of its store: open orders are brought up to
    /// what their exchanges say (and sent again when an exchange never got
    /// them, once it can no longer accept them: until then another replica
    /// may still be placing them; see [`OrderDesk::sync_open_orders`]), and
    /// OCO groups with a finished leg are closed.
    pub async fn take_over(&self) {
        let changed = self.sync_open_orders().await;
        if changed > 0 {
            tracing::info!(changed, "reconciled orders with their exchanges");
        }
        self.close_broken_groups().await;
    }

    /// Sends again orders their exchange never received, an OCO group's
    /// legs together; an order older than `resend_within` fails instead
    /// (the market it was decided in is gone). Legs that replace an order
    /// go only once it is canceled untraded (see
    /// [`OrderDesk::retire_replaced`]).
    pub(super) async fn send_again(&self, orders: Vec<Order>, audit: AuditEntry) {
        let mut groups: BTreeMap<String, Vec<Order>> = BTreeMap::new();
        for order in orders {
            if let Some(sibling) = self.placed_sibling(&order).await {
                if let Err(err) = self.follow_sibling(order, &sibling).await {
                    tracing::error!(error = %err, "an OCO leg's new state was not saved");
                }
                continue;
            }
            let key = if order.origin.oco_group.is_empty() {
                order.id.clone()
            } else {
                order.origin.oco_group.clone()
            };
            groups.entry(key).or_default().push(order);
        }
        let oldest = now_ms()
            .saturating_sub(i64::try_from(self.resend_within.as_millis()).unwrap_or(i64::MAX));
        for (_, legs) in groups {
            let result = if legs.iter().any(|o| o.create_time_ms < oldest) {
                self.give_up(legs).await
            } else {
                match self.retire_replaced(&legs).await {
                    Retired::Done => self.resend(legs, audit.clone()).await,
                    Retired::Traded(traded) => {
                        self.drop_replacement(legs, &traded).await;
                        Ok(())
                    }
                    Retired::NotYet(why) => {
                        tracing::warn!(why, "a replacement waits for the order it replaces");
                        Ok(())
                    }
                }
            };
            if let Err(err) = result {
                tracing::error!(error = %err, "an unsent order's new state was not saved");
            }
        }
    }

    async fn resend(&self, mut legs: Vec<Order>, audit: AuditEntry) -> Result<(), StoreError> {
        let Some(exchange) = legs.first().and_then(|o| self.exchange_of(o).ok()).cloned() else {
            return Ok(());
        };
        legs.sort_by_key(|o| o.origin.role != Some(OrderRole::StopLoss));
        let _sending = self
            .in_flight
            .begin(legs.iter().map(|o| o.client_order_id.clone()));
        let started = Instant::now();
        let tickets: Vec<_> = legs.iter().map(Order::ticket).collect();
        let results: Vec<Result<ExchangeOrder, _>> = match tickets.as_slice() {
            [stop, target] => match exchange.place_oco(stop, target).await {
                Ok([stop, target]) => vec![Ok(stop), Ok(target)],
                Err(err) => vec![Err(err.clone()), Err(err)],
            },
            _ => {
                let mut results = Vec::new();
                for ticket in &tickets {
                    results.push(exchange.place(ticket).await);
                }
                results
            }
        };
        for ((order, ticket), result) in legs.iter_mut().zip(&tickets).zip(results) {
            self.answered(&key(&order.exchange, &order.account), started, &result)
                .await;
            let entry = settle(order, result, ticket, audit.clone());
            tracing::info!(order = %order.id, status = %order.status, "sent again an order its exchange never received");
            self.record(order, Some(started), Some(entry)).await?;
        }
        Ok(())
    }

    /// For a leg stored as new, an OCO sibling the exchange answered for
    /// (not new, not unknown): the pair reached it. Legs whose outcome is
    /// unknown are sent again together instead.
    async fn placed_sibling(&self, order: &Order) -> Option<Order> {
        let group = &order.origin.oco_group;
        if group.is_empty() || order.status != OrderStatus::New {
            return None;
        }
        let query = OrderQuery {
            execution_id: Some(order.origin.execution_id.clone()),
            limit: 100,
            ..Default::default()
        };
        match self.store.list_orders(&query).await {
            Ok(stored) => stored.into_iter().find(|o| {
                &o.origin.oco_group == group
                    && o.id != order.id
                    && !matches!(o.status, OrderStatus::New | OrderStatus::Unknown)
            }),
            Err(err) => {
                tracing::warn!(order = %order.id, error = %err, "cannot read its OCO group; sent on its own");
                None
            }
        }
    }

    /// Gives a leg stored as new the fate of its `sibling`, which was
    /// placed with it: resting with it (on paper, the restored group takes
    /// it back; a remote venue's copy is found by the sync), refused with
    /// it, or canceled once the group ended.
    async fn follow_sibling(&self, mut order: Order, sibling: &Order) -> Result<(), StoreError> {
        let now = now_ms();
        match sibling.status {
            status if status.is_open() => {
                if order.exchange != self.paper.name() {
                    return Ok(());
                }
                let ticket = order.ticket();
                let joined = self.paper.join_group(&ticket);
                let audit = AuditEntry {
                    actor: "system".into(),
                    ..Default::default()
                };
                let entry = settle(&mut order, joined, &ticket, audit);
                tracing::info!(order = %order.id, status = %order.status, "an OCO leg placed with its group before the restart rests with it");
                return self.record(&order, None, Some(entry)).await.map(drop);
            }
            status @ (OrderStatus::Rejected | OrderStatus::Failed) => {
                order.transition(status, &sibling.status_reason, now);
                order.status_reason = sibling.status_reason.clone();
            }
            _ => {
                let why = format!(
                    "canceled with its OCO group: the other leg is {}",
                    sibling.status
                );
                order.transition(OrderStatus::Canceled, &why, now);
                order.status_reason = why;
            }
        }
        self.record(&order, None, None).await.map(drop)
    }

    async fn give_up(&self, legs: Vec<Order>) -> Result<(), StoreError> {
        for mut order in legs {
            order.transition(
                OrderStatus::Failed,
                "the process stopped before sending it",
                now_ms(),
            );
            order.status_reason =
                "not placed: the process stopped before sending it, and it is too old to send now"
                    .into();
            self.record(&order, None, None).await?;
        }
        Ok(())
    }

    /// Closes every OCO group that has lost a leg (it executed or was
    /// canceled while the process was down, or just before it stopped).
    async fn close_broken_groups(&self) {
        let open = match self.open_orders().await {
            Ok(open) => open,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the open orders to close broken OCO groups");
                return;
            }
        };
        let mut members: BTreeMap<String, Vec<Order>> = BTreeMap::new();
        for order in open.into_iter().filter(|o| !o.origin.oco_group.is_empty()) {
            members
                .entry(order.origin.oco_group.clone())
                .or_default()
                .push(order);
        }
        for (group, legs) in members {
            if legs.len() > 1 {
                continue;
            }
            for leg in legs {
                tracing::info!(order = %leg.id, group, "closing an OCO group that lost a leg");
                if let Ok(mut stored) = self
                    .store
                    .list_orders(&OrderQuery {
                        execution_id: Some(leg.origin.execution_id.clone()),
                        limit: 100,
                        ..Default::default()
                    })
                    .await
                {
                    stored.retain(|o| o.origin.oco_group == group && o.id != leg.id);
                    if let Some(done) = stored.first() {
                        self.close_group(done).await;
                    }
                }
            }
        }
    }
}

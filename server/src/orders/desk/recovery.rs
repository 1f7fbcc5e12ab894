//! Recovery: what the last run left open is brought to a known state
//! before new orders flow. An order stored as `new` never reached its
//! exchange (or the exchange has no trace of it once it can no longer
//! accept it), so it is sent again with the same client order id, unless
//! it is too old to trade on; an OCO group with a finished leg loses its
//! other legs.

use std::{collections::BTreeMap, time::Instant};

use super::{OrderDesk, placement::settle, replace::Retired};
use crate::{
    audit::AuditEntry,
    model::order::{Order, OrderRole, OrderStatus},
    orders::exchanges::{Exchange, ExchangeOrder},
    proto_time::now_ms,
    store::StoreError,
};

impl OrderDesk {
    /// Settles what the last run left open: paper orders it never sent
    /// are sent again, orders on other exchanges are brought up to date
    /// (and sent again when the exchange never got them), and OCO groups
    /// with a finished leg are closed.
    pub(super) async fn recover(&self) {
        let unsent: Vec<Order> = self
            .open
            .lock()
            .map(|open| {
                open.values()
                    .filter(|o| o.exchange == self.paper.name() && o.status == OrderStatus::New)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        self.send_again(unsent, AuditEntry::system()).await;
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
        let Some(exchange) = legs
            .first()
            .and_then(|o| self.exchanges.get(&o.exchange))
            .cloned()
        else {
            return Ok(());
        };
        legs.sort_by_key(|o| o.origin.role != Some(OrderRole::StopLoss));
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
            self.answered(&order.exchange, started, &result).await;
            let entry = settle(order, result, ticket, audit.clone());
            tracing::info!(order = %order.id, status = %order.status, "sent again an order its exchange never received");
            self.record(order, Some(started), Some(entry)).await?;
        }
        Ok(())
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
        let mut members: BTreeMap<String, Vec<Order>> = BTreeMap::new();
        if let Ok(open) = self.open.lock() {
            for order in open.values().filter(|o| !o.origin.oco_group.is_empty()) {
                members
                    .entry(order.origin.oco_group.clone())
                    .or_default()
                    .push(order.clone());
            }
        }
        for (group, legs) in members {
            if legs.len() > 1 {
                continue;
            }
            for leg in legs {
                tracing::info!(order = %leg.id, group, "closing an OCO group that lost a leg");
                if let Ok(mut stored) = self
                    .store
                    .list_orders(&crate::store::OrderQuery {
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

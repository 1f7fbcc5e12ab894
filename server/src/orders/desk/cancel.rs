//! Canceling: one order on request, the rest of an OCO group once one of
//! its legs is done, and a pipeline's resting orders before it exits.

use super::OrderDesk;
use crate::{
    audit::{AuditEntry, actions},
    model::order::{Order, OrderStatus},
    orders::{error::OrderError, exchanges::ExchangeError},
    proto_time::now_ms,
};

impl OrderDesk {
    /// Cancels the open order `id` (see [`OrderDesk::cancel`]).
    pub(super) async fn cancel_now(
        &self,
        id: &str,
        audit: AuditEntry,
    ) -> Result<Order, OrderError> {
        let order = self.get(id).await?;
        if !order.status.is_open() {
            return Err(OrderError::NotOpen {
                id: id.to_string(),
                status: order.status.word().to_string(),
            });
        }
        let order = self.cancel_order(order, Some(audit)).await?;
        self.close_group(&order).await;
        Ok(order)
    }

    /// Cancels every open order of `pipeline_id` in `symbol` (resting
    /// entries and protective legs); returns the ids of those that ended
    /// canceled. An order the exchange had already finished is brought up
    /// to date instead.
    pub async fn cancel_resting(
        &self,
        pipeline_id: &str,
        symbol: &str,
        audit: &AuditEntry,
    ) -> Result<Vec<String>, OrderError> {
        let resting: Vec<Order> = self
            .open_orders()
            .await?
            .into_iter()
            .filter(|o| o.origin.pipeline_id == pipeline_id && o.symbol() == symbol)
            .collect();
        let mut canceled = Vec::new();
        for order in resting {
            // An earlier cancel in this loop may have ended it (its OCO
            // sibling).
            let Some(order) = self.latest_open(&order).await? else {
                continue;
            };
            let order = self.cancel_or_refresh(order, Some(audit.clone())).await?;
            if order.status == OrderStatus::Canceled {
                canceled.push(order.id.clone());
            }
            self.close_group(&order).await;
        }
        Ok(canceled)
    }

    /// Cancels the open legs left in the OCO group of `order` once it is
    /// done (it executed, or was canceled): the emulation of a venue's
    /// one-cancels-the-other, and the safety net when the venue did it
    /// and the report was lost. A leg that executed in part is the one the
    /// group executes, as on Binance (its first fill expires the others):
    /// when an untraded leg ends, its siblings are first brought up to
    /// date, and one that executed in part stays (the bracket keeper
    /// resizes its protection).
    pub(super) async fn close_group(&self, order: &Order) {
        let group = &order.origin.oco_group;
        if group.is_empty() || order.status.is_open() {
            return;
        }
        let untraded = order.filled_quantity.is_zero();
        let siblings: Vec<Order> = match self.open_orders().await {
            Ok(open) => open
                .into_iter()
                .filter(|o| &o.origin.oco_group == group && o.id != order.id)
                .collect(),
            Err(err) => {
                tracing::warn!(order = %order.id, error = %err, "cannot read the OCO group's other legs; the next sync closes it");
                return;
            }
        };
        for sibling in siblings {
            let sibling = match untraded {
                true => self.refresh(sibling.clone()).await.unwrap_or(sibling),
                false => sibling,
            };
            if !sibling.status.is_open() || (untraded && !sibling.filled_quantity.is_zero()) {
                continue;
            }
            let audit = AuditEntry {
                actor: "system".into(),
                detail: format!("the other leg of OCO group {group} is {}", order.status),
                ..Default::default()
            };
            if let Err(err) = self.cancel_or_refresh(sibling.clone(), Some(audit)).await {
                tracing::warn!(order = %sibling.id, error = %err, "OCO sibling not canceled yet; the next sync tries again");
            }
        }
    }

    /// Cancels an open order, or, when the exchange says it is already
    /// finished, brings it up to what the exchange says.
    pub(super) async fn cancel_or_refresh(
        &self,
        order: Order,
        audit: Option<AuditEntry>,
    ) -> Result<Order, OrderError> {
        match self.cancel_order(order.clone(), audit).await {
            Err(OrderError::Exchange(ExchangeError::Rejected(_) | ExchangeError::NotFound)) => {
                self.refresh(order).await
            }
            other => other,
        }
    }

    /// Cancels an open order at its exchange and records what the
    /// exchange then reports.
    async fn cancel_order(
        &self,
        order: Order,
        audit: Option<AuditEntry>,
    ) -> Result<Order, OrderError> {
        let exchange = self.exchange_of(&order)?.clone();
        let view = exchange
            .cancel_sent(&order.ticket())
            .await
            .map_err(OrderError::Exchange)?;
        let _writing = self.writes.lock().await;
        let Some(mut latest) = self.latest_open(&order).await? else {
            return self.ended_meanwhile(&order).await;
        };
        latest.apply(&view, now_ms());
        let entry = audit.map(|mut entry| {
            entry.action = actions::ORDER_CANCEL;
            entry.target = latest.id.clone();
            entry
        });
        self.record(&latest, None, entry).await?;
        Ok(latest)
    }

    /// Brings one order up to what its exchange says now.
    async fn refresh(&self, order: Order) -> Result<Order, OrderError> {
        let exchange = self.exchange_of(&order)?.clone();
        let view = exchange
            .fetch_sent(&order.ticket())
            .await
            .map_err(OrderError::Exchange)?
            .ok_or(OrderError::Exchange(ExchangeError::NotFound))?;
        let _writing = self.writes.lock().await;
        let Some(mut latest) = self.latest_open(&order).await? else {
            return self.ended_meanwhile(&order).await;
        };
        latest.apply(&view, now_ms());
        self.record(&latest, None, None).await?;
        Ok(latest)
    }

    /// An order that another path (a price that filled it, its OCO
    /// sibling, another replica) ended and recorded while this one asked
    /// its exchange: the stored state is final.
    async fn ended_meanwhile(&self, order: &Order) -> Result<Order, OrderError> {
        self.get(&order.id).await
    }
}

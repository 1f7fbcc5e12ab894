//! Reconciliation: open or unknown orders on remote exchanges brought up
//! to what the exchange says.

use std::collections::HashMap;

use super::OrderDesk;
use crate::{
    model::order::{Order, OrderStatus},
    orders::exchanges::Exchange,
    proto_time::now_ms,
};

impl OrderDesk {
    /// Brings every open or unknown order on a remote exchange, and every
    /// paper order still `new`, as stored (whichever replica placed it), up
    /// to what the exchange says, by client order id; an order this
    /// process is placing is left to its placement. An order the exchange does not have, once it can
    /// no longer accept it, was never placed: it is sent again (see
    /// [`OrderDesk::send_again`]). An order still `new` that this desk does
    /// not follow is being placed (here, or by another replica), and is
    /// left to its placement while its exchange may still accept it. An
    /// OCO leg that ended closes its group. Returns how many orders
    /// changed.
    pub async fn sync_open_orders(&self) -> usize {
        let pending: Vec<Order> = match self.open_orders().await {
            Ok(open) => open
                .into_iter()
                .filter(|o| o.exchange != self.paper.name() || o.status == OrderStatus::New)
                .collect(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the open orders to sync; the next sync tries again");
                return 0;
            }
        };
        let mut changed = 0;
        let mut unsent = Vec::new();
        for order in &pending {
            if self.in_flight.contains(&order.client_order_id) {
                continue;
            }
            let Ok(exchange) = self.exchange_of(order).cloned() else {
                tracing::warn!(order = %order.id, exchange = %order.exchange, account = %order.account, "open order on an exchange account that is not configured; left as it is");
                continue;
            };
            if order.status == OrderStatus::New
                && self.tracked(&order.client_order_id).is_none()
                && may_still_accept(&*exchange, order, now_ms())
            {
                continue;
            }
            let found = exchange.fetch_sent(&order.ticket()).await;
            let _writing = self.writes.lock().await;
            // The latest copy: another writer (a cancel, another replica)
            // may have changed the order while the exchange answered.
            let mut latest = match self.store.get_order(&order.id).await {
                Ok(Some(latest)) if latest.status.is_open() => latest,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(order = %order.id, error = %err, "cannot read an order to sync; the next sync tries again");
                    continue;
                }
            };
            let status = latest.status;
            let now = now_ms();
            match found {
                Ok(Some(view)) if view.fills.len() >= latest.fills.len() => {
                    let before = (latest.status, latest.fills.len());
                    latest.apply(&view, now);
                    if before == (latest.status, latest.fills.len()) {
                        continue;
                    }
                }
                Ok(Some(_)) => continue,
                Ok(None) if matches!(status, OrderStatus::New | OrderStatus::Unknown) => {
                    if !may_still_accept(&*exchange, &latest, now) {
                        unsent.push(latest);
                    }
                    continue;
                }
                Ok(None) => {
                    tracing::warn!(order = %latest.id, "the exchange no longer knows an open order");
                    continue;
                }
                Err(err) => {
                    tracing::warn!(order = %latest.id, error = %err, "cannot bring an order up to date; will try again");
                    continue;
                }
            }
            match self.record(&latest, None, None).await {
                Ok(_) => changed += 1,
                Err(err) => {
                    tracing::error!(error = %err, order = %latest.id, "order change not saved")
                }
            }
            drop(_writing);
            self.close_group(&latest).await;
        }
        let unsent = whole_groups(unsent, &pending);
        changed += unsent.len();
        self.send_again(unsent, crate::audit::AuditEntry::system())
            .await;
        changed
    }
}

/// Whether `exchange` may still accept the placement of `order` (as of
/// its last change) at `now`: until then, not finding it proves nothing.
fn may_still_accept(exchange: &dyn Exchange, order: &Order, now: i64) -> bool {
    let window = i64::try_from(exchange.acceptance_window().as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(order.update_time_ms) < window
}

/// The unsent orders that can be sent now: an OCO leg only together with
/// every other open leg of its group. Legs whose acceptance windows end
/// on either side of one sync would otherwise be sent again one by one,
/// as separate orders each holding the position; they wait for the next
/// sync instead.
fn whole_groups(unsent: Vec<Order>, open: &[Order]) -> Vec<Order> {
    let legs_in = |orders: &mut dyn Iterator<Item = &Order>| {
        let mut legs: HashMap<String, usize> = HashMap::new();
        for order in orders.filter(|o| !o.origin.oco_group.is_empty()) {
            *legs.entry(order.origin.oco_group.clone()).or_default() += 1;
        }
        legs
    };
    let unsent_legs = legs_in(&mut unsent.iter());
    let open_legs = legs_in(&mut open.iter());
    unsent
        .into_iter()
        .filter(|order| {
            let group = &order.origin.oco_group;
            let complete = group.is_empty() || unsent_legs.get(group) == open_legs.get(group);
            if !complete {
                tracing::info!(order = %order.id, %group, "an unsent OCO leg waits for the rest of its group");
            }
            complete
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::{
        market::side::Side,
        model::order::{OrderOrigin, OrderTicket},
    };

    fn order(id: &str, group: &str) -> Order {
        let ticket = OrderTicket {
            client_order_id: id.into(),
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::ONE)
        };
        let origin = OrderOrigin {
            oco_group: group.into(),
            ..Default::default()
        };
        Order::new(&ticket, ("binance", "default"), origin, 0)
    }

    fn ids(orders: &[Order]) -> Vec<&str> {
        orders.iter().map(|o| o.client_order_id.as_str()).collect()
    }

    #[test]
    fn an_oco_leg_is_sent_again_only_with_its_whole_group() {
        let open = [
            order("single", ""),
            order("stop-a", "a"),
            order("target-a", "a"),
            order("stop-b", "b"),
            order("target-b", "b"),
        ];
        let unsent = open[..4].to_vec();
        assert_eq!(
            ids(&whole_groups(unsent, &open)),
            ["single", "stop-a", "target-a"],
            "group b waits until both its legs are unsent"
        );
    }
}

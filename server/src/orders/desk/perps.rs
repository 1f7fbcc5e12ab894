//! Perpetuals at the desk: the leverage set on a venue before a
//! pipeline's first order in a symbol, and the paper exchange's
//! liquidations, recorded as orders so that the paper balances and the
//! pipelines' positions book them like any fill.

use rust_decimal::Decimal;
use tradeplane_api::AuditOutcome;

use super::{OrderDesk, ledger};
use crate::{
    audit::{AuditEntry, actions},
    market::{account, margin::Leverage},
    model::order::{ExchangeOrder, Fill, Order, OrderOrigin, OrderRole, OrderTicket},
    orders::{
        error::{InvalidReason, PlaceError},
        exchanges::{Exchange, paper::Observed},
    },
    proto_time::now_ms,
    store::{OrderInsert, StoreError},
};

impl OrderDesk {
    /// Sets `leverage` for `symbol` on `account` at `exchange`, once per
    /// setting and process (see
    /// [`crate::orders::exchanges::Exchange::set_leverage`]); on paper it
    /// is saved with the symbol's position.
    pub async fn set_leverage(
        &self,
        (exchange, account): (&str, &str),
        symbol: &str,
        leverage: Leverage,
    ) -> Result<(), PlaceError> {
        let key = (
            account::key(exchange, account),
            symbol.to_string(),
            leverage,
        );
        if self.leverage_set.lock().is_ok_and(|set| set.contains(&key)) {
            return Ok(());
        }
        let venue = self.exchange(exchange, account).map_err(|err| {
            PlaceError::invalid(InvalidReason::UnknownExchange, "exchange", err.to_string())
        })?;
        venue
            .set_leverage(symbol, leverage)
            .await
            .map_err(PlaceError::Exchange)?;
        if exchange == self.paper.name() {
            ledger::set_paper_leverage(&*self.store, symbol, leverage).await?;
        }
        if let Ok(mut set) = self.leverage_set.lock() {
            set.insert(key);
        }
        Ok(())
    }

    /// Follows what a price did on the paper book: records the orders it
    /// changed and its liquidations.
    pub(super) async fn follow_price(&self, observed: Observed) {
        self.apply_changes(observed.changed).await;
        for (ticket, view) in observed.liquidated {
            if let Err(err) = self.record_liquidation(&ticket, &view).await {
                tracing::error!(error = %err, symbol = %ticket.symbol, "liquidation not saved");
            }
        }
    }

    /// Records a paper liquidation: one order for each pipeline holding
    /// the liquidated side of the symbol (its position), and one without
    /// a pipeline for the rest, each filled at the liquidation's price.
    async fn record_liquidation(
        &self,
        ticket: &OrderTicket,
        view: &ExchangeOrder,
    ) -> Result<(), StoreError> {
        let Some(fill) = view.fills.first() else {
            return Ok(());
        };
        let mut left = fill.quantity;
        let mut parts: Vec<(String, Decimal)> = Vec::new();
        for (pipeline, symbol, position) in self.positions().await? {
            let held = position.quantity;
            let holds_side = !held.is_zero() && ticket.side.signed(held) < Decimal::ZERO;
            if symbol == ticket.symbol && holds_side && !left.is_zero() {
                let part = held.abs().min(left);
                parts.push((pipeline, part));
                left -= part;
            }
        }
        if !left.is_zero() {
            parts.push((String::new(), left));
        }
        let mut fee_left = fill.fee;
        let count = parts.len();
        for (index, (pipeline_id, quantity)) in parts.into_iter().enumerate() {
            // The last part takes what rounding left of the fee.
            let fee = if index + 1 == count {
                fee_left
            } else {
                (fill.fee * quantity / fill.quantity).round_dp(12)
            };
            fee_left -= fee;
            let part = OrderTicket {
                client_order_id: format!("{}-{index}", ticket.client_order_id),
                quantity,
                ..ticket.clone()
            };
            let origin = OrderOrigin {
                role: Some(OrderRole::Exit).filter(|_| !pipeline_id.is_empty()),
                pipeline_id,
                ..Default::default()
            };
            let part_view = ExchangeOrder {
                fills: vec![Fill {
                    trade_id: format!("{}-{index}", fill.trade_id),
                    quantity,
                    fee,
                    ..fill.clone()
                }],
                ..view.clone()
            };
            let mut order = Order::new(
                &part,
                (self.paper.name(), account::DEFAULT_ACCOUNT),
                origin,
                now_ms(),
            );
            // Another replica that saw the price first stored it.
            if let OrderInsert::Existing(_) = self.store.insert_orders(&[(&order, None)]).await? {
                continue;
            }
            order.apply(&part_view, now_ms());
            let audit = AuditEntry {
                action: actions::ORDER_PLACE,
                target: order.id.clone(),
                outcome: AuditOutcome::Success,
                detail: view.reason.clone(),
                ..AuditEntry::system()
            };
            self.record(&order, None, Some(audit)).await?;
        }
        tracing::warn!(symbol = %ticket.symbol, price = %fill.price, quantity = %fill.quantity, "paper position liquidated");
        Ok(())
    }
}

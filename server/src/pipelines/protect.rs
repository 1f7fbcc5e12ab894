//! The protect step: the stop-loss and take-profit orders of a filled
//! entry, at a fixed price or an offset from the fill.

use super::{
    Pipelines,
    sizing::BPS,
    spec::{Compiled, Level},
    stop::Stop,
    worker::{order_request_id, origin_of, pipeline_audit},
};
use crate::{
    market::side::Side,
    model::{
        execution::Execution,
        order::{Order, OrderRequest, OrderType, TimeInForce},
    },
};

impl Pipelines {
    /// Places the stop-loss and take-profit of a filled entry.
    pub(super) async fn protect(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        entry: &Order,
        trace_id: &str,
    ) -> Option<Result<Vec<String>, Stop>> {
        let levels = [
            ("stop_loss", compiled.order.stop_loss),
            ("take_profit", compiled.order.take_profit),
        ];
        if levels.iter().all(|(_, l)| l.is_none()) {
            return None;
        }
        let Some(filled) = entry.average_fill_price else {
            return Some(Err(Stop::Fail("the entry has no fill price".into())));
        };
        let entry_side = entry.side;
        let exit_side = entry_side.opposite();
        let mut ids = Vec::new();
        for (name, level) in levels {
            let Some(level) = level else { continue };
            // A stop sits on the losing side of the entry, a target on the
            // winning side.
            let losing = name == "stop_loss";
            let price = match level {
                Level::Price(price) => price,
                Level::OffsetBps(bps) => {
                    let offset = filled * bps / BPS;
                    let below = (entry_side == Side::Buy) == losing;
                    if below {
                        filled - offset
                    } else {
                        filled + offset
                    }
                }
            };
            let (order_type, limit, stop) = if losing {
                (OrderType::Stop, None, Some(price))
            } else {
                (OrderType::Limit, Some(price), None)
            };
            let request = OrderRequest {
                request_id: format!("{}:{name}", order_request_id(execution)),
                exchange: compiled.exchange.clone(),
                symbol: entry.symbol().to_string(),
                side: exit_side,
                order_type,
                time_in_force: TimeInForce::Gtc,
                quantity: entry.filled_quantity,
                price: limit,
                stop_price: stop,
                reference_price: None,
            };
            match self
                .desk
                .place_for(
                    request,
                    origin_of(compiled, execution),
                    pipeline_audit(compiled, trace_id),
                )
                .await
            {
                Ok(order) => ids.push(order.id),
                Err(err) => return Some(Err(Stop::Fail(format!("{name}: {err}")))),
            }
        }
        Some(Ok(ids))
    }
}

//! The protect step: the stop-loss and take-profit orders of a filled
//! entry, at a fixed price or an offset from the fill.

use tradeplane_api::{Order, OrderType, PlaceOrderRequest, ProtoEnum, Side};

use super::{
    Pipelines,
    sizing::BPS,
    spec::{Compiled, Level},
    stop::Stop,
    worker::{order_request_id, pipeline_audit},
};
use crate::{market::decimal::parse_decimal, model::execution::Execution, orders::desk::Origin};

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
        let Ok(filled) = parse_decimal(&entry.average_fill_price) else {
            return Some(Err(Stop::Fail("the entry has no fill price".into())));
        };
        let entry_side = match Side::known(entry.side, "side") {
            Ok(side) => side,
            Err(err) => return Some(Err(Stop::Fail(format!("entry order {}: {err}", entry.id)))),
        };
        let symbol = entry
            .instrument
            .as_ref()
            .map(|i| i.symbol.clone())
            .unwrap_or_default();
        let exit_side = if entry_side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
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
            let (order_type, price_field, stop_field) = if losing {
                (
                    OrderType::Stop,
                    String::new(),
                    price.normalize().to_string(),
                )
            } else {
                (
                    OrderType::Limit,
                    price.normalize().to_string(),
                    String::new(),
                )
            };
            let request = PlaceOrderRequest {
                request_id: format!("{}:{name}", order_request_id(execution)),
                exchange: compiled.pipeline.exchange.clone(),
                symbol: symbol.clone(),
                side: exit_side as i32,
                r#type: order_type as i32,
                quantity: entry.filled_quantity.clone(),
                price: price_field,
                stop_price: stop_field,
                ..Default::default()
            };
            match self
                .desk
                .place_for(
                    request,
                    Some(Origin {
                        pipeline_id: &compiled.pipeline.id,
                        execution_id: &execution.id,
                        signal_id: &execution.signal_id,
                    }),
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

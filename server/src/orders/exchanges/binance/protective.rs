//! USDⓈ-M brackets. The market has no order lists, so a stop-loss and
//! its take-profit are two orders that only close the position: the desk
//! cancels the leg left once the other is done, and Binance expires a
//! flat position's closing orders itself. A leg that closes the whole
//! position Binance holds goes with `closePosition=true` (no quantity, no
//! `reduceOnly`: Binance takes neither with it), so that it closes what is
//! there when it triggers; a leg for part of it keeps its quantity. A
//! take-profit that asks for a trigger (a stop ticket) is a
//! `TAKE_PROFIT_MARKET` at the mark price; one with a limit price rests as
//! a reduce-only `LIMIT`.

use rust_decimal::Decimal;

use super::{BinanceExchange, mapping::order_params, market::Market};
use crate::{
    model::order::OrderType,
    orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket},
};

/// Which leg of a bracket a ticket is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leg {
    StopLoss,
    TakeProfit,
}

impl BinanceExchange {
    /// Places a bracket's legs, the stop first. If the take-profit cannot
    /// be placed, the stop is canceled, so that no half bracket stays.
    pub(super) async fn place_legs(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        self.ensure_position_mode().await?;
        let held = match self.position_held(stop).await {
            Ok(held) => held,
            Err(err) => {
                // Legs with their own quantities protect as well.
                tracing::warn!(error = %err, symbol = %stop.symbol,
                    "the position is not read: the bracket's legs carry their quantities");
                Decimal::ZERO
            }
        };
        let stop_params = leg_params(stop, Leg::StopLoss, self.hedge_mode, held)?;
        let target_params = leg_params(target, Leg::TakeProfit, self.hedge_mode, held)?;
        let stop_leg = self.place_with(stop, stop_params).await?;
        match self.place_with(target, target_params).await {
            Ok(target_leg) => Ok([stop_leg, target_leg]),
            Err(err) => {
                if let Err(cancel) = self.cancel(&stop.client_order_id, &stop.symbol).await {
                    tracing::warn!(error = %cancel, client_order_id = %stop.client_order_id,
                        "the stop of a half-placed bracket is left for the sync to settle");
                }
                Err(err)
            }
        }
    }
}

/// A bracket leg's parameters, with the position Binance holds `held`.
fn leg_params(
    ticket: &OrderTicket,
    leg: Leg,
    hedge: bool,
    held: Decimal,
) -> Result<Vec<(&'static str, String)>, ExchangeError> {
    let mut params = order_params(ticket, Market::UsdM, hedge)?;
    let triggered = ticket.order_type == OrderType::Stop && ticket.trailing_delta_bips.is_none();
    if leg == Leg::TakeProfit && triggered {
        for (_, kind) in params.iter_mut().filter(|(name, _)| *name == "type") {
            *kind = "TAKE_PROFIT_MARKET".into();
        }
    }
    if triggered && !held.is_zero() && ticket.quantity == held {
        params.retain(|(name, _)| !matches!(*name, "quantity" | "reduceOnly"));
        params.push(("closePosition", "true".into()));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{instrument::InstrumentKind, side::Side};

    fn ticket(order_type: OrderType, trailing: Option<u32>) -> OrderTicket {
        OrderTicket {
            client_order_id: "tp-leg".into(),
            symbol: "BTC/USDT:PERP".into(),
            order_type,
            price: (order_type == OrderType::Limit).then(|| Decimal::from(53_000)),
            stop_price: (order_type == OrderType::Stop).then(|| Decimal::from(48_500)),
            trailing_delta_bips: trailing,
            kind: InstrumentKind::Perpetual,
            reduce_only: true,
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(4, 2))
        }
    }

    fn get<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_leg_for_the_whole_position_closes_it_and_one_for_part_keeps_its_quantity() {
        let whole = Decimal::new(4, 2);
        let stop = leg_params(&ticket(OrderType::Stop, None), Leg::StopLoss, false, whole)
            .expect("params");
        assert_eq!(get(&stop, "type"), Some("STOP_MARKET"));
        assert_eq!(get(&stop, "closePosition"), Some("true"));
        assert_eq!(
            (get(&stop, "quantity"), get(&stop, "reduceOnly")),
            (None, None)
        );
        let target = leg_params(
            &ticket(OrderType::Stop, None),
            Leg::TakeProfit,
            false,
            whole,
        )
        .expect("params");
        assert_eq!(get(&target, "type"), Some("TAKE_PROFIT_MARKET"));
        assert_eq!(get(&target, "workingType"), Some("MARK_PRICE"));

        let part = leg_params(
            &ticket(OrderType::Stop, None),
            Leg::StopLoss,
            false,
            Decimal::new(8, 2),
        )
        .expect("params");
        assert_eq!(get(&part, "closePosition"), None);
        assert_eq!(get(&part, "quantity"), Some("0.04"));
        assert_eq!(get(&part, "reduceOnly"), Some("true"));
    }

    #[test]
    fn limits_and_trailing_stops_never_close_the_position_by_flag() {
        let whole = Decimal::new(4, 2);
        let limit = leg_params(
            &ticket(OrderType::Limit, None),
            Leg::TakeProfit,
            false,
            whole,
        )
        .expect("params");
        assert_eq!(get(&limit, "type"), Some("LIMIT"));
        assert_eq!(get(&limit, "closePosition"), None);
        let trailing = leg_params(
            &ticket(OrderType::Stop, Some(150)),
            Leg::StopLoss,
            true,
            whole,
        )
        .expect("params");
        assert_eq!(get(&trailing, "type"), Some("TRAILING_STOP_MARKET"));
        assert_eq!(get(&trailing, "callbackRate"), Some("1.5"));
        assert_eq!(get(&trailing, "activationPrice"), Some("48500"));
        assert_eq!(get(&trailing, "stopPrice"), None);
        assert_eq!(get(&trailing, "positionSide"), Some("LONG"));
        assert_eq!(get(&trailing, "closePosition"), None);
    }
}

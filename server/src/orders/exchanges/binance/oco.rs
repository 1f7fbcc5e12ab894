//! Native one-cancels-the-other groups: `POST /api/v3/orderList/oco`.
//!
//! A bracket closing a long sells: the take-profit is the `above` leg (a
//! `LIMIT_MAKER` over the market) and the stop the `below` leg (a
//! `STOP_LOSS` or `STOP_LOSS_LIMIT` under it, or trailing the price by its
//! `belowTrailingDelta`). A bracket closing a short buys, and the legs
//! swap places. Each leg carries the desk's client
//! order id, so that a sync or a lookup finds it like any other order.
//!
//! An order list whose outcome is unknown is never sent again here: the
//! legs are reported unknown, and the desk's sync settles them (and sends
//! the list again only once Binance can no longer accept this request).

use http::Method;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{
    BinanceExchange,
    mapping::{order_error, read_error, venue_symbol},
    replies::OrderReply,
    rest::Failure,
};
use crate::{
    market::side::Side,
    model::order::OrderType,
    orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket},
};

/// The longest `listClientOrderId` Binance accepts.
const MAX_LIST_ID_LEN: usize = 36;

/// The parameter names of one leg of an order list.
struct LegParams {
    kind: &'static str,
    client_order_id: &'static str,
    price: &'static str,
    stop_price: &'static str,
    trailing_delta: &'static str,
    time_in_force: &'static str,
}

/// The leg priced over the market.
const ABOVE: LegParams = LegParams {
    kind: "aboveType",
    client_order_id: "aboveClientOrderId",
    price: "abovePrice",
    stop_price: "aboveStopPrice",
    trailing_delta: "aboveTrailingDelta",
    time_in_force: "aboveTimeInForce",
};

/// The leg priced under the market.
const BELOW: LegParams = LegParams {
    kind: "belowType",
    client_order_id: "belowClientOrderId",
    price: "belowPrice",
    stop_price: "belowStopPrice",
    trailing_delta: "belowTrailingDelta",
    time_in_force: "belowTimeInForce",
};

/// Binance's answer to a new order list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderListReply {
    order_reports: Vec<ListedOrderReply>,
}

/// One leg of an order list as Binance reports it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedOrderReply {
    client_order_id: String,
    #[serde(flatten)]
    order: OrderReply,
}

impl BinanceExchange {
    /// Places `stop` and `target` as one native OCO order list; returns
    /// the legs, stop first.
    pub(super) async fn place_order_list(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let params = oco_params(stop, target)?;
        let (_, result) = self
            .rest
            .signed::<OrderListReply>(Method::POST, "/api/v3/orderList/oco", &params)
            .await;
        match result {
            Ok(reply) => self.legs_of(reply, stop, target).await,
            // An open order already has one of these client order ids: the
            // list was placed by an earlier attempt.
            Err(Failure::Refused {
                code: -2010,
                message,
            }) if message.contains("Duplicate") => self.fetch_legs(stop, target, &message).await,
            Err(failure) => Err(order_error(failure, &stop.symbol)),
        }
    }

    /// The two legs of a placed list, with their trades.
    async fn legs_of(
        &self,
        reply: OrderListReply,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let mut stop_view = None;
        let mut target_view = None;
        for report in reply.order_reports {
            let view = self
                .with_fills(report.order, &stop.symbol)
                .await
                .map_err(|f| ExchangeError::Unknown(format!("placed; {}", read_error(f))))?;
            if report.client_order_id == stop.client_order_id {
                stop_view = Some(view);
            } else if report.client_order_id == target.client_order_id {
                target_view = Some(view);
            }
        }
        match (stop_view, target_view) {
            (Some(stop), Some(target)) => Ok([stop, target]),
            _ => Err(ExchangeError::Unknown(
                "Binance placed the order list but did not report both legs".into(),
            )),
        }
    }

    /// Looks both legs up after Binance called the list a duplicate.
    async fn fetch_legs(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
        message: &str,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let stop_view = self.fetch_leg(stop, message).await?;
        let target_view = self.fetch_leg(target, message).await?;
        Ok([stop_view, target_view])
    }

    async fn fetch_leg(
        &self,
        leg: &OrderTicket,
        message: &str,
    ) -> Result<ExchangeOrder, ExchangeError> {
        match self.fetch(&leg.client_order_id, &leg.symbol).await {
            Ok(Some(order)) => Ok(order),
            Ok(None) => Err(ExchangeError::Unknown(message.to_string())),
            Err(err) => Err(ExchangeError::Unknown(err.to_string())),
        }
    }
}

/// The query parameters of `POST /api/v3/orderList/oco` for a stop and a
/// take-profit closing the same position.
fn oco_params(
    stop: &OrderTicket,
    target: &OrderTicket,
) -> Result<Vec<(&'static str, String)>, ExchangeError> {
    let decimal = |d: Decimal| d.normalize().to_string();
    if stop.side != target.side || stop.quantity != target.quantity || stop.symbol != target.symbol
    {
        return Err(ExchangeError::Rejected(
            "the legs of an order list share one symbol, side and quantity".into(),
        ));
    }
    if stop.stop_price.is_none() && stop.trailing_delta_bips.is_none() {
        return Err(ExchangeError::Rejected(
            "the stop leg of an order list needs a stop price or a trailing delta".into(),
        ));
    }
    let target_price = target.price.ok_or_else(|| {
        ExchangeError::Rejected("the take-profit leg of an order list needs a limit price".into())
    })?;
    let (stop_at, target_at, side) = match stop.side {
        Side::Sell => (&BELOW, &ABOVE, "SELL"),
        Side::Buy => (&ABOVE, &BELOW, "BUY"),
    };
    let mut params = vec![
        ("symbol", venue_symbol(&stop.symbol)),
        ("side", side.to_string()),
        ("quantity", decimal(stop.quantity)),
    ];
    if let Some(group) = stop
        .oco_group
        .as_ref()
        .filter(|g| !g.is_empty() && g.len() <= MAX_LIST_ID_LEN)
    {
        params.push(("listClientOrderId", group.clone()));
    }
    let (stop_type, stop_limit) = match stop.order_type {
        OrderType::Stop => ("STOP_LOSS", None),
        OrderType::StopLimit => {
            let limit = stop.price.ok_or_else(|| {
                ExchangeError::Rejected("a stop-limit leg needs a limit price".into())
            })?;
            ("STOP_LOSS_LIMIT", Some(limit))
        }
        other => {
            return Err(ExchangeError::Rejected(format!(
                "the stop leg of an order list is a stop or a stop-limit, not {other:?}"
            )));
        }
    };
    if target.order_type != OrderType::Limit {
        return Err(ExchangeError::Rejected(format!(
            "the take-profit leg of an order list is a limit, not {:?}",
            target.order_type
        )));
    }
    params.push((target_at.kind, "LIMIT_MAKER".into()));
    params.push((target_at.client_order_id, target.client_order_id.clone()));
    params.push((target_at.price, decimal(target_price)));
    params.push((stop_at.kind, stop_type.into()));
    params.push((stop_at.client_order_id, stop.client_order_id.clone()));
    // A trailing leg without a stop price trails from the next trade on.
    if let Some(trigger) = stop.stop_price {
        params.push((stop_at.stop_price, decimal(trigger)));
    }
    if let Some(bips) = stop.trailing_delta_bips {
        params.push((stop_at.trailing_delta, bips.to_string()));
    }
    if let Some(limit) = stop_limit {
        params.push((stop_at.price, decimal(limit)));
        params.push((stop_at.time_in_force, "GTC".into()));
    }
    params.push(("newOrderRespType", "FULL".into()));
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(order_type: OrderType, id: &str) -> OrderTicket {
        OrderTicket {
            client_order_id: id.into(),
            order_type,
            oco_group: Some("group-1".into()),
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(2, 2))
        }
    }

    fn value<'a>(params: &'a [(&str, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_sell_bracket_puts_the_take_profit_above_and_the_stop_below() {
        let stop = OrderTicket {
            stop_price: Some(Decimal::from(49_000)),
            ..leg(OrderType::Stop, "tp-stop")
        };
        let target = OrderTicket {
            price: Some(Decimal::from(52_000)),
            ..leg(OrderType::Limit, "tp-target")
        };
        let params = oco_params(&stop, &target).expect("valid legs");
        for (name, expected) in [
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("quantity", "0.02"),
            ("listClientOrderId", "group-1"),
            ("aboveType", "LIMIT_MAKER"),
            ("aboveClientOrderId", "tp-target"),
            ("abovePrice", "52000"),
            ("belowType", "STOP_LOSS"),
            ("belowClientOrderId", "tp-stop"),
            ("belowStopPrice", "49000"),
        ] {
            assert_eq!(value(&params, name), Some(expected), "{name}");
        }
        assert_eq!(value(&params, "belowPrice"), None);
    }

    #[test]
    fn a_buy_bracket_puts_the_stop_limit_above() {
        let stop = OrderTicket {
            side: Side::Buy,
            stop_price: Some(Decimal::from(51_000)),
            price: Some(Decimal::from(51_100)),
            ..leg(OrderType::StopLimit, "tp-stop")
        };
        let target = OrderTicket {
            side: Side::Buy,
            price: Some(Decimal::from(48_000)),
            ..leg(OrderType::Limit, "tp-target")
        };
        let params = oco_params(&stop, &target).expect("valid legs");
        for (name, expected) in [
            ("side", "BUY"),
            ("aboveType", "STOP_LOSS_LIMIT"),
            ("aboveStopPrice", "51000"),
            ("abovePrice", "51100"),
            ("aboveTimeInForce", "GTC"),
            ("belowType", "LIMIT_MAKER"),
            ("belowPrice", "48000"),
        ] {
            assert_eq!(value(&params, name), Some(expected), "{name}");
        }
    }

    #[test]
    fn a_trailing_stop_leg_trails_by_its_delta_from_the_next_trade() {
        let stop = OrderTicket {
            trailing_delta_bips: Some(200),
            ..leg(OrderType::Stop, "tp-stop")
        };
        let target = OrderTicket {
            price: Some(Decimal::from(52_000)),
            ..leg(OrderType::Limit, "tp-target")
        };
        let params = oco_params(&stop, &target).expect("valid legs");
        assert_eq!(value(&params, "belowType"), Some("STOP_LOSS"));
        assert_eq!(value(&params, "belowTrailingDelta"), Some("200"));
        assert_eq!(value(&params, "belowStopPrice"), None);
        assert_eq!(value(&params, "aboveTrailingDelta"), None);
        // Closing a short, the trailing stop is the leg above.
        let buy = |leg: &OrderTicket, price| OrderTicket {
            side: Side::Buy,
            price,
            ..leg.clone()
        };
        let params = oco_params(
            &buy(&stop, None),
            &buy(&target, Some(Decimal::from(48_000))),
        )
        .expect("valid legs");
        assert_eq!(value(&params, "aboveTrailingDelta"), Some("200"));
        assert_eq!(value(&params, "aboveStopPrice"), None);
        let untriggered = OrderTicket {
            trailing_delta_bips: None,
            ..stop
        };
        assert!(matches!(
            oco_params(&untriggered, &target),
            Err(ExchangeError::Rejected(_))
        ));
    }

    #[test]
    fn legs_that_do_not_close_one_position_are_refused() {
        let stop = OrderTicket {
            stop_price: Some(Decimal::from(49_000)),
            ..leg(OrderType::Stop, "tp-stop")
        };
        let target = OrderTicket {
            price: Some(Decimal::from(52_000)),
            quantity: Decimal::ONE,
            ..leg(OrderType::Limit, "tp-target")
        };
        assert!(matches!(
            oco_params(&stop, &target),
            Err(ExchangeError::Rejected(_))
        ));
    }

    #[test]
    fn the_reply_names_each_leg_by_its_client_order_id() {
        let reply: OrderListReply = serde_json::from_str(
            r#"{"orderListId":7,"contingencyType":"OCO","listStatusType":"EXEC_STARTED",
            "listOrderStatus":"EXECUTING","listClientOrderId":"group-1","transactionTime":1,
            "symbol":"BTCUSDT","orders":[],"orderReports":[
              {"symbol":"BTCUSDT","orderId":11,"orderListId":7,"clientOrderId":"tp-stop",
               "transactTime":1,"price":"0","origQty":"0.02","executedQty":"0",
               "cummulativeQuoteQty":"0","status":"NEW","timeInForce":"GTC",
               "type":"STOP_LOSS","side":"SELL","stopPrice":"49000"}]}"#,
        )
        .expect("parses");
        assert_eq!(reply.order_reports[0].client_order_id, "tp-stop");
        assert_eq!(reply.order_reports[0].order.order_id, 11);
    }
}

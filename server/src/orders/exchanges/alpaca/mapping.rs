//! Mapping between tradeplane's orders and Alpaca's: the body of
//! `POST /v2/orders` (one order, or a one-cancels-the-other pair), and
//! Alpaca's answers as domain errors.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::rest::Failure;
use crate::{
    market::side::Side,
    model::order::{OrderType, TimeInForce},
    orders::exchanges::{ExchangeError, OrderTicket},
};

/// What Alpaca says when a `client_order_id` is taken: an earlier send
/// placed the order.
pub(super) const DUPLICATE_ID: &str = "client_order_id must be unique";

/// The client order id of an OCO pair at Alpaca, which names only the
/// pair (its parent is the take-profit leg): the target's id, then the
/// stop's, so that either leg is found by its own id.
pub(super) fn pair_id(stop: &OrderTicket, target: &OrderTicket) -> String {
    format!("{}_{}", target.client_order_id, stop.client_order_id)
}

/// A decimal as Alpaca reads it, without trailing zeros.
pub(super) fn decimal(d: Decimal) -> String {
    d.normalize().to_string()
}

fn side(side: Side) -> &'static str {
    if side == Side::Sell { "sell" } else { "buy" }
}

/// A ticket as the JSON body of `POST /v2/orders`. A market order is a
/// `day` order (at the open if the market is closed); a fractional
/// quantity goes only on a market or limit order, and then as a `day`
/// order, as Alpaca requires.
pub(super) fn order_body(ticket: &OrderTicket) -> Result<Value, ExchangeError> {
    if ticket.trailing_delta_bips.is_some() {
        return Err(ExchangeError::Rejected(
            "unsupported_order: tradeplane emulates trailing stops on Alpaca".into(),
        ));
    }
    if ticket.reduce_only {
        return Err(ExchangeError::Rejected(
            "unsupported_order: Alpaca has no reduce-only stock orders".into(),
        ));
    }
    let fractional = !ticket.quantity.fract().is_zero();
    let kind = match ticket.order_type {
        OrderType::Market => "market",
        OrderType::Limit => "limit",
        OrderType::Stop => "stop",
        OrderType::StopLimit => "stop_limit",
    };
    let time_in_force = match (ticket.order_type, ticket.time_in_force, fractional) {
        (OrderType::Market, TimeInForce::Gtc, _) | (OrderType::Limit, TimeInForce::Gtc, true) => {
            "day"
        }
        (_, _, true) => {
            return Err(ExchangeError::Rejected(format!(
                "unsupported_order: Alpaca takes a fractional quantity ({}) only on a day \
                 market or limit order, not a {} {kind} order",
                ticket.quantity, ticket.time_in_force
            )));
        }
        (_, TimeInForce::Gtc, false) => "gtc",
        (_, TimeInForce::Ioc, false) => "ioc",
        (_, TimeInForce::Fok, false) => "fok",
    };
    let mut body = json!({
        "symbol": ticket.symbol,
        "qty": decimal(ticket.quantity),
        "side": side(ticket.side),
        "type": kind,
        "time_in_force": time_in_force,
        "client_order_id": ticket.client_order_id,
    });
    if let Some(price) = ticket.price {
        body["limit_price"] = json!(decimal(price));
    }
    if let Some(stop) = ticket.stop_price {
        body["stop_price"] = json!(decimal(stop));
    }
    Ok(body)
}

/// A stop-loss and take-profit pair as one `order_class: "oco"` order: a
/// limit at the target whose stop leg Alpaca cancels when either
/// executes. Alpaca takes OCO orders in whole shares only.
pub(super) fn oco_body(stop: &OrderTicket, target: &OrderTicket) -> Result<Value, ExchangeError> {
    if !stop.quantity.fract().is_zero() || stop.quantity != target.quantity {
        return Err(ExchangeError::Rejected(format!(
            "unsupported_oco: Alpaca takes OCO orders in whole shares, one quantity for both \
             legs (stop {}, target {})",
            stop.quantity, target.quantity
        )));
    }
    let (Some(limit), Some(trigger)) = (target.price, stop.stop_price) else {
        return Err(ExchangeError::Rejected(
            "unsupported_oco: an OCO pair needs a target limit price and a stop price".into(),
        ));
    };
    let mut stop_loss = json!({"stop_price": decimal(trigger)});
    if let Some(price) = stop.price {
        stop_loss["limit_price"] = json!(decimal(price));
    }
    Ok(json!({
        "symbol": target.symbol,
        "qty": decimal(target.quantity),
        "side": side(target.side),
        "type": "limit",
        "time_in_force": "gtc",
        "order_class": "oco",
        "client_order_id": pair_id(stop, target),
        "take_profit": {"limit_price": decimal(limit)},
        "stop_loss": stop_loss,
    }))
}

/// A failed read: nothing changed at Alpaca, so it is unavailable or
/// refused, never unknown.
pub(super) fn read_error(failure: Failure) -> ExchangeError {
    failure.into_read_error(order_error)
}

/// Alpaca's refusals, by HTTP status, as domain errors.
pub(super) fn order_error(failure: Failure) -> ExchangeError {
    failure.into_error("Alpaca", |status, message| match status {
        NOT_FOUND => ExchangeError::NotFound,
        401 => ExchangeError::Rejected(format!(
            "Alpaca refused the API key pair (401: {message}); check \
             exchanges.alpaca.api_key and api_secret"
        )),
        403 if message.to_lowercase().contains("buying power") => {
            ExchangeError::Rejected(format!("insufficient buying power: {message} (Alpaca 403)"))
        }
        _ => ExchangeError::Rejected(format!("{message} (Alpaca {status})")),
    })
}

/// The HTTP status of Alpaca's "no such order, asset or position".
pub(super) const NOT_FOUND: i64 = 404;
/// The HTTP status of a request Alpaca could not process, such as a
/// cancel of an order no longer open.
pub(super) const UNPROCESSABLE: i64 = 422;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::instrument::InstrumentKind;

    fn aapl(side: Side, quantity: &str) -> OrderTicket {
        OrderTicket {
            client_order_id: "tp-1".into(),
            symbol: "AAPL".into(),
            kind: InstrumentKind::Equity,
            ..OrderTicket::market(side, "AAPL", "USD", quantity.parse().expect("decimal"))
        }
    }

    #[test]
    fn fractions_go_only_on_day_market_or_limit_orders() {
        let body = order_body(&aapl(Side::Buy, "0.5")).expect("a body");
        assert_eq!(body["time_in_force"], "day");
        assert_eq!(
            (body["qty"].as_str(), body["type"].as_str()),
            (Some("0.5"), Some("market"))
        );
        let limit = OrderTicket {
            order_type: OrderType::Limit,
            price: Some(Decimal::from(190)),
            ..aapl(Side::Buy, "2")
        };
        assert_eq!(order_body(&limit).expect("a body")["time_in_force"], "gtc");
        let stop = OrderTicket {
            order_type: OrderType::Stop,
            stop_price: Some(Decimal::from(180)),
            ..aapl(Side::Sell, "0.5")
        };
        let refused = order_body(&stop);
        assert!(
            matches!(refused, Err(ExchangeError::Rejected(ref m)) if m.starts_with("unsupported_order")),
            "{refused:?}"
        );
    }

    #[test]
    fn an_oco_pair_is_one_order_in_whole_shares() {
        let target = OrderTicket {
            client_order_id: "tp-t".into(),
            order_type: OrderType::Limit,
            price: Some(Decimal::from(210)),
            ..aapl(Side::Sell, "3")
        };
        let stop = OrderTicket {
            client_order_id: "tp-s".into(),
            order_type: OrderType::Stop,
            stop_price: Some(Decimal::from(180)),
            ..aapl(Side::Sell, "3")
        };
        let body = oco_body(&stop, &target).expect("a body");
        assert_eq!(body["order_class"], "oco");
        assert_eq!(body["client_order_id"], "tp-t_tp-s");
        assert_eq!(body["take_profit"]["limit_price"], "210");
        assert_eq!(body["stop_loss"]["stop_price"], "180");
        let fractional = OrderTicket {
            quantity: Decimal::new(25, 1),
            ..stop
        };
        let refused = oco_body(
            &fractional,
            &OrderTicket {
                quantity: Decimal::new(25, 1),
                ..target
            },
        );
        assert!(
            matches!(refused, Err(ExchangeError::Rejected(ref m)) if m.starts_with("unsupported_oco")),
            "{refused:?}"
        );
    }
}

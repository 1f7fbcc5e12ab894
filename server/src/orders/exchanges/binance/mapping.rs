//! Mapping between tradeplane's orders and Binance's: symbols, order
//! parameters, and Binance's failures as domain errors.

use crate::{
    market::side::Side,
    model::order::{OrderType, TimeInForce},
};
use rust_decimal::Decimal;
use std::ops::RangeInclusive;

use super::rest::Failure;
use crate::orders::exchanges::{ExchangeError, OrderTicket};

/// The `trailingDelta` range, in basis points, of Binance's
/// `TRAILING_DELTA` filter on most spot symbols.
pub(super) const TRAILING_DELTA_BIPS: RangeInclusive<u32> = 10..=2000;

/// `BTC/USDT` → `BTCUSDT`.
pub(super) fn venue_symbol(symbol: &str) -> String {
    symbol.replace('/', "")
}

/// A ticket as the query parameters of `POST /api/v3/order`.
pub(super) fn order_params(ticket: &OrderTicket) -> Vec<(&'static str, String)> {
    let decimal = |d: Decimal| d.normalize().to_string();
    let side = if ticket.side == Side::Sell {
        "SELL"
    } else {
        "BUY"
    };
    let kind = match ticket.order_type {
        OrderType::Limit => "LIMIT",
        OrderType::Stop => "STOP_LOSS",
        OrderType::StopLimit => "STOP_LOSS_LIMIT",
        _ => "MARKET",
    };
    let mut params = vec![
        ("symbol", venue_symbol(&ticket.symbol)),
        ("side", side.to_string()),
        ("type", kind.to_string()),
        ("quantity", decimal(ticket.quantity)),
        ("newClientOrderId", ticket.client_order_id.clone()),
        ("newOrderRespType", "FULL".to_string()),
    ];
    if matches!(ticket.order_type, OrderType::Limit | OrderType::StopLimit) {
        let tif = match ticket.time_in_force {
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            _ => "GTC",
        };
        params.push(("timeInForce", tif.to_string()));
    }
    if let Some(price) = ticket.price {
        params.push(("price", decimal(price)));
    }
    // A trailing stop sent without `stopPrice` trails from the next trade
    // on; with one, it would only start trailing once the price reached it.
    if let Some(stop) = ticket.stop_price {
        params.push(("stopPrice", decimal(stop)));
    }
    if let Some(bips) = ticket.trailing_delta_bips {
        params.push(("trailingDelta", bips.to_string()));
    }
    params
}

/// A failed read: nothing changed at Binance, so it is unavailable or
/// refused, never unknown.
pub(super) fn read_error(failure: Failure) -> ExchangeError {
    match failure {
        Failure::NoAnswer(why) | Failure::NotSent(why) => ExchangeError::Unavailable(why),
        other => order_error(other, ""),
    }
}

/// Binance's refusals as domain errors.
pub(super) fn order_error(failure: Failure, symbol: &str) -> ExchangeError {
    match failure {
        Failure::NotSent(why) => ExchangeError::Unavailable(why),
        Failure::NoAnswer(why) => ExchangeError::Unknown(why),
        Failure::RateLimited { retry_after } => ExchangeError::Unavailable(format!(
            "rate limited by Binance (429); retry after {}",
            humantime::format_duration(retry_after)
        )),
        Failure::Banned { retry_after } => ExchangeError::Banned(format!(
            "Binance banned this address (418) for {}",
            humantime::format_duration(retry_after)
        )),
        Failure::Refused { code: -1121, .. } => ExchangeError::UnknownSymbol(symbol.to_string()),
        Failure::Refused { code: -2013, .. } => ExchangeError::NotFound,
        Failure::Refused {
            code: code @ (-1022 | -2014 | -2015),
            message,
        } => ExchangeError::Rejected(format!(
            "Binance refused the API key or signature ({code}: {message}); check \
             exchanges.binance.api_key and api_secret"
        )),
        Failure::Refused {
            code: -1021,
            message,
        } => ExchangeError::Unavailable(format!(
            "our clock is too far from Binance's even after re-syncing (-1021: {message})"
        )),
        Failure::Refused {
            code: code @ (-1003 | -1015),
            message,
        } => ExchangeError::Unavailable(format!("Binance rate limit ({code}): {message}")),
        Failure::Refused { code, message } => {
            ExchangeError::Rejected(format!("{message} (Binance {code})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_limit_ticket_carries_every_field() {
        let ticket = OrderTicket {
            client_order_id: "tp-1".into(),
            order_type: OrderType::StopLimit,
            time_in_force: TimeInForce::Ioc,
            price: Some(Decimal::from(49_000)),
            stop_price: Some(Decimal::from(49_500)),
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(150, 3))
        };
        let params = order_params(&ticket);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("symbol"), Some("BTCUSDT"));
        assert_eq!(get("side"), Some("SELL"));
        assert_eq!(get("type"), Some("STOP_LOSS_LIMIT"));
        assert_eq!(get("timeInForce"), Some("IOC"));
        assert_eq!(get("quantity"), Some("0.15"));
        assert_eq!(get("stopPrice"), Some("49500"));
        assert_eq!(get("newClientOrderId"), Some("tp-1"));
        assert_eq!(get("trailingDelta"), None);
    }

    #[test]
    fn a_trailing_stop_carries_its_delta_and_no_trigger() {
        let ticket = OrderTicket {
            client_order_id: "tp-2".into(),
            order_type: OrderType::Stop,
            trailing_delta_bips: Some(200),
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(150, 3))
        };
        let params = order_params(&ticket);
        let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
        assert!(params.contains(&("trailingDelta", "200".to_string())));
        assert!(params.contains(&("type", "STOP_LOSS".to_string())));
        assert!(!names.contains(&"stopPrice"), "{names:?}");
    }
}

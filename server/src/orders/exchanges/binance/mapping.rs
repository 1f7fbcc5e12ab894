//! Mapping between tradeplane's orders and Binance's: symbols, order
//! parameters, and Binance's failures as domain errors.

use crate::{
    market::side::Side,
    model::order::{OrderType, TimeInForce},
};
use rust_decimal::Decimal;

use super::{futures::futures_params, market::Market, rest::Failure};
use crate::orders::exchanges::{ExchangeError, OrderTicket};

/// `BTC/USDT` → `BTCUSDT`; the perpetual `BTC/USDT:PERP` → `BTCUSDT`
/// too (its market says which).
pub(super) fn venue_symbol(symbol: &str) -> String {
    symbol.split(':').next().unwrap_or(symbol).replace('/', "")
}

/// A decimal as Binance reads it.
pub(super) fn decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Binance's word for a side.
pub(super) fn side_word(side: Side) -> &'static str {
    if side == Side::Sell { "SELL" } else { "BUY" }
}

/// Binance's word for a time in force.
pub(super) fn time_in_force_word(time_in_force: TimeInForce) -> &'static str {
    match time_in_force {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// A ticket as the query parameters of an order on `market` (`hedge`:
/// USDⓈ-M in hedge mode). A ticket the market cannot carry is refused.
pub(super) fn order_params(
    ticket: &OrderTicket,
    market: Market,
    hedge: bool,
) -> Result<Vec<(&'static str, String)>, ExchangeError> {
    if !market.instrument_kinds().contains(&ticket.kind) {
        return Err(ExchangeError::Rejected(format!(
            "unsupported_instrument: `{}` does not trade {} ({})",
            market.name(),
            ticket.kind.word(),
            ticket.symbol
        )));
    }
    match market {
        Market::Spot => Ok(spot_params(ticket)),
        Market::UsdM => futures_params(ticket, hedge),
    }
}

/// What every order says on both markets: the symbol, side, `kind`,
/// quantity and client order id, its time in force, limit and trigger.
/// (A spot trailing stop goes without `stopPrice`: with one, it would only
/// start trailing once the price reached it.)
pub(super) fn order_basics(ticket: &OrderTicket, kind: &str) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("symbol", venue_symbol(&ticket.symbol)),
        ("side", side_word(ticket.side).to_string()),
        ("type", kind.to_string()),
        ("quantity", decimal(ticket.quantity)),
        ("newClientOrderId", ticket.client_order_id.clone()),
    ];
    if matches!(ticket.order_type, OrderType::Limit | OrderType::StopLimit) {
        params.push((
            "timeInForce",
            time_in_force_word(ticket.time_in_force).into(),
        ));
    }
    if let Some(price) = ticket.price {
        params.push(("price", decimal(price)));
    }
    if let Some(stop) = ticket.stop_price {
        params.push(("stopPrice", decimal(stop)));
    }
    params
}

/// A ticket as the query parameters of `POST /api/v3/order`.
fn spot_params(ticket: &OrderTicket) -> Vec<(&'static str, String)> {
    let kind = match ticket.order_type {
        OrderType::Limit => "LIMIT",
        OrderType::Stop => "STOP_LOSS",
        OrderType::StopLimit => "STOP_LOSS_LIMIT",
        _ => "MARKET",
    };
    let mut params = order_basics(ticket, kind);
    params.push(("newOrderRespType", "FULL".to_string()));
    if let Some(bips) = ticket.trailing_delta_bips {
        params.push(("trailingDelta", bips.to_string()));
    }
    params
}

/// A failed read: nothing changed at Binance, so it is unavailable or
/// refused, never unknown.
pub(super) fn read_error(failure: Failure) -> ExchangeError {
    failure.into_read_error(|other| order_error(other, ""))
}

/// Binance's refusals as domain errors.
pub(super) fn order_error(failure: Failure, symbol: &str) -> ExchangeError {
    failure.into_error("Binance", |code, message| match code {
        -1121 => ExchangeError::UnknownSymbol(symbol.to_string()),
        -2013 => ExchangeError::NotFound,
        -1022 | -2014 | -2015 => ExchangeError::Rejected(format!(
            "Binance refused the API key or signature ({code}: {message}); check \
             the account's api_key and api_secret"
        )),
        -1021 => ExchangeError::Unavailable(format!(
            "our clock is too far from Binance's even after re-syncing (-1021: {message})"
        )),
        -1003 | -1015 => {
            ExchangeError::Unavailable(format!("Binance rate limit ({code}): {message}"))
        }
        _ => ExchangeError::Rejected(format!("{message} (Binance {code})")),
    })
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
        let params = spot_params(&ticket);
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
        let params = spot_params(&ticket);
        let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
        assert!(params.contains(&("trailingDelta", "200".to_string())));
        assert!(params.contains(&("type", "STOP_LOSS".to_string())));
        assert!(!names.contains(&"stopPrice"), "{names:?}");
    }
}

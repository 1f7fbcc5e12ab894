//! Mapping between tradeplane's orders and Bybit's: categories and
//! symbols, the body of `/v5/order/create`, and Bybit's `retCode`s as
//! domain errors.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::rest::Failure;
use crate::{
    market::side::Side,
    model::order::{Attachment, OrderType, TimeInForce},
    orders::exchanges::{ExchangeError, OrderTicket},
};

/// The suffix of a canonical perpetual symbol.
const PERP_SUFFIX: &str = ":PERP";

/// Bybit's product line of a canonical symbol: `spot` for `BTC/USDT`,
/// `linear` (USDT-settled perpetuals) for `BTC/USDT:PERP`.
pub(super) fn category(symbol: &str) -> &'static str {
    if symbol.ends_with(PERP_SUFFIX) {
        "linear"
    } else {
        "spot"
    }
}

/// `BTC/USDT` or `BTC/USDT:PERP` → `BTCUSDT`.
pub(super) fn venue_symbol(symbol: &str) -> String {
    symbol.trim_end_matches(PERP_SUFFIX).replace('/', "")
}

/// The `category` and `symbol` parameters of `symbol`.
pub(super) fn market_params(symbol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("category", category(symbol).to_string()),
        ("symbol", venue_symbol(symbol)),
    ]
}

/// A ticket as the JSON body of `POST /v5/order/create` (`hedge`: linear
/// perpetuals in hedge mode). A trailing stop is refused: Bybit trails
/// only positions (by a price distance), so the connector offers none and
/// the desk emulates trailing. An entry's attached exits go with it as
/// the whole position's TP/SL (`tpslMode` Full), triggered by the last
/// price; Bybit sets them on the position when the entry fills.
pub(super) fn order_body(ticket: &OrderTicket, hedge: bool) -> Result<Value, ExchangeError> {
    if ticket.trailing_delta_bips.is_some() {
        return Err(ExchangeError::Rejected(
            "unsupported_order: Bybit has no native trailing stop order".into(),
        ));
    }
    let decimal = |d: Decimal| d.normalize().to_string();
    let side = if ticket.side == Side::Sell {
        "Sell"
    } else {
        "Buy"
    };
    let limit = matches!(ticket.order_type, OrderType::Limit | OrderType::StopLimit);
    let time_in_force = match (limit, ticket.time_in_force) {
        (false, _) => "IOC",
        (true, TimeInForce::Ioc) => "IOC",
        (true, TimeInForce::Fok) => "FOK",
        (true, TimeInForce::Gtc) => "GTC",
    };
    let mut body = json!({
        "category": category(&ticket.symbol),
        "symbol": venue_symbol(&ticket.symbol),
        "side": side,
        "orderType": if limit { "Limit" } else { "Market" },
        "qty": decimal(ticket.quantity),
        "timeInForce": time_in_force,
        "orderLinkId": ticket.client_order_id,
    });
    if let Some(price) = ticket.price.filter(|_| limit) {
        body["price"] = json!(decimal(price));
    }
    let spot = !ticket.is_perpetual();
    if spot && !limit {
        // A spot market order's qty is in the quote coin unless told.
        body["marketUnit"] = json!("baseCoin");
    }
    if let Some(trigger) = ticket.stop_price {
        body["triggerPrice"] = json!(decimal(trigger));
        if spot {
            body["orderFilter"] = json!("StopOrder");
        } else {
            // A sell stop triggers on a fall (2), a buy stop on a rise (1).
            body["triggerDirection"] = json!(if ticket.side == Side::Sell { 2 } else { 1 });
        }
    }
    if ticket.reduce_only {
        if spot {
            return Err(ExchangeError::Rejected(
                "unsupported_order: reduce-only applies to perpetuals, not Bybit spot".into(),
            ));
        }
        body["reduceOnly"] = json!(true);
    }
    if let Some(exits) = Attachment::exits(&ticket.attachment) {
        if spot {
            return Err(ExchangeError::Rejected(
                "unsupported_order: Bybit sets TP/SL on linear perpetual positions, not spot"
                    .into(),
            ));
        }
        body["takeProfit"] = json!(decimal(exits.target_price));
        body["stopLoss"] = json!(decimal(exits.stop_price));
        body["tpslMode"] = json!("Full");
        body["tpTriggerBy"] = json!("LastPrice");
        body["slTriggerBy"] = json!("LastPrice");
    }
    if !spot {
        body["positionIdx"] = json!(position_idx(ticket, hedge));
    }
    Ok(body)
}

/// The linear position a ticket trades: 0 in one-way mode; in hedge mode
/// 1 (the long side) for a buy that opens or a sell that reduces, 2 (the
/// short side) otherwise.
pub(super) fn position_idx(ticket: &OrderTicket, hedge: bool) -> u8 {
    match (hedge, (ticket.side == Side::Buy) != ticket.reduce_only) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => 2,
    }
}

/// A failed read: nothing changed at Bybit, so it is unavailable or
/// refused, never unknown.
pub(super) fn read_error(failure: Failure) -> ExchangeError {
    failure.into_read_error(|other| order_error(other, ""))
}

/// Bybit's failures as domain errors.
pub(super) fn order_error(failure: Failure, symbol: &str) -> ExchangeError {
    failure.into_error("Bybit", |code, message| match code {
        10029 | 170121 => ExchangeError::UnknownSymbol(symbol.to_string()),
        110001 | 170213 => ExchangeError::NotFound,
        10003 | 10004 | 10005 | 10007 | 10010 | 33004 => ExchangeError::Rejected(format!(
            "Bybit refused the API key or signature ({code}: {message}); check \
             exchanges.bybit.api_key and api_secret"
        )),
        10002 => ExchangeError::Unavailable(format!(
            "our clock is too far from Bybit's even after re-syncing (10002: {message})"
        )),
        110007 | 170131 => {
            ExchangeError::Rejected(format!("insufficient balance: {message} (Bybit {code})"))
        }
        170140 | 110094 => ExchangeError::Rejected(format!(
            "below the minimum notional: {message} (Bybit {code})"
        )),
        _ => ExchangeError::Rejected(format!("{message} (Bybit {code})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::instrument::InstrumentKind;

    #[test]
    fn a_perpetual_stop_is_a_reduce_only_conditional_market_order() {
        let ticket = OrderTicket {
            client_order_id: "tp-1".into(),
            symbol: "BTC/USDT:PERP".into(),
            order_type: OrderType::Stop,
            stop_price: Some(Decimal::from(48_500)),
            kind: InstrumentKind::Perpetual,
            reduce_only: true,
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(40, 3))
        };
        let body = order_body(&ticket, false).expect("a body");
        assert_eq!(body["category"], "linear");
        assert_eq!(body["symbol"], "BTCUSDT");
        assert_eq!(body["orderType"], "Market");
        assert_eq!(body["qty"], "0.04");
        assert_eq!(body["triggerPrice"], "48500");
        assert_eq!(body["triggerDirection"], 2);
        assert_eq!(body["reduceOnly"], true);
        assert_eq!(body["orderLinkId"], "tp-1");
    }

    #[test]
    fn hedge_mode_names_the_side_of_the_position_and_one_way_mode_none() {
        let perp = |side, reduce_only| OrderTicket {
            symbol: "BTC/USDT:PERP".into(),
            kind: InstrumentKind::Perpetual,
            reduce_only,
            ..OrderTicket::market(side, "BTC", "USDT", Decimal::new(40, 3))
        };
        let idx = |ticket: &OrderTicket, hedge| {
            order_body(ticket, hedge).expect("a body")["positionIdx"].clone()
        };
        assert_eq!(
            idx(&perp(Side::Buy, false), true),
            1,
            "a buy opens the long"
        );
        assert_eq!(idx(&perp(Side::Sell, true), true), 1, "a sell reduces it");
        assert_eq!(
            idx(&perp(Side::Sell, false), true),
            2,
            "a sell opens the short"
        );
        assert_eq!(idx(&perp(Side::Buy, true), true), 2, "a buy reduces it");
        assert_eq!(idx(&perp(Side::Buy, false), false), 0);
        let spot = OrderTicket::market(Side::Buy, "BTC", "USDT", Decimal::new(1, 2));
        assert!(
            order_body(&spot, true)
                .expect("a body")
                .get("positionIdx")
                .is_none()
        );
    }

    #[test]
    fn an_entry_carries_its_exits_as_the_positions_full_tp_sl() {
        let entry = OrderTicket {
            symbol: "BTC/USDT:PERP".into(),
            kind: InstrumentKind::Perpetual,
            attachment: Some(Attachment::Exits(crate::model::order::AttachedExits {
                group: "g-1".into(),
                stop_price: Decimal::from(48_500),
                target_price: Decimal::new(530_001, 1),
            })),
            ..OrderTicket::market(Side::Buy, "BTC", "USDT", Decimal::new(40, 3))
        };
        let body = order_body(&entry, true).expect("a body");
        assert_eq!(body["takeProfit"], "53000.1");
        assert_eq!(body["stopLoss"], "48500");
        assert_eq!(body["tpslMode"], "Full");
        assert_eq!(body["tpTriggerBy"], "LastPrice");
        assert_eq!(body["positionIdx"], 1, "the long side in hedge mode");
        let spot = OrderTicket {
            symbol: "BTC/USDT".into(),
            kind: InstrumentKind::Spot,
            ..entry
        };
        assert!(matches!(
            order_body(&spot, false),
            Err(ExchangeError::Rejected(_))
        ));
    }

    #[test]
    fn a_spot_market_buy_counts_in_the_base_coin() {
        let ticket = OrderTicket::market(Side::Buy, "BTC", "USDT", Decimal::new(1, 2));
        let body = order_body(&ticket, false).expect("a body");
        assert_eq!(body["category"], "spot");
        assert_eq!(body["marketUnit"], "baseCoin");
        assert!(body.get("reduceOnly").is_none());
        let mapped = order_error(
            Failure::Refused {
                code: 170131,
                message: "Insufficient balance.".into(),
            },
            "BTC/USDT",
        );
        assert!(matches!(mapped, ExchangeError::Rejected(m) if m.starts_with("insufficient")));
    }
}

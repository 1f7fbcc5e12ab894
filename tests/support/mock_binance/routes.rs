//! The mock's endpoints: public market data, and the signed account and
//! order routes behind Binance's key, signature and timestamp checks.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::mock_venue::{Answer, Request, answer, params};

use super::{
    State,
    book::{free, is_open, locked, order_json, place},
    error, now_ms,
    order_list::{cancel_list, place_list},
};

/// Answers one request that no fault stopped.
pub(super) fn route_request(s: &mut State, request: &Request) -> Answer {
    let p = params(&request.query);
    let server_time = now_ms() + s.clock_offset_ms;
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v3/time") => answer(200, json!({"serverTime": server_time})),
        ("GET", "/api/v3/exchangeInfo") => exchange_info(p.get("symbol").map(String::as_str)),
        ("GET", "/api/v3/ticker/price") => {
            let symbol = p.get("symbol").cloned().unwrap_or_default();
            match s.prices.get(&symbol) {
                Some(price) => answer(200, json!({"symbol": symbol, "price": price.to_string()})),
                None => error(400, -1121, "Invalid symbol."),
            }
        }
        (method, path) => {
            match verify(request, &p, server_time, &s.keys) {
                Ok(key) => {
                    if let Some(id) = p.get("newClientOrderId") {
                        s.placed_by.insert(id.clone(), key);
                    }
                }
                Err(refusal) => {
                    s.refused_signatures += 1;
                    return refusal;
                }
            }
            match (method, path) {
                ("POST", "/api/v3/order") => place(s, &p, server_time),
                ("POST", "/api/v3/orderList/oco") => place_list(s, &p, server_time),
                ("GET", "/api/v3/openOrders") => {
                    let symbol = p.get("symbol");
                    let open: Vec<Value> = s
                        .orders
                        .iter()
                        .filter(|o| is_open(o.status) && symbol.is_none_or(|sym| &o.symbol == sym))
                        .map(|o| order_json(o, &[]))
                        .collect();
                    answer(200, Value::Array(open))
                }
                ("GET", "/api/v3/order") => match find(s, &p) {
                    Some(order) => answer(200, order_json(&s.orders[order], &[])),
                    None => error(400, -2013, "Order does not exist."),
                },
                ("DELETE", "/api/v3/order") => match find(s, &p) {
                    Some(order) if is_open(s.orders[order].status) => {
                        cancel_list(s, order);
                        answer(200, order_json(&s.orders[order], &[]))
                    }
                    _ => error(400, -2011, "Unknown order sent."),
                },
                ("GET", "/api/v3/myTrades") => {
                    let order_id: i64 = p.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(-1);
                    let trades: Vec<Value> = s
                        .trades
                        .iter()
                        .filter(|t| t.order_id == order_id)
                        .map(|t| {
                            json!({"id": t.id, "orderId": t.order_id, "price": t.price.to_string(),
                                "qty": t.qty.to_string(), "commission": t.commission.to_string(),
                                "commissionAsset": t.commission_asset, "time": t.time})
                        })
                        .collect();
                    answer(200, Value::Array(trades))
                }
                ("GET", "/api/v3/account") => {
                    let balances: Vec<Value> = s
                        .balances
                        .keys()
                        .map(|asset| {
                            let (available, held) = (free(s, asset), locked(s, asset));
                            json!({"asset": asset, "free": available.to_string(), "locked": held.to_string()})
                        })
                        .collect();
                    answer(200, json!({"balances": balances}))
                }
                _ => error(404, -1000, "no such endpoint in the mock"),
            }
        }
    }
}

/// Binance's checks of a signed request (spot and futures alike): key
/// (one of `keys`), signature with that key's secret over the exact query
/// text before `&signature=`, and the timestamp window. Returns the key.
pub(crate) fn verify(
    request: &Request,
    p: &HashMap<String, String>,
    server_time: i64,
    keys: &[(String, String)],
) -> Result<String, Answer> {
    let Some((api_key, api_secret)) = keys
        .iter()
        .find(|(key, _)| request.header("x-mbx-apikey") == Some(key.as_str()))
    else {
        return Err(error(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    };
    let Some((payload, signature)) = request.query.rsplit_once("&signature=") else {
        return Err(error(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes()).expect("hmac key");
    mac.update(payload.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if expected != signature {
        return Err(error(
            400,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let timestamp: i64 = p
        .get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            error(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            )
        })?;
    let window: i64 = p
        .get("recvWindow")
        .and_then(|w| w.parse().ok())
        .unwrap_or(5000);
    if window > 60_000 {
        return Err(error(400, -1131, "recvWindow must be less than 60000"));
    }
    if timestamp >= server_time + 1000 {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server_time - timestamp > window {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(api_key.clone())
}

/// The order a request names, by client order id or order id.
pub(super) fn find(s: &State, p: &HashMap<String, String>) -> Option<usize> {
    if let Some(client_id) = p.get("origClientOrderId") {
        return s
            .orders
            .iter()
            .rposition(|o| &o.client_order_id == client_id);
    }
    let id: i64 = p.get("orderId")?.parse().ok()?;
    s.orders.iter().position(|o| o.order_id == id)
}

fn exchange_info(symbol: Option<&str>) -> Answer {
    let Some(symbol @ ("BTCUSDT" | "ETHUSDT")) = symbol else {
        return error(400, -1121, "Invalid symbol.");
    };
    answer(
        200,
        json!({
            "timezone": "UTC",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
            ],
            "symbols": [{
                "symbol": symbol,
                "status": "TRADING",
                "baseAsset": symbol.trim_end_matches("USDT"),
                "quoteAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00", "applyMinToMarket": true}
                ]
            }]
        }),
    )
}

//! The mock's endpoints, every one behind Alpaca's key-pair check: the
//! clock, assets, the latest trade, the account, positions, orders and
//! fill activities.

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{API_KEY, API_SECRET, State, book, error, now_ms};
use crate::mock_venue::{Answer, Request, answer, params};

/// Milliseconds since the epoch as Alpaca's RFC 3339 time.
pub(super) fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// Whether `request` reads one order by its Alpaca id with its legs.
pub(super) fn is_nested_lookup(request: &Request) -> bool {
    request.method == "GET"
        && request.path.starts_with("/v2/orders/")
        && params(&request.query).get("nested").map(String::as_str) == Some("true")
}

/// Answers one request that no fault stopped.
pub(super) fn route_request(s: &mut State, request: &Request) -> Answer {
    let header = |name: &str| request.header(name).unwrap_or_default();
    if header("apca-api-key-id") != API_KEY || header("apca-api-secret-key") != API_SECRET {
        s.refused_signatures += 1;
        return error(401, 40110000, "request is not authorized");
    }
    let p = params(&request.query);
    let get = |name: &str| p.get(name).cloned().unwrap_or_default();
    let nested = get("nested") == "true";
    let path = request.path.as_str();
    match (request.method.as_str(), path) {
        ("GET", "/v2/clock") => {
            let hour = 3_600_000;
            let now = now_ms() + s.clock_offset_ms;
            answer(
                200,
                json!({
                    "timestamp": rfc3339(now), "is_open": s.open,
                    "next_open": rfc3339(now + if s.open { 24 * hour } else { hour }),
                    "next_close": rfc3339(now + if s.open { hour } else { 30 * hour }),
                }),
            )
        }
        ("GET", "/v2/account") => {
            let buying_power = s.cash - book::reserved_cash(s);
            answer(
                200,
                json!({
                    "id": "mock-account", "status": "ACTIVE", "currency": "USD",
                    "cash": s.cash.to_string(), "buying_power": buying_power.to_string(),
                }),
            )
        }
        ("GET", "/v2/positions") => {
            let list: Vec<Value> = s
                .shares
                .iter()
                .filter(|(_, qty)| !qty.is_zero())
                .map(|(symbol, qty)| {
                    let available = *qty - book::reserved_shares(s, symbol);
                    json!({"symbol": symbol, "asset_class": "us_equity", "qty": qty.to_string(), "qty_available": available.to_string(), "side": "long"})
                })
                .collect();
            answer(200, json!(list))
        }
        ("GET", "/v2/account/activities/FILL") => fills(s, &get("page_token"), &get("page_size")),
        ("POST", "/v2/orders") => match serde_json::from_str::<Value>(&request.body) {
            Ok(body) => book::place(s, &body),
            Err(_) => error(400, 40010000, "request body format is invalid"),
        },
        ("GET", "/v2/orders:by_client_order_id") => {
            let id = get("client_order_id");
            match s.orders.iter().rev().find(|o| o.client_order_id == id) {
                Some(order) => answer(200, book::order_json(s, order, nested)),
                None => error(404, 40410000, "order not found"),
            }
        }
        ("GET", "/v2/orders") => {
            let list: Vec<Value> = s
                .orders
                .iter()
                .rev()
                .filter(|o| o.parent.is_none() && o.symbol == get("symbols"))
                .map(|o| book::order_json(s, o, nested))
                .collect();
            answer(200, json!(list))
        }
        ("GET", _) if path.starts_with("/v2/orders/") => {
            let id = path.trim_start_matches("/v2/orders/");
            match s.orders.iter().find(|o| o.id == id) {
                Some(order) => answer(200, book::order_json(s, order, nested)),
                None => error(404, 40410000, "order not found"),
            }
        }
        ("DELETE", _) if path.starts_with("/v2/orders/") => {
            book::cancel(s, path.trim_start_matches("/v2/orders/"))
        }
        ("GET", _) if path.starts_with("/v2/assets/") => {
            let symbol = path.trim_start_matches("/v2/assets/");
            match s.assets.get(symbol) {
                Some(asset) => answer(
                    200,
                    json!({
                        "id": format!("asset-{symbol}"), "class": "us_equity", "exchange": "NASDAQ",
                        "symbol": symbol, "status": "active", "tradable": true,
                        "fractionable": asset.fractionable,
                        "min_trade_increment": if asset.fractionable { "0.00001" } else { "1" },
                    }),
                ),
                None => error(404, 40410000, "asset not found"),
            }
        }
        ("GET", _) if path.starts_with("/v2/stocks/") && path.ends_with("/trades/latest") => {
            let symbol = path
                .trim_start_matches("/v2/stocks/")
                .trim_end_matches("/trades/latest");
            match s.assets.get(symbol) {
                Some(asset) => answer(
                    200,
                    json!({"symbol": symbol, "trade": {"t": rfc3339(now_ms()), "p": asset.price, "s": 1}}),
                ),
                None => error(404, 40410000, "symbol not found"),
            }
        }
        _ => error(404, 40410000, "endpoint not found"),
    }
}

/// `GET /v2/account/activities/FILL`, newest first, a page after
/// `page_token`.
fn fills(s: &State, page_token: &str, page_size: &str) -> Answer {
    let size: usize = page_size.parse().unwrap_or(100);
    let list: Vec<Value> = s
        .executions
        .iter()
        .rev()
        .skip_while(|e| !page_token.is_empty() && e.id.as_str() >= page_token)
        .take(size)
        .map(|e| {
            json!({
                "id": e.id, "activity_type": "FILL", "type": "fill",
                "transaction_time": rfc3339(e.time), "symbol": e.symbol, "side": e.side,
                "price": e.price.to_string(), "qty": e.qty.to_string(), "order_id": e.order_id,
                "leaves_qty": Decimal::ZERO.to_string(),
            })
        })
        .collect();
    answer(200, json!(list))
}

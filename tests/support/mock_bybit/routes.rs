//! The mock's endpoints: public market data, and the signed account,
//! order and position routes behind Bybit's key, signature and timestamp
//! checks.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{API_KEY, API_SECRET, State, book, error, now_ms, position_mode, tpsl};
use crate::mock_venue::{Answer, Request, answer, params};

/// A `retCode` 0 answer.
pub(super) fn ok(result: Value) -> Answer {
    answer(
        200,
        json!({"retCode": 0, "retMsg": "OK", "result": result, "time": now_ms()}),
    )
}

/// Answers one request that no fault stopped.
pub(super) fn route_request(s: &mut State, request: &Request) -> Answer {
    let p = params(&request.query);
    let server_time = now_ms() + s.clock_offset_ms;
    let get = |name: &str| p.get(name).cloned().unwrap_or_default();
    match request.path.as_str() {
        "/v5/market/time" => {
            return answer(
                200,
                json!({
                    "retCode": 0, "retMsg": "OK",
                    "result": {"timeSecond": (server_time / 1000).to_string(), "timeNano": (server_time * 1_000_000).to_string()},
                    "time": server_time,
                }),
            );
        }
        "/v5/market/instruments-info" => return instruments(&get("category"), &get("symbol")),
        "/v5/market/tickers" => {
            return match s.prices.get(&get("symbol")) {
                Some(price) => ok(
                    json!({"category": get("category"), "list": [{"symbol": get("symbol"), "lastPrice": price.to_string()}]}),
                ),
                None => error(200, 10001, "params error: symbol invalid"),
            };
        }
        _ => {}
    }
    let payload = if request.method == "GET" {
        &request.query
    } else {
        &request.body
    };
    if let Err(refusal) = verify(request, payload, server_time) {
        s.refused_signatures += 1;
        return refusal;
    }
    let body: Value = if request.method == "POST" {
        match serde_json::from_str(&request.body) {
            Ok(body) => body,
            Err(_) => return error(200, 10001, "params error: body is not JSON"),
        }
    } else {
        Value::Null
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v5/order/create") => {
            s.create_requests += 1;
            book::place(s, &body)
        }
        ("POST", "/v5/order/cancel") => book::cancel(s, &field("category"), &field("orderLinkId")),
        ("GET", "/v5/order/realtime") => orders(s, &p, true),
        ("GET", "/v5/order/history") => orders(s, &p, false),
        ("GET", "/v5/execution/list") => {
            let list: Vec<Value> = s
                .executions
                .iter()
                .filter(|e| e.order_id == get("orderId"))
                .map(|e| {
                    json!({
                        "symbol": get("symbol"), "orderId": e.order_id, "execId": e.id.to_string(),
                        "execPrice": e.price.to_string(), "execQty": e.qty.to_string(),
                        "execFee": e.fee.to_string(), "feeCurrency": e.fee_currency,
                        "execTime": e.time.to_string(),
                    })
                })
                .collect();
            ok(json!({"category": get("category"), "list": list}))
        }
        ("GET", "/v5/account/wallet-balance") => {
            let coins: Vec<Value> = s
                .balances
                .iter()
                .map(|(coin, amount)| {
                    json!({
                        "coin": coin, "walletBalance": amount.to_string(),
                        "locked": book::locked(s, coin).to_string(),
                    })
                })
                .collect();
            ok(json!({"list": [{"accountType": "UNIFIED", "coin": coins}]}))
        }
        ("GET", "/v5/position/list") => {
            ok(json!({"category": "linear", "list": book::positions_json(s, &get("symbol"))}))
        }
        ("POST", "/v5/position/trading-stop") => tpsl::trading_stop(s, &body),
        ("POST", "/v5/position/switch-mode") => position_mode::switch_mode(s, &body),
        ("POST", "/v5/position/switch-isolated") | ("POST", "/v5/position/set-leverage") => {
            book::set_leverage(s, request.path.ends_with("switch-isolated"), &body)
        }
        _ => error(404, 10017, "Route not found."),
    }
}

/// Bybit's checks of a signed request: a known key, a timestamp with
/// `server_time - recv_window <= timestamp < server_time + 1000`, and the
/// HMAC-SHA256 hex of `timestamp + key + recv_window + payload`.
fn verify(request: &Request, payload: &str, server_time: i64) -> Result<(), Answer> {
    let header = |name: &str| request.header(name).unwrap_or_default();
    if header("x-bapi-api-key") != API_KEY {
        return Err(error(401, 10003, "API key is invalid."));
    }
    let timestamp: i64 = header("x-bapi-timestamp")
        .parse()
        .map_err(|_| error(200, 10001, "params error: X-BAPI-TIMESTAMP"))?;
    let recv_window: i64 = match header("x-bapi-recv-window") {
        "" => 5_000,
        text => text
            .parse()
            .map_err(|_| error(200, 10001, "params error: X-BAPI-RECV-WINDOW"))?,
    };
    if timestamp < server_time - recv_window || timestamp >= server_time + 1000 {
        return Err(error(
            200,
            10002,
            &format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{timestamp}],server_timestamp[{server_time}],recv_window[{recv_window}]"
            ),
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(API_SECRET.as_bytes()).expect("hmac key");
    mac.update(
        format!(
            "{timestamp}{API_KEY}{}{payload}",
            header("x-bapi-recv-window")
        )
        .as_bytes(),
    );
    if hex::encode(mac.finalize().into_bytes()) != header("x-bapi-sign") {
        return Err(error(200, 10004, "error sign! origin_string[...]"));
    }
    Ok(())
}

/// BTCUSDT's listing: a 0.01 tick, a 0.00001 lot and a minimum notional
/// of 5, spot and linear.
fn instruments(category: &str, symbol: &str) -> Answer {
    if symbol != "BTCUSDT" {
        return ok(json!({"category": category, "list": []}));
    }
    let lot = match category {
        "spot" => {
            json!({"basePrecision": "0.00001", "quotePrecision": "0.00000001", "minOrderQty": "0.00001", "maxOrderQty": "100", "minOrderAmt": "5", "maxOrderAmt": "2000000"})
        }
        "linear" => {
            json!({"maxOrderQty": "100", "minOrderQty": "0.00001", "qtyStep": "0.00001", "minNotionalValue": "5"})
        }
        _ => return error(200, 10001, "params error: category"),
    };
    ok(json!({"category": category, "list": [{
        "symbol": "BTCUSDT", "status": "Trading", "baseCoin": "BTC", "quoteCoin": "USDT",
        "lotSizeFilter": lot, "priceFilter": {"tickSize": "0.01", "minPrice": "0.01", "maxPrice": "1999999"},
    }]}))
}

/// Orders, newest first, under `orderLinkId` if given, else in `symbol`
/// if given, created since `startTime` if given: open ones for
/// `realtime`, closed ones for `history`.
fn orders(s: &State, p: &HashMap<String, String>, open: bool) -> Answer {
    let get = |name: &str| p.get(name).map(String::as_str).unwrap_or_default();
    let (category, link, symbol) = (get("category"), get("orderLinkId"), get("symbol"));
    let since = match get("startTime") {
        "" => i64::MIN,
        text => match text.parse::<i64>() {
            Ok(since) => since,
            Err(_) => return error(200, 10001, "params error: startTime"),
        },
    };
    let list: Vec<Value> = s
        .orders
        .iter()
        .rev()
        .filter(|o| o.category == category)
        .filter(|o| match (link, symbol) {
            ("", "") => true,
            ("", symbol) => o.symbol == symbol,
            (link, _) => o.order_link_id == link,
        })
        .filter(|o| book::is_open(o.status) == open)
        .filter(|o| o.created >= since)
        .map(book::order_json)
        .collect();
    ok(json!({"category": category, "list": list}))
}

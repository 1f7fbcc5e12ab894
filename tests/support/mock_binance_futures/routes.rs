//! The futures mock's endpoints: public market data, and the signed
//! order, account, position and settings routes behind Binance's checks.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::{
    mock_binance::{error, verify},
    mock_venue::{Answer, Request, answer, params},
};

use super::{
    FuturesOrder, State,
    book::{available, check, decimal_param, execution_price, fill, is_open, margin_settings},
    close_position, income, trailing,
};

/// Milliseconds since the epoch on our clock.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Answers one request that no fault stopped.
pub(super) fn route_request(s: &mut State, request: &Request) -> Answer {
    let p = params(&request.query);
    let server_time = now_ms() + s.clock_offset_ms;
    let symbol = p.get("symbol").cloned().unwrap_or_default();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/fapi/v1/time") => answer(200, json!({"serverTime": server_time})),
        ("GET", "/fapi/v1/exchangeInfo") => exchange_info(s),
        ("GET", "/fapi/v1/ticker/price") => match s.marks.get(&symbol) {
            Some(price) => answer(200, json!({"symbol": symbol, "price": price.to_string()})),
            None => error(400, -1121, "Invalid symbol."),
        },
        ("GET", "/fapi/v1/premiumIndex") => match s.marks.get(&symbol) {
            Some(mark) => answer(
                200,
                json!({"symbol": symbol, "markPrice": mark.to_string(),
                    "indexPrice": mark.to_string(), "lastFundingRate": "0.0001"}),
            ),
            None => error(400, -1121, "Invalid symbol."),
        },
        (method, path) => {
            if let Err(refusal) = verify(request, &p, server_time, &s.keys) {
                s.refused_signatures += 1;
                return refusal;
            }
            signed(s, method, path, &p, server_time)
        }
    }
}

fn signed(
    s: &mut State,
    method: &str,
    path: &str,
    p: &HashMap<String, String>,
    server_time: i64,
) -> Answer {
    match (method, path) {
        ("POST", "/fapi/v1/order") => place(s, p, server_time),
        ("GET", "/fapi/v1/order") => match find(s, p) {
            Some(index) => answer(200, order_json(&s.orders[index])),
            None => error(400, -2013, "Order does not exist."),
        },
        ("DELETE", "/fapi/v1/order") => match find(s, p) {
            Some(index) if is_open(s.orders[index].status) => {
                s.orders[index].status = "CANCELED";
                answer(200, order_json(&s.orders[index]))
            }
            _ => error(400, -2011, "Unknown order sent."),
        },
        ("GET", "/fapi/v1/openOrders") => {
            let open: Vec<Value> = s
                .orders
                .iter()
                .filter(|o| {
                    is_open(o.status) && (!p.contains_key("symbol") || p["symbol"] == o.symbol)
                })
                .map(order_json)
                .collect();
            answer(200, Value::Array(open))
        }
        ("GET", "/fapi/v1/userTrades") => {
            let order_id: i64 = p.get("orderId").and_then(|v| v.parse().ok()).unwrap_or(-1);
            let trades: Vec<Value> = s
                .trades
                .iter()
                .filter(|t| t.order_id == order_id)
                .map(|t| {
                    json!({"id": t.id, "orderId": t.order_id, "price": t.price.to_string(),
                        "qty": t.qty.to_string(), "commission": t.commission.to_string(),
                        "commissionAsset": "USDT", "realizedPnl": t.realized_pnl.to_string(),
                        "side": t.side, "time": t.time})
                })
                .collect();
            answer(200, Value::Array(trades))
        }
        ("GET", "/fapi/v2/balance") => answer(
            200,
            json!([{"asset": "USDT", "balance": s.wallet.to_string(),
                "availableBalance": available(s).to_string()}]),
        ),
        ("GET", "/fapi/v2/positionRisk") => position_risk(s, p.get("symbol")),
        ("GET", "/fapi/v1/income") => income::income(s, p),
        ("POST", "/fapi/v1/leverage") => {
            let symbol = p.get("symbol").cloned().unwrap_or_default();
            match p.get("leverage").and_then(|l| l.parse::<u32>().ok()) {
                Some(leverage @ 1..=125) if s.marks.contains_key(&symbol) => {
                    s.leverage.insert(symbol.clone(), leverage);
                    answer(200, json!({"symbol": symbol, "leverage": leverage}))
                }
                _ => error(400, -4028, "Leverage is not valid"),
            }
        }
        ("POST", "/fapi/v1/marginType") => {
            let symbol = p.get("symbol").cloned().unwrap_or_default();
            let isolated = match p.get("marginType").map(String::as_str) {
                Some("ISOLATED") => true,
                Some("CROSSED") => false,
                _ => return error(400, -1116, "Invalid marginType."),
            };
            if margin_settings(s, &symbol).1 == isolated {
                return error(400, -4046, "No need to change margin type.");
            }
            s.isolated.insert(symbol, isolated);
            answer(200, json!({"code": 200, "msg": "success"}))
        }
        ("GET", "/fapi/v1/positionSide/dual") => {
            answer(200, json!({"dualSidePosition": s.hedge_mode}))
        }
        ("POST", "/fapi/v1/positionSide/dual") => {
            let hedge = p.get("dualSidePosition").map(String::as_str) == Some("true");
            if hedge == s.hedge_mode {
                return error(400, -4059, "No need to change position side.");
            }
            s.hedge_mode = hedge;
            answer(200, json!({"code": 200, "msg": "success"}))
        }
        _ => error(404, -1000, "no such endpoint in the mock"),
    }
}

/// `POST /fapi/v1/order`.
fn place(s: &mut State, p: &HashMap<String, String>, server_time: i64) -> Answer {
    let text = |k: &str| p.get(k).cloned().unwrap_or_default();
    let symbol = text("symbol");
    let Some(&mark) = s.marks.get(&symbol) else {
        return error(400, -1121, "Invalid symbol.");
    };
    let client_order_id = text("newClientOrderId");
    if s.orders
        .iter()
        .any(|o| o.client_order_id == client_order_id && is_open(o.status))
    {
        return error(400, -4116, "ClientOrderId is duplicated.");
    }
    let position_side = p.get("positionSide").cloned().unwrap_or("BOTH".into());
    if s.hedge_mode != (position_side != "BOTH") {
        return error(
            400,
            -4061,
            "Order's position side does not match user's setting.",
        );
    }
    if let Err(refusal) = close_position::check(p).and_then(|()| trailing::check(p)) {
        return refusal;
    }
    let reduce_only = text("reduceOnly") == "true";
    if s.hedge_mode && reduce_only {
        return error(400, -1106, "Parameter 'reduceonly' sent when not required.");
    }
    let close_position = text("closePosition") == "true";
    let quantity = match (decimal_param(p, "quantity"), close_position) {
        (Some(quantity), false) => quantity,
        (None, true) => Decimal::ZERO,
        (Some(_), true) => {
            return error(400, -1106, "Parameter 'quantity' sent when not required.");
        }
        (None, false) => {
            return error(
                400,
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            );
        }
    };
    // In hedge mode, closing a long is a sell on LONG: it reduces.
    let reduces_by_side = s.hedge_mode && ((position_side == "LONG") == (text("side") == "SELL"));
    let kind = text("type");
    let order = FuturesOrder {
        order_id: s.next_id,
        client_order_id,
        symbol,
        side: text("side"),
        position_side,
        kind: kind.clone(),
        quantity,
        price: decimal_param(p, "price"),
        stop_price: decimal_param(p, "stopPrice"),
        callback_rate: decimal_param(p, "callbackRate"),
        activation_price: decimal_param(p, "activationPrice"),
        trail_best: decimal_param(p, "callbackRate")
            .and_then(|_| trailing::start(decimal_param(p, "activationPrice"), mark)),
        reduce_only: reduce_only || reduces_by_side,
        close_position,
        status: "NEW",
        executed: Decimal::ZERO,
        average_price: Decimal::ZERO,
        time: server_time,
    };
    if !matches!(
        kind.as_str(),
        "MARKET" | "LIMIT" | "STOP_MARKET" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET"
    ) {
        return error(400, -1116, "Invalid orderType.");
    }
    if let Err(refusal) = check(s, &order, mark) {
        return refusal;
    }
    s.next_id += 1;
    s.orders.push(order);
    let index = s.orders.len() - 1;
    let tif = text("timeInForce");
    match execution_price(&s.orders[index], mark) {
        Some(at) if kind == "MARKET" || kind == "LIMIT" => fill(s, index, at, server_time),
        None if kind == "LIMIT" && matches!(tif.as_str(), "IOC" | "FOK") => {
            s.orders[index].status = "EXPIRED";
        }
        _ => {}
    }
    answer(200, order_json(&s.orders[index]))
}

/// The order a request names, by client order id or order id.
fn find(s: &State, p: &HashMap<String, String>) -> Option<usize> {
    if let Some(client_id) = p.get("origClientOrderId") {
        return s
            .orders
            .iter()
            .rposition(|o| &o.client_order_id == client_id);
    }
    let id: i64 = p.get("orderId")?.parse().ok()?;
    s.orders.iter().position(|o| o.order_id == id)
}

/// An order as Binance futures reports it.
fn order_json(order: &FuturesOrder) -> Value {
    json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "price": order.price.unwrap_or_default().to_string(),
        "avgPrice": order.average_price.to_string(),
        "origQty": order.quantity.to_string(),
        "executedQty": order.executed.to_string(),
        "cumQuote": (order.executed * order.average_price).to_string(),
        "status": order.status,
        "timeInForce": "GTC",
        "type": order.kind,
        "origType": order.kind,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": order.stop_price.unwrap_or_default().to_string(),
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "priceRate": order.callback_rate.map(|r| r.to_string()),
        "activatePrice": order.activation_price.map(|p| p.to_string()),
        "workingType": "MARK_PRICE",
        "updateTime": order.time,
    })
}

fn position_risk(s: &State, symbol: Option<&String>) -> Answer {
    let rows: Vec<Value> = s
        .positions
        .iter()
        .filter(|((held, _), _)| symbol.is_none_or(|wanted| wanted == held))
        .map(|((symbol, side), p)| {
            let mark = s.marks.get(symbol).copied().unwrap_or_default();
            let (leverage, isolated) = margin_settings(s, symbol);
            json!({
                "symbol": symbol,
                "positionSide": side,
                "positionAmt": p.amount.to_string(),
                "entryPrice": p.entry_price.to_string(),
                "markPrice": mark.to_string(),
                "unRealizedProfit": ((mark - p.entry_price) * p.amount).to_string(),
                "leverage": leverage.to_string(),
                "marginType": if isolated { "isolated" } else { "cross" },
            })
        })
        .collect();
    answer(200, Value::Array(rows))
}

fn exchange_info(s: &State) -> Answer {
    let symbols: Vec<Value> = s
        .marks
        .keys()
        .map(|symbol| {
            json!({
                "symbol": symbol,
                "pair": symbol,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": symbol.trim_end_matches("USDT"),
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "1000", "stepSize": "0.00001"},
                    {"filterType": "MIN_NOTIONAL", "notional": "5"}
                ]
            })
        })
        .collect();
    answer(
        200,
        json!({
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
            ],
            "symbols": symbols
        }),
    )
}

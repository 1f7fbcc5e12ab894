//! The mock's endpoints: public data, and the signed account and trading
//! routes behind OKX's key, passphrase, signature, timestamp and
//! environment checks.

use base64::Engine;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    API_KEY, API_SECRET, CONTRACT_VALUE, PASSPHRASE, State, book, error, now_ms, ok, refused,
};
use crate::mock_venue::{Answer, Request, params};

/// How far OKX lets a request's timestamp be from its clock.
const TIMESTAMP_TOLERANCE_MS: i64 = 30_000;

/// Answers one request that no fault stopped.
pub(super) fn route_request(s: &mut State, request: &Request) -> Answer {
    let p = params(&request.query);
    let now = now_ms() + s.clock_offset_ms;
    let inst_id = p.get("instId").cloned().unwrap_or_default();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v5/public/time") => return ok(vec![json!({"ts": now.to_string()})]),
        ("GET", "/api/v5/public/instruments") => return instruments(&inst_id),
        ("GET", "/api/v5/market/ticker") => {
            return match s.prices.get(&inst_id) {
                Some(last) => ok(vec![json!({"instId": inst_id, "last": last.to_string()})]),
                None => error(400, "51001", "Instrument ID does not exist"),
            };
        }
        _ => {}
    }
    if let Err(refusal) = verify(request, now) {
        s.refused_signatures += 1;
        return refusal;
    }
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(&request.body) {
            Ok(body) => body,
            Err(_) => return error(400, "50002", "JSON syntax error"),
        }
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v5/trade/order") => book::place(s, &body),
        ("GET", "/api/v5/trade/order") => {
            let found = s.orders.iter().rev().find(|o| {
                o.inst_id == inst_id
                    && (p.get("clOrdId") == Some(&o.cl_ord_id) || p.get("ordId") == Some(&o.ord_id))
            });
            match found {
                Some(order) => ok(vec![book::order_json(order)]),
                None => error(200, "51603", "Order does not exist"),
            }
        }
        ("POST", "/api/v5/trade/cancel-order") => book::cancel(s, &body),
        ("GET", "/api/v5/trade/fills") => {
            let ord_id = p.get("ordId").cloned().unwrap_or_default();
            let fills = s
                .trades
                .iter()
                .filter(|t| t.ord_id == ord_id)
                .map(|t| {
                    json!({"tradeId": t.id.to_string(), "ordId": t.ord_id, "instId": t.inst_id,
                        "fillPx": t.price.to_string(), "fillSz": t.size.to_string(),
                        "fee": (-t.fee).to_string(), "feeCcy": t.fee_ccy, "ts": t.time.to_string()})
                })
                .collect();
            ok(fills)
        }
        ("POST", "/api/v5/trade/order-algo") => book::place_algo(s, &body),
        ("GET", "/api/v5/trade/order-algo") => {
            let id = p.get("algoClOrdId");
            match s.algos.iter().rev().find(|a| Some(&a.algo_cl_ord_id) == id) {
                Some(algo) => ok(vec![
                    json!({"algoId": algo.algo_id, "algoClOrdId": algo.algo_cl_ord_id,
                    "instId": algo.inst_id, "ordType": algo.ord_type, "state": algo.state,
                    "actualSide": algo.actual_side, "ordId": algo.ord_id}),
                ]),
                None => error(200, "51603", "Order does not exist"),
            }
        }
        ("POST", "/api/v5/trade/cancel-algos") => book::cancel_algos(s, &body),
        ("GET", "/api/v5/account/balance") => {
            let details: Vec<Value> = s
                .balances
                .iter()
                .map(|(ccy, total)| {
                    let frozen = book::frozen(s, ccy);
                    json!({"ccy": ccy, "availBal": (total - frozen).to_string(),
                        "frozenBal": frozen.to_string(), "cashBal": total.to_string()})
                })
                .collect();
            ok(vec![json!({"details": details})])
        }
        ("POST", "/api/v5/account/set-leverage") => set_leverage(s, &body),
        ("GET", "/api/v5/account/positions") => ok(book::positions_json(s)),
        ("GET", "/api/v5/account/config") => ok(vec![json!({
            "posMode": if s.long_short { "long_short_mode" } else { "net_mode" },
        })]),
        _ => error(404, "50000", "Not found"),
    }
}

/// OKX's checks of a signed request, in its words.
fn verify(request: &Request, now: i64) -> Result<(), Answer> {
    let header = |name: &str| request.header(name).unwrap_or_default();
    if request.header("x-simulated-trading") != Some("1") {
        return Err(error(
            401,
            "50101",
            "APIKey does not match current environment.",
        ));
    }
    match header("ok-access-key") {
        "" => {
            return Err(error(
                401,
                "50103",
                "Request header OK-ACCESS-KEY cannot be empty.",
            ));
        }
        API_KEY => {}
        _ => return Err(error(401, "50111", "Invalid OK-ACCESS-KEY.")),
    }
    if header("ok-access-passphrase") != PASSPHRASE {
        return Err(error(
            401,
            "50105",
            "Request header OK-ACCESS-PASSPHRASE incorrect.",
        ));
    }
    let stamp = header("ok-access-timestamp");
    let Ok(time) = chrono::DateTime::parse_from_rfc3339(stamp) else {
        return Err(error(401, "50112", "Invalid OK-ACCESS-TIMESTAMP."));
    };
    if (time.timestamp_millis() - now).abs() > TIMESTAMP_TOLERANCE_MS {
        return Err(error(401, "50102", "Timestamp request expired."));
    }
    let expired = request
        .header("exptime")
        .is_some_and(|at| at.parse::<i64>().map_or(true, |at| now > at));
    if expired {
        return Err(error(400, "50102", "Request timeout."));
    }
    let path = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(API_SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("{stamp}{}{path}{}", request.method, request.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if header("ok-access-sign") != expected {
        return Err(error(401, "50113", "Invalid Sign."));
    }
    Ok(())
}

/// The instruments the mock lists.
fn instruments(inst_id: &str) -> Answer {
    match inst_id {
        "BTC-USDT" => ok(vec![
            json!({"instId": "BTC-USDT", "instType": "SPOT", "state": "live",
            "tickSz": "0.01", "lotSz": "0.00001", "minSz": "0.00001", "ctVal": ""}),
        ]),
        "BTC-USDT-SWAP" => ok(vec![
            json!({"instId": "BTC-USDT-SWAP", "instType": "SWAP", "state": "live",
            "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "ctVal": CONTRACT_VALUE.to_string(),
            "ctValCcy": "BTC", "settleCcy": "USDT"}),
        ]),
        _ => ok(Vec::new()),
    }
}

fn set_leverage(s: &mut State, body: &Value) -> Answer {
    let inst_id = body["instId"].as_str().unwrap_or_default().to_string();
    let lever = body["lever"].as_str().and_then(|l| l.parse::<u32>().ok());
    let mode = body["mgnMode"].as_str().unwrap_or_default().to_string();
    let (Some(lever), true) = (lever, matches!(mode.as_str(), "isolated" | "cross")) else {
        return error(400, "51000", "Parameter lever or mgnMode error");
    };
    if !inst_id.ends_with("-SWAP") {
        return error(400, "51000", "Parameter instId error");
    }
    // In long/short mode an isolated leverage is set per side.
    let pos_side = body["posSide"].as_str().unwrap_or_default();
    if s.long_short && mode == "isolated" && !matches!(pos_side, "long" | "short") {
        return error(400, "51000", "Parameter posSide error");
    }
    let open = s
        .positions
        .get(&inst_id)
        .is_some_and(|p| !p.contracts.is_zero());
    if open && s.leverage.get(&inst_id).is_some_and(|(_, m)| *m != mode) {
        return refused(
            "59000",
            "Settings failed. Close any open positions or orders before modifying settings.",
        );
    }
    s.leverage.insert(inst_id.clone(), (lever, mode.clone()));
    ok(vec![
        json!({"instId": inst_id, "lever": lever.to_string(), "mgnMode": mode, "posSide": ""}),
    ])
}

/// A decimal field of a request body, sent as a string.
pub(super) fn decimal(body: &Value, field: &str) -> Option<Decimal> {
    body[field].as_str().and_then(|v| v.parse().ok())
}

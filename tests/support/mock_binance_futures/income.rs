//! The futures mock's income history (`GET /fapi/v1/income`): a
//! `REALIZED_PNL` row for each fill that realized profit, and a
//! `COMMISSION` row for each fee, filtered by `incomeType` and `symbol`
//! as Binance filters them.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::State;
use crate::{
    mock_binance::error,
    mock_venue::{Answer, answer},
};

/// The income types Binance lists that the mock can produce rows for.
const KNOWN_TYPES: [&str; 8] = [
    "TRANSFER",
    "WELCOME_BONUS",
    "REALIZED_PNL",
    "FUNDING_FEE",
    "COMMISSION",
    "INSURANCE_CLEAR",
    "REFERRAL_KICKBACK",
    "COMMISSION_REBATE",
];

/// `GET /fapi/v1/income`.
pub(super) fn income(s: &State, p: &HashMap<String, String>) -> Answer {
    let wanted = p.get("incomeType").map(String::as_str);
    if wanted.is_some_and(|t| !KNOWN_TYPES.contains(&t)) {
        return error(400, -1116, "Invalid incomeType.");
    }
    let limit: usize = match p.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(limit @ 1..=1000)) => limit,
        Some(_) => return error(400, -1130, "Data sent for parameter 'limit' is not valid."),
    };
    let symbol_of = |order_id: i64| {
        s.orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| o.symbol.clone())
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for trade in &s.trades {
        let symbol = symbol_of(trade.order_id);
        if p.get("symbol").is_some_and(|wanted| *wanted != symbol) {
            continue;
        }
        for (kind, amount) in [
            ("REALIZED_PNL", trade.realized_pnl),
            ("COMMISSION", -trade.commission),
        ] {
            if amount != Decimal::ZERO && wanted.is_none_or(|w| w == kind) {
                rows.push(json!({"symbol": symbol, "incomeType": kind,
                    "income": amount.to_string(), "asset": "USDT", "time": trade.time,
                    "info": "", "tranId": trade.id, "tradeId": trade.id.to_string()}));
            }
        }
    }
    rows.truncate(limit);
    answer(200, Value::Array(rows))
}

//! Native OCO order lists (`POST /api/v3/orderList/oco`) checked the way
//! Binance checks them: one `LIMIT_MAKER` leg and one `STOP_LOSS` or
//! `STOP_LOSS_LIMIT` leg, each on its side of the last price, one
//! quantity for both. The stop leg has a stop price, a trailing delta, or
//! both (see `trailing`). When one leg executes, even in part, the other
//! expires; canceling one leg cancels the list.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::mock_venue::{Answer, answer};

use super::{
    MockOrderList, State,
    book::{NewOrder, check, decimal_param, duplicate, is_open, missing, open, order_json},
    error,
    trailing::trailing_delta,
};

/// The parameters of one leg, by its position.
struct LegNames {
    kind: &'static str,
    client_order_id: &'static str,
    price: &'static str,
    stop_price: &'static str,
    trailing_delta: &'static str,
    time_in_force: &'static str,
}

const ABOVE: LegNames = LegNames {
    kind: "aboveType",
    client_order_id: "aboveClientOrderId",
    price: "abovePrice",
    stop_price: "aboveStopPrice",
    trailing_delta: "aboveTrailingDelta",
    time_in_force: "aboveTimeInForce",
};

const BELOW: LegNames = LegNames {
    kind: "belowType",
    client_order_id: "belowClientOrderId",
    price: "belowPrice",
    stop_price: "belowStopPrice",
    trailing_delta: "belowTrailingDelta",
    time_in_force: "belowTimeInForce",
};

/// Parameters of the request that are not the order list's own.
const TRANSPORT: [&str; 3] = ["timestamp", "recvWindow", "signature"];

/// `POST /api/v3/orderList/oco`.
pub(super) fn place_list(s: &mut State, p: &HashMap<String, String>, server_time: i64) -> Answer {
    for name in ["symbol", "side", "quantity", ABOVE.kind, BELOW.kind] {
        if p.get(name).is_none_or(String::is_empty) {
            return missing(name);
        }
    }
    let text = |k: &str| p.get(k).cloned().unwrap_or_default();
    let symbol = text("symbol");
    let Some(&market) = s.prices.get(&symbol) else {
        return error(400, -1121, "Invalid symbol.");
    };
    let side = text("side");
    // A sell closes a long: the take-profit is above the market, the stop
    // below. A buy closes a short: the other way round.
    let (limit_leg, stop_leg) = match side.as_str() {
        "SELL" => (&ABOVE, &BELOW),
        "BUY" => (&BELOW, &ABOVE),
        _ => return error(400, -1130, "Data sent for parameter 'side' is not valid."),
    };
    let Some(quantity) = decimal_param(p, "quantity") else {
        return missing("quantity");
    };
    let mut next_id = s.next_id;
    let mut leg = |names: &LegNames| -> Result<NewOrder, Answer> {
        let kind = text(names.kind);
        let trailing_delta = trailing_delta(p, names.trailing_delta, &kind)?;
        let needs: &[&str] = match kind.as_str() {
            "LIMIT_MAKER" => &[names.price],
            "STOP_LOSS" => &[names.stop_price],
            "STOP_LOSS_LIMIT" => &[names.stop_price, names.price, names.time_in_force],
            _ => {
                return Err(error(
                    400,
                    -1130,
                    &format!("Data sent for parameter '{}' is not valid.", names.kind),
                ));
            }
        };
        // A trailing stop needs no stop price.
        if let Some(absent) = needs
            .iter()
            .filter(|n| trailing_delta.is_none() || **n != names.stop_price)
            .find(|n| p.get(**n).is_none_or(String::is_empty))
        {
            return Err(missing(absent));
        }
        let client_order_id = p.get(names.client_order_id).cloned().unwrap_or_else(|| {
            next_id += 1;
            format!("mock-leg-{next_id}")
        });
        Ok(NewOrder {
            client_order_id,
            symbol: symbol.clone(),
            side: side.clone(),
            kind,
            quantity,
            price: decimal_param(p, names.price),
            stop_price: decimal_param(p, names.stop_price),
            trailing_delta,
            order_list_id: 0,
        })
    };
    let (limit, stop) = match (leg(limit_leg), leg(stop_leg)) {
        (Ok(limit), Ok(stop)) => (limit, stop),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal,
    };
    if limit.kind != "LIMIT_MAKER" || !stop.kind.starts_with("STOP_LOSS") {
        return error(
            400,
            -1130,
            &format!("Data sent for parameter '{}' is not valid.", limit_leg.kind),
        );
    }
    let Some(limit_price) = limit.price else {
        return missing(limit_leg.price);
    };
    // A trailing leg without a stop price has no trigger to check.
    let in_order = if side == "SELL" {
        limit_price > market && stop.stop_price.is_none_or(|trigger| market > trigger)
    } else {
        limit_price < market && stop.stop_price.is_none_or(|trigger| market < trigger)
    };
    if !in_order {
        return error(
            400,
            -2010,
            "The relationship of the prices for the orders is not correct.",
        );
    }
    if limit.client_order_id == stop.client_order_id
        || duplicate(s, &limit.client_order_id)
        || duplicate(s, &stop.client_order_id)
    {
        return error(400, -2010, "Duplicate order sent.");
    }
    // One quantity for the list: each leg is checked on its own, and the
    // balance is needed once.
    for order in [&limit, &stop] {
        if let Err(refusal) = check(s, order, market) {
            return refusal;
        }
    }
    let order_list_id = next_id + 1;
    s.next_id = order_list_id + 1;
    let list_client_order_id = p
        .get("listClientOrderId")
        .cloned()
        .unwrap_or_else(|| format!("mock-list-{order_list_id}"));
    s.order_lists.push(MockOrderList {
        order_list_id,
        list_client_order_id: list_client_order_id.clone(),
        params: p
            .iter()
            .filter(|(k, _)| !TRANSPORT.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        list_status_type: "EXEC_STARTED",
        list_order_status: "EXECUTING",
    });
    // Binance reports the stop first, then the limit maker.
    let indexes = [stop, limit].map(|order| {
        open(
            s,
            NewOrder {
                order_list_id,
                ..order
            },
            server_time,
        )
    });
    let orders: Vec<Value> = indexes
        .iter()
        .map(|&i| {
            let o = &s.orders[i];
            json!({"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id})
        })
        .collect();
    let reports: Vec<Value> = indexes
        .iter()
        .map(|&i| order_json(&s.orders[i], &[]))
        .collect();
    answer(
        200,
        json!({
            "orderListId": order_list_id,
            "contingencyType": "OCO",
            "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING",
            "listClientOrderId": list_client_order_id,
            "transactionTime": server_time,
            "symbol": symbol,
            "orders": orders,
            "orderReports": reports,
        }),
    )
}

/// `list` with its status now: executing while one of its legs is open,
/// all done after.
pub(super) fn with_status(s: &State, list: &MockOrderList) -> MockOrderList {
    let executing = s
        .orders
        .iter()
        .any(|o| o.order_list_id == list.order_list_id && is_open(o.status));
    let (list_status_type, list_order_status) = if executing {
        ("EXEC_STARTED", "EXECUTING")
    } else {
        ("ALL_DONE", "ALL_DONE")
    };
    MockOrderList {
        list_status_type,
        list_order_status,
        ..list.clone()
    }
}

/// After the order at `index` executed (in part or whole): the other legs
/// of its list expire.
pub(super) fn expire_siblings(s: &mut State, index: usize) {
    finish_list(s, index, "EXPIRED");
}

/// Cancels the open order at `index`, and with it every leg of its list.
pub(super) fn cancel_list(s: &mut State, index: usize) {
    s.orders[index].status = "CANCELED";
    finish_list(s, index, "CANCELED");
}

/// Ends the other open legs of the list of the order at `index` with
/// `status`.
fn finish_list(s: &mut State, index: usize, status: &'static str) {
    let (list, own_id) = (s.orders[index].order_list_id, s.orders[index].order_id);
    if list < 0 {
        return;
    }
    for order in s
        .orders
        .iter_mut()
        .filter(|o| o.order_list_id == list && o.order_id != own_id && is_open(o.status))
    {
        order.status = status;
    }
}

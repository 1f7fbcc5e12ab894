//! One-call helpers for the gRPC API: calls a test expects to succeed, and
//! the details of a refusal.

use std::collections::HashMap;

use rust_decimal::Decimal;
use tonic_types::StatusExt;
use tradeplane_api::{
    AuditEvent, AuditFilter, Execution, ExecutionFilter, GetBalancesRequest, GetOrderRequest,
    GetPositionsRequest, ListAuditEventsRequest, ListExecutionsRequest, ListOrdersRequest,
    ListSignalsRequest, Order, OrderFilter, PlaceOrderRequest, Position, Signal, SignalFilter,
    SubmitSignalRequest, SubmitSignalResponse,
};
use tradeplane_client::Client;

/// Submits a signal that the test expects to go through.
pub async fn submit(client: &Client, request: SubmitSignalRequest) -> SubmitSignalResponse {
    client
        .signals()
        .submit_signal(request)
        .await
        .expect("SubmitSignal succeeds")
        .into_inner()
}

/// The first page of signals matching `filter`.
pub async fn list_signals(client: &Client, filter: SignalFilter) -> Vec<Signal> {
    list_signals_page(client, filter, 0).await
}

/// The first page of up to `page_size` signals matching `filter` (0: the
/// server's default size).
pub async fn list_signals_page(
    client: &Client,
    filter: SignalFilter,
    page_size: i32,
) -> Vec<Signal> {
    client
        .signals()
        .list_signals(ListSignalsRequest {
            page_size,
            filter: Some(filter),
            ..Default::default()
        })
        .await
        .expect("ListSignals succeeds")
        .into_inner()
        .signals
}

/// A decimal from test text.
pub fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

/// The `ErrorInfo` reason of a refusal.
pub fn error_reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// The code and `ErrorInfo` reason of a refusal, to compare as a pair.
pub fn refusal(status: &tonic::Status) -> (tonic::Code, String) {
    (status.code(), error_reason(status))
}

/// Free and locked amount per asset on `exchange`.
pub async fn balances(client: &Client, exchange: &str) -> HashMap<String, (Decimal, Decimal)> {
    client
        .orders()
        .get_balances(GetBalancesRequest {
            exchange: exchange.into(),
            ..Default::default()
        })
        .await
        .expect("GetBalances succeeds")
        .into_inner()
        .balances
        .into_iter()
        .map(|b| (b.asset, (dec(&b.free), dec(&b.locked))))
        .collect()
}

/// The paper account's BTC, free and locked together.
pub async fn paper_btc(client: &Client) -> Decimal {
    let (free, locked) = balances(client, "paper").await["BTC"];
    free + locked
}

/// One order, which must exist.
pub async fn get_order(client: &Client, id: &str) -> Order {
    client
        .orders()
        .get_order(GetOrderRequest { id: id.into() })
        .await
        .expect("GetOrder answers")
        .into_inner()
        .order
        .expect("an order")
}

/// The open positions `GetPositions` lists for `exchange`.
pub async fn positions_on(client: &Client, exchange: &str) -> Vec<Position> {
    client
        .orders()
        .get_positions(GetPositionsRequest {
            exchange: exchange.into(),
            ..Default::default()
        })
        .await
        .expect("GetPositions answers")
        .into_inner()
        .positions
}

/// Places an order, which must be accepted.
pub async fn place_order(client: &Client, request: PlaceOrderRequest) -> Order {
    client
        .orders()
        .place_order(request)
        .await
        .expect("PlaceOrder answers")
        .into_inner()
        .order
        .expect("an order")
}

/// The field named by the first violation of a `BadRequest` refusal.
pub fn bad_request_field(status: &tonic::Status) -> String {
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations[0]
        .field
        .clone()
}

/// Audit events whose action starts with `action`, newest first (up to
/// 1000).
pub async fn audit_events(client: &Client, action: &str) -> Vec<AuditEvent> {
    client
        .security()
        .list_audit_events(ListAuditEventsRequest {
            page_size: 1000,
            filter: Some(AuditFilter {
                action: action.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("ListAuditEvents answers")
        .into_inner()
        .events
}

/// Every order matching `filter`, all pages, newest first.
pub async fn all_orders(client: &Client, filter: OrderFilter) -> Vec<Order> {
    let mut orders = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .orders()
            .list_orders(ListOrdersRequest {
                page_size: 1000,
                page_token,
                filter: Some(filter.clone()),
            })
            .await
            .expect("ListOrders answers")
            .into_inner();
        orders.extend(page.orders);
        if page.next_page_token.is_empty() {
            return orders;
        }
        page_token = page.next_page_token;
    }
}

/// Every execution matching `filter`, all pages, newest first.
pub async fn all_executions(client: &Client, filter: ExecutionFilter) -> Vec<Execution> {
    let mut executions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .pipelines()
            .list_executions(ListExecutionsRequest {
                page_size: 1000,
                page_token,
                filter: Some(filter.clone()),
            })
            .await
            .expect("ListExecutions answers")
            .into_inner();
        executions.extend(page.executions);
        if page.next_page_token.is_empty() {
            return executions;
        }
        page_token = page.next_page_token;
    }
}

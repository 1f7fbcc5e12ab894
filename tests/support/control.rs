//! The trading halt, circuit breakers and order refusals, one call each.

use tonic::Status;
use tradeplane_api::{
    CancelOrderRequest, Exchange, GetTradingStatusRequest, HaltTradingRequest,
    ListExchangesRequest, ListOrdersRequest, Order, PlaceOrderRequest, ResetCircuitBreakerRequest,
    ResumeTradingRequest, TripCircuitBreakerRequest,
};
use tradeplane_client::Client;

/// Halts trading; the call must succeed.
pub async fn halt_trading(client: &Client) {
    client
        .security()
        .halt_trading(HaltTradingRequest::default())
        .await
        .expect("HaltTrading answers");
}

/// Whether trading is halted; the call must succeed.
pub async fn trading_halted(client: &Client) -> bool {
    client
        .security()
        .get_trading_status(GetTradingStatusRequest {})
        .await
        .expect("GetTradingStatus answers")
        .into_inner()
        .status
        .is_some_and(|status| status.halted)
}

/// Resumes trading; the call must succeed.
pub async fn resume_trading(client: &Client) {
    client
        .security()
        .resume_trading(ResumeTradingRequest::default())
        .await
        .expect("ResumeTrading answers");
}

/// Trips the breaker of `exchange` by hand; the call must succeed.
pub async fn trip_breaker(client: &Client, exchange: &str) {
    client
        .security()
        .trip_circuit_breaker(TripCircuitBreakerRequest {
            exchange: exchange.into(),
            ..Default::default()
        })
        .await
        .expect("TripCircuitBreaker answers");
}

/// Resets the breaker of `exchange`; the call must succeed.
pub async fn reset_breaker(client: &Client, exchange: &str) {
    client
        .security()
        .reset_circuit_breaker(ResetCircuitBreakerRequest {
            exchange: exchange.into(),
            ..Default::default()
        })
        .await
        .expect("ResetCircuitBreaker answers");
}

/// Cancels the order `id`; a refusal comes back as the error.
pub async fn cancel_order(client: &Client, id: &str) -> Result<Order, Status> {
    client
        .orders()
        .cancel_order(CancelOrderRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .map(|reply| reply.into_inner().order.expect("an order"))
}

/// Places an order the test expects to be refused; returns the refusal.
pub async fn place_order_refused(client: &Client, request: PlaceOrderRequest) -> Status {
    client
        .orders()
        .place_order(request)
        .await
        .expect_err("PlaceOrder refuses")
}

/// The first page of orders.
pub async fn list_orders(client: &Client) -> Vec<Order> {
    client
        .orders()
        .list_orders(ListOrdersRequest::default())
        .await
        .expect("ListOrders answers")
        .into_inner()
        .orders
}

/// Every configured exchange.
pub async fn list_exchanges(client: &Client) -> Vec<Exchange> {
    client
        .orders()
        .list_exchanges(ListExchangesRequest {})
        .await
        .expect("ListExchanges answers")
        .into_inner()
        .exchanges
}

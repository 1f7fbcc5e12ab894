//! Orders and exchanges. The contract is served now; the bodies arrive with
//! the order-execution work and answer UNIMPLEMENTED until then.

pub mod breakers;

use tradeplane_api::*;

/// The exchanges this build connects to.
pub const EXCHANGES: &[&str] = &["paper"];

use crate::unimplemented::unimplemented_service;

/// `tradeplane.v1.OrderService`.
pub struct OrderGrpc;

unimplemented_service! {
    OrderGrpc, order_service_server::OrderService, "tradeplane.v1.OrderService",
    unary {
        place_order(PlaceOrderRequest) -> PlaceOrderResponse = "PlaceOrder";
        cancel_order(CancelOrderRequest) -> CancelOrderResponse = "CancelOrder";
        get_order(GetOrderRequest) -> GetOrderResponse = "GetOrder";
        list_orders(ListOrdersRequest) -> ListOrdersResponse = "ListOrders";
        list_exchanges(ListExchangesRequest) -> ListExchangesResponse = "ListExchanges";
        get_balances(GetBalancesRequest) -> GetBalancesResponse = "GetBalances";
    }
    streaming {
        watch_orders, WatchOrdersStream(WatchOrdersRequest) -> WatchOrdersResponse = "WatchOrders";
    }
}

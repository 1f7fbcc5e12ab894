//! `tradeplane.v1.OrderService` over the [`OrderDesk`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tradeplane_api::{order_service_server::OrderService, *};

use super::desk::OrderDesk;
use crate::controls::breakers::CircuitBreakers;
use crate::{
    api_error::ApiError,
    listing::{BoxStream, invalid_page_token, next_page, page_size, watch},
    proto_time::timestamp_ms,
    security::audit_entry,
    store::OrderQuery,
};

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

/// The gRPC face of the order desk.
pub struct OrderGrpc {
    desk: Arc<OrderDesk>,
    breakers: Arc<CircuitBreakers>,
    streams_end: CancellationToken,
}

impl OrderGrpc {
    /// The service over `desk`.
    pub fn new(
        desk: Arc<OrderDesk>,
        breakers: Arc<CircuitBreakers>,
        streams_end: CancellationToken,
    ) -> Self {
        Self {
            desk,
            breakers,
            streams_end,
        }
    }
}

fn query_of(filter: &OrderFilter) -> OrderQuery {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    OrderQuery {
        exchange: non_empty(&filter.exchange),
        symbol: non_empty(&filter.symbol),
        statuses: filter.statuses.clone(),
        side: (filter.side != Side::Unspecified as i32).then_some(filter.side),
        execution_id: non_empty(&filter.execution_id),
        start_ms: filter.start_time.as_ref().map(timestamp_ms),
        end_ms: filter.end_time.as_ref().map(timestamp_ms),
        ..Default::default()
    }
}

fn matches(query: &OrderQuery, order: &Order) -> bool {
    let symbol = order
        .instrument
        .as_ref()
        .map(|i| i.symbol.as_str())
        .unwrap_or_default();
    query.exchange.as_ref().is_none_or(|e| *e == order.exchange)
        && query.symbol.as_ref().is_none_or(|s| s == symbol)
        && (query.statuses.is_empty() || query.statuses.contains(&order.status))
        && query.side.is_none_or(|s| s == order.side)
        && query
            .execution_id
            .as_ref()
            .is_none_or(|e| *e == order.execution_id)
}

#[tonic::async_trait]
impl OrderService for OrderGrpc {
    async fn place_order(
        &self,
        request: Request<PlaceOrderRequest>,
    ) -> Result<Response<PlaceOrderResponse>, Status> {
        let entry = audit_entry(&request, "", "");
        let order = self.desk.place(request.into_inner(), entry).await?;
        Ok(Response::new(PlaceOrderResponse { order: Some(order) }))
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let entry = audit_entry(&request, "", "");
        let id = request.into_inner().id;
        if id.is_empty() {
            return Err(
                ApiError::invalid_field("MISSING_ID", "id", "name the order to cancel").into(),
            );
        }
        let order = self.desk.cancel(&id, entry).await?;
        Ok(Response::new(CancelOrderResponse { order: Some(order) }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let order = self.desk.get(&request.into_inner().id).await?;
        Ok(Response::new(GetOrderResponse { order: Some(order) }))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut query = query_of(&request.filter.unwrap_or_default());
        if !request.page_token.is_empty() {
            let id =
                uuid::Uuid::parse_str(&request.page_token).map_err(|_| invalid_page_token())?;
            query.before_id = Some(id.to_string());
        }
        query.limit = page_size + 1;
        let mut orders = self.desk.list(&query).await?;
        let next_page_token = next_page(&mut orders, page_size, |o| o.id.clone());
        Ok(Response::new(ListOrdersResponse {
            orders,
            next_page_token,
        }))
    }

    type WatchOrdersStream = BoxStream<WatchOrdersResponse>;

    async fn watch_orders(
        &self,
        request: Request<WatchOrdersRequest>,
    ) -> Result<Response<Self::WatchOrdersStream>, Status> {
        let query = query_of(&request.into_inner().filter.unwrap_or_default());
        Ok(Response::new(watch(
            self.desk.subscribe(),
            move |order| matches(&query, order),
            |order, missed| WatchOrdersResponse {
                order: Some((*order).clone()),
                missed,
            },
            self.streams_end.clone(),
        )))
    }

    async fn list_exchanges(
        &self,
        _request: Request<ListExchangesRequest>,
    ) -> Result<Response<ListExchangesResponse>, Status> {
        let exchanges = self
            .desk
            .exchanges()
            .map(|exchange| {
                let breaker = self.breakers.state(exchange.name());
                let (used_weight, weight_limit) = exchange.rate_limit().unwrap_or_default();
                Exchange {
                    name: exchange.name().to_string(),
                    kind: exchange.kind().to_string(),
                    status: if breaker == CircuitBreakerState::Open {
                        ExchangeStatus::Down
                    } else {
                        ExchangeStatus::Up
                    } as i32,
                    breaker_state: breaker as i32,
                    live: exchange.live(),
                    used_weight: i64::try_from(used_weight).unwrap_or(i64::MAX),
                    weight_limit: i64::try_from(weight_limit).unwrap_or(i64::MAX),
                }
            })
            .collect();
        Ok(Response::new(ListExchangesResponse { exchanges }))
    }

    async fn get_balances(
        &self,
        request: Request<GetBalancesRequest>,
    ) -> Result<Response<GetBalancesResponse>, Status> {
        let name = request.into_inner().exchange;
        let name = if name.is_empty() {
            "paper".to_string()
        } else {
            name
        };
        let exchange = self.desk.exchange(&name)?;
        let balances = exchange
            .balances()
            .await
            .map_err(|e| ApiError::Unavailable {
                reason: "EXCHANGE_UNAVAILABLE",
                message: e.to_string(),
            })?
            .into_iter()
            .map(|(asset, free, locked)| Balance {
                asset,
                free: free.to_string(),
                locked: locked.to_string(),
            })
            .collect();
        Ok(Response::new(GetBalancesResponse { balances }))
    }
}

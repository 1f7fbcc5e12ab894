//! `tradeplane.v1.OrderService` over the [`OrderDesk`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tradeplane_api::{self as pb, order_service_server::OrderService};

use super::{
    desk::OrderDesk,
    error::{InvalidReason, PlaceError},
    exchanges::PerpPosition,
};
use crate::controls::breakers::CircuitBreakers;
use crate::{
    api_error::ApiError,
    codec::enums::Mirrored,
    listing::filter_time,
    listing::{BoxStream, invalid_page_token, next_page, page_size, watch},
    market::{account, decimal::parse_decimal, side::Side},
    model::order::{Order, OrderRequest, OrderStatus, OrderType, TimeInForce},
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

fn query_of(filter: &pb::OrderFilter) -> Result<OrderQuery, ApiError> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let statuses = filter
        .statuses
        .iter()
        .map(|number| OrderStatus::required(*number, "filter.statuses"))
        .collect::<Result<_, _>>()
        .map_err(|err| {
            ApiError::invalid_field("INVALID_STATUS", "filter.statuses", err.to_string())
        })?;
    Ok(OrderQuery {
        exchange: non_empty(&filter.exchange),
        symbol: non_empty(&filter.symbol),
        statuses,
        side: Side::optional(filter.side, "filter.side")?,
        execution_id: non_empty(&filter.execution_id),
        start_ms: filter_time(filter.start_time.as_ref(), "filter.start_time")?,
        end_ms: filter_time(filter.end_time.as_ref(), "filter.end_time")?,
        ..Default::default()
    })
}

fn matches(query: &OrderQuery, order: &Order) -> bool {
    query.exchange.as_ref().is_none_or(|e| *e == order.exchange)
        && query.symbol.as_ref().is_none_or(|s| s == order.symbol())
        && (query.statuses.is_empty() || query.statuses.contains(&order.status))
        && query.side.is_none_or(|s| s == order.side)
        && query
            .execution_id
            .as_ref()
            .is_none_or(|e| *e == order.origin.execution_id)
}

/// Reads a PlaceOrder request: every enum known, every decimal exact.
/// The desk checks the rest (symbol, signs, the prices a type needs).
fn order_request(request: pb::PlaceOrderRequest) -> Result<OrderRequest, PlaceError> {
    let side = Side::optional(request.side, "side")
        .ok()
        .flatten()
        .ok_or_else(|| {
            PlaceError::invalid(
                InvalidReason::InvalidSide,
                "side",
                "choose SIDE_BUY or SIDE_SELL",
            )
        })?;
    let order_type = OrderType::optional(request.r#type, "type")
        .ok()
        .flatten()
        .ok_or_else(|| {
            PlaceError::invalid(
                InvalidReason::InvalidType,
                "type",
                "choose MARKET, LIMIT, STOP or STOP_LIMIT",
            )
        })?;
    // Unset means good-till-canceled; a number no value has is an error.
    let time_in_force = TimeInForce::optional(request.time_in_force, "time_in_force")
        .map_err(|_| {
            PlaceError::invalid(
                InvalidReason::InvalidTimeInForce,
                "time_in_force",
                "choose GTC, IOC or FOK, or leave it unset for GTC",
            )
        })?
        .unwrap_or(TimeInForce::Gtc);
    let decimal = |text: &str, field: &'static str| {
        if text.is_empty() {
            return Ok(None);
        }
        parse_decimal(text)
            .map(Some)
            .map_err(|e| PlaceError::invalid(InvalidReason::InvalidDecimal, field, e))
    };
    let quantity = decimal(&request.quantity, "quantity")?.ok_or_else(|| {
        PlaceError::invalid(
            InvalidReason::MissingQuantity,
            "quantity",
            "give the quantity in the base asset",
        )
    })?;
    Ok(OrderRequest {
        price: decimal(&request.price, "price")?,
        stop_price: decimal(&request.stop_price, "stop_price")?,
        reference_price: decimal(&request.reference_price, "reference_price")?,
        // PlaceOrder has no trailing delta: pipelines' brackets set it.
        trailing_delta_bips: None,
        reduce_only: request.reduce_only,
        request_id: request.request_id,
        exchange: request.exchange,
        account: request.account,
        symbol: request.symbol,
        side,
        order_type,
        time_in_force,
        quantity,
        attachment: None,
    })
}

#[tonic::async_trait]
impl OrderService for OrderGrpc {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let entry = audit_entry(&request, "", "");
        let request = order_request(request.into_inner())?;
        let order = self.desk.place(request, entry).await?;
        Ok(Response::new(pb::PlaceOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let entry = audit_entry(&request, "", "");
        let id = request.into_inner().id;
        if id.is_empty() {
            return Err(
                ApiError::invalid_field("MISSING_ID", "id", "name the order to cancel").into(),
            );
        }
        let order = self.desk.cancel(&id, entry).await?;
        Ok(Response::new(pb::CancelOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let order = self.desk.get(&request.into_inner().id).await?;
        Ok(Response::new(pb::GetOrderResponse {
            order: Some((&order).into()),
        }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut query = query_of(&request.filter.unwrap_or_default())?;
        if !request.page_token.is_empty() {
            let id =
                uuid::Uuid::parse_str(&request.page_token).map_err(|_| invalid_page_token())?;
            query.before_id = Some(id.to_string());
        }
        query.limit = page_size + 1;
        let mut orders = self.desk.list(&query).await?;
        let next_page_token = next_page(&mut orders, page_size, |o| o.id.clone());
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.iter().map(pb::Order::from).collect(),
            next_page_token,
        }))
    }

    type WatchOrdersStream = BoxStream<pb::WatchOrdersResponse>;

    async fn watch_orders(
        &self,
        request: Request<pb::WatchOrdersRequest>,
    ) -> Result<Response<Self::WatchOrdersStream>, Status> {
        let query = query_of(&request.into_inner().filter.unwrap_or_default())?;
        Ok(Response::new(watch(
            self.desk.watch_feed(),
            move |order| matches(&query, order),
            |order, missed| pb::WatchOrdersResponse {
                order: Some(pb::Order::from(order.as_ref())),
                missed,
            },
            self.streams_end.clone(),
        )))
    }

    async fn list_exchanges(
        &self,
        _request: Request<pb::ListExchangesRequest>,
    ) -> Result<Response<pb::ListExchangesResponse>, Status> {
        let exchanges = self
            .desk
            .exchanges()
            .map(|exchange| {
                let breaker = self
                    .breakers
                    .state(&account::key(exchange.name(), exchange.account()));
                let (used_weight, weight_limit) = exchange.rate_limit().unwrap_or_default();
                pb::Exchange {
                    name: exchange.name().to_string(),
                    account: exchange.account().to_string(),
                    kind: exchange.kind().to_string(),
                    status: if breaker == pb::CircuitBreakerState::Open {
                        pb::ExchangeStatus::Down
                    } else {
                        pb::ExchangeStatus::Up
                    } as i32,
                    breaker_state: breaker as i32,
                    live: exchange.live(),
                    used_weight: i64::try_from(used_weight).unwrap_or(i64::MAX),
                    weight_limit: i64::try_from(weight_limit).unwrap_or(i64::MAX),
                }
            })
            .collect();
        Ok(Response::new(pb::ListExchangesResponse { exchanges }))
    }

    async fn get_balances(
        &self,
        request: Request<pb::GetBalancesRequest>,
    ) -> Result<Response<pb::GetBalancesResponse>, Status> {
        let request = request.into_inner();
        let name = if request.exchange.is_empty() {
            "paper"
        } else {
            &request.exchange
        };
        let exchange = self.desk.exchange(name, &request.account)?;
        let balances = exchange
            .balances()
            .await
            .map_err(|e| ApiError::Unavailable {
                reason: "EXCHANGE_UNAVAILABLE",
                message: e.to_string(),
            })?
            .into_iter()
            .map(|(asset, free, locked)| pb::Balance {
                asset,
                free: free.to_string(),
                locked: locked.to_string(),
            })
            .collect();
        Ok(Response::new(pb::GetBalancesResponse { balances }))
    }

    async fn get_positions(
        &self,
        request: Request<pb::GetPositionsRequest>,
    ) -> Result<Response<pb::GetPositionsResponse>, Status> {
        let request = request.into_inner();
        let name = if request.exchange.is_empty() {
            "paper"
        } else {
            &request.exchange
        };
        let positions = self
            .desk
            .exchange(name, &request.account)?
            .positions()
            .await
            .map_err(|e| ApiError::Unavailable {
                reason: "EXCHANGE_UNAVAILABLE",
                message: e.to_string(),
            })?
            .iter()
            .map(position_to_proto)
            .collect();
        Ok(Response::new(pb::GetPositionsResponse { positions }))
    }
}

/// A venue's perpetual position on the wire.
fn position_to_proto(position: &PerpPosition) -> pb::Position {
    pb::Position {
        symbol: position.symbol.clone(),
        quantity: position.quantity.to_string(),
        entry_price: position.entry_price.to_string(),
        mark_price: position
            .mark_price
            .map(|p| p.to_string())
            .unwrap_or_default(),
        unrealized_pnl: position.unrealized.to_string(),
        realized_pnl: position.realized.to_string(),
        leverage: position.leverage.leverage,
        margin_mode: position.leverage.mode.number(),
        margin: position.margin.to_string(),
        liquidation_price: position
            .liquidation_price
            .map(|p| p.to_string())
            .unwrap_or_default(),
    }
}

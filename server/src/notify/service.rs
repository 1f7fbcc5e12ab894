//! `tradeplane.v1.NotificationService` over [`Subscriptions`] and the
//! outbox: requests and pages cross to and from protobuf here.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tradeplane_api::{
    ProtoEnum, SubscriptionSource, notification_service_server::NotificationService, *,
};

use super::{channel::Message, subscriptions::Subscriptions};
use crate::{
    api_error::ApiError,
    audit::actions,
    listing::{invalid_page_token, next_page, page_size},
    proto_time::ms_to_timestamp,
    security::audit_entry,
    store::{self, DeliveryQuery, Store},
};

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

/// The gRPC face of the notification subscriptions.
pub struct NotificationGrpc {
    subscriptions: Arc<Subscriptions>,
    store: Arc<dyn Store>,
}

impl NotificationGrpc {
    /// The service over `subscriptions` and `store`'s outbox.
    pub fn new(subscriptions: Arc<Subscriptions>, store: Arc<dyn Store>) -> Self {
        Self {
            subscriptions,
            store,
        }
    }
}

/// A subscription's name, required.
fn required_name(name: &str) -> Result<&str, ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid_field(
            "MISSING_NAME",
            "name",
            "name the subscription (tpctl notify list)",
        ));
    }
    Ok(name)
}

/// The store's state a request names; UNSPECIFIED: every state.
fn delivery_state(number: i32) -> Result<Option<store::DeliveryState>, ApiError> {
    match DeliveryState::known(number, "state")? {
        DeliveryState::Unspecified => Ok(None),
        state => store::DeliveryState::from_word(state.word())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "UNKNOWN_STATE",
                    "state",
                    "choose pending, delivered or dead",
                )
            }),
    }
}

/// The page cursor `<sequence>/<subscription>` of a delivery.
fn delivery_token(delivery: &store::Delivery) -> String {
    format!("{}/{}", delivery.sequence, delivery.subscription)
}

fn after_token(token: &str) -> Result<Option<(i64, String)>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .split_once('/')
        .and_then(|(sequence, subscription)| {
            Some((sequence.parse().ok()?, subscription.to_string()))
        })
        .map(Some)
        .ok_or_else(invalid_page_token)
}

/// A delivery on the wire, with the event its queued message is of.
fn delivery_wire(delivery: store::Delivery) -> Delivery {
    let message = serde_json::from_str::<Message>(&delivery.body).ok();
    let state = match delivery.state {
        store::DeliveryState::Pending => DeliveryState::Pending,
        store::DeliveryState::Delivered => DeliveryState::Delivered,
        store::DeliveryState::Dead => DeliveryState::Dead,
    };
    Delivery {
        sequence: u64::try_from(delivery.sequence).unwrap_or_default(),
        event_id: message.as_ref().map(|m| m.id.clone()).unwrap_or_default(),
        event_kind: message.map(|m| m.kind).unwrap_or_default(),
        subscription: delivery.subscription,
        state: state as i32,
        attempts: delivery.attempts,
        last_error: delivery.last_error,
        next_attempt_time: (delivery.state == store::DeliveryState::Pending)
            .then(|| ms_to_timestamp(delivery.next_attempt_ms)),
        create_time: Some(ms_to_timestamp(delivery.created_ms)),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    async fn create_subscription(
        &self,
        request: Request<CreateSubscriptionRequest>,
    ) -> Result<Response<CreateSubscriptionResponse>, Status> {
        let entry = audit_entry(&request, actions::NOTIFY_SUBSCRIPTION_CREATE, "");
        let request = request.into_inner();
        let subscription = request.subscription.ok_or_else(|| {
            ApiError::invalid_field(
                "MISSING_SUBSCRIPTION",
                "subscription",
                "give the subscription",
            )
        })?;
        let subscription = self
            .subscriptions
            .create(subscription, &request.request_id, entry)
            .await?;
        Ok(Response::new(CreateSubscriptionResponse {
            subscription: Some(subscription),
        }))
    }

    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<GetSubscriptionResponse>, Status> {
        let name = request.into_inner().name;
        let subscription = self.subscriptions.get(required_name(&name)?).await?;
        Ok(Response::new(GetSubscriptionResponse {
            subscription: Some(subscription),
        }))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let source =
            SubscriptionSource::known(request.filter.unwrap_or_default().source, "filter.source")
                .map_err(ApiError::from)?;
        let mut subscriptions: Vec<Subscription> = self
            .subscriptions
            .list()
            .await?
            .into_iter()
            .filter(|s| {
                (source == SubscriptionSource::Unspecified || s.source == source as i32)
                    && s.name > request.page_token
            })
            .take(page_size as usize + 1)
            .collect();
        let next_page_token = next_page(&mut subscriptions, page_size, |s| s.name.clone());
        Ok(Response::new(ListSubscriptionsResponse {
            subscriptions,
            next_page_token,
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<DeleteSubscriptionRequest>,
    ) -> Result<Response<DeleteSubscriptionResponse>, Status> {
        let entry = audit_entry(&request, actions::NOTIFY_SUBSCRIPTION_DELETE, "");
        let name = request.into_inner().name;
        self.subscriptions
            .delete(required_name(&name)?, entry)
            .await?;
        Ok(Response::new(DeleteSubscriptionResponse {}))
    }

    async fn list_deliveries(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let query = DeliveryQuery {
            state: delivery_state(request.state)?,
            subscription: (!request.subscription.is_empty()).then_some(request.subscription),
            after: after_token(&request.page_token)?,
            limit: page_size + 1,
        };
        let mut deliveries = self
            .store
            .query_deliveries(&query)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = next_page(&mut deliveries, page_size, delivery_token);
        Ok(Response::new(ListDeliveriesResponse {
            deliveries: deliveries.into_iter().map(delivery_wire).collect(),
            next_page_token,
        }))
    }

    async fn test_subscription(
        &self,
        request: Request<TestSubscriptionRequest>,
    ) -> Result<Response<TestSubscriptionResponse>, Status> {
        let name = request.into_inner().name;
        let sent = self.subscriptions.test(required_name(&name)?).await?;
        Ok(Response::new(TestSubscriptionResponse {
            delivered: sent.is_ok(),
            error: sent.err().map(|e| e.to_string()).unwrap_or_default(),
        }))
    }
}

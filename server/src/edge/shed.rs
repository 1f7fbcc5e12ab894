//! Load shedding: a surface takes so many requests at once; one more is
//! answered at once with a "retry later" (RESOURCE_EXHAUSTED on gRPC, 503
//! on HTTP), metered, instead of queueing without bound. Health and
//! metrics are exempt, so that they stay answerable under overload.

use std::{
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Meter},
};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::api_error::ApiError;

/// What an overloaded caller is told to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One surface's shedding: its limit, what is exempt and its answer.
pub struct ShedLayer<B> {
    permits: Arc<Semaphore>,
    surface: &'static str,
    exempt: fn(&str) -> bool,
    answer: fn(ApiError) -> http::Response<B>,
    shed: Counter<u64>,
    _body: PhantomData<fn() -> B>,
}

impl<B> Clone for ShedLayer<B> {
    fn clone(&self) -> Self {
        Self {
            permits: self.permits.clone(),
            surface: self.surface,
            exempt: self.exempt,
            answer: self.answer,
            shed: self.shed.clone(),
            _body: PhantomData,
        }
    }
}

impl ShedLayer<tonic::body::Body> {
    /// The gRPC port's: health checks exempt.
    pub fn grpc(max_in_flight: usize, meter: &Meter) -> Self {
        Self::new(
            "grpc",
            max_in_flight,
            |path| path.starts_with("/grpc.health."),
            |err| tonic::Status::from(err).into_http(),
            meter,
        )
    }
}

impl ShedLayer<axum::body::Body> {
    /// The HTTP port's: `/metrics`, `/healthz` and `/readyz` exempt.
    pub fn http(max_in_flight: usize, meter: &Meter) -> Self {
        Self::new(
            "http",
            max_in_flight,
            |path| matches!(path, "/metrics" | "/healthz" | "/readyz"),
            axum::response::IntoResponse::into_response,
            meter,
        )
    }
}

impl<B> ShedLayer<B> {
    fn new(
        surface: &'static str,
        max_in_flight: usize,
        exempt: fn(&str) -> bool,
        answer: fn(ApiError) -> http::Response<B>,
        meter: &Meter,
    ) -> Self {
        let shed = meter
            .u64_counter("tradeplane.overload.shed")
            .with_description("Requests answered at once because the surface was at its limit of requests in flight")
            .build();
        // Exposed from the start, so that rates and alerts see a zero.
        shed.add(0, &[KeyValue::new("surface", surface)]);
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            surface,
            exempt,
            answer,
            shed,
            _body: PhantomData,
        }
    }
}

impl<S, B> Layer<S> for ShedLayer<B> {
    type Service = Shed<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind a [`ShedLayer`].
pub struct Shed<S, B> {
    inner: S,
    layer: ShedLayer<B>,
}

impl<S: Clone, B> Clone for Shed<S, B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, Req, B> Service<http::Request<Req>> for Shed<S, B>
where
    S: Service<http::Request<Req>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<http::Response<B>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Req>) -> Self::Future {
        if (self.layer.exempt)(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = self.layer.permits.clone().try_acquire_owned() else {
            self.layer
                .shed
                .add(1, &[KeyValue::new("surface", self.layer.surface)]);
            let answer = (self.layer.answer)(ApiError::Overloaded {
                retry_after: RETRY_AFTER,
            });
            return Box::pin(async move { Ok(answer) });
        };
        // The permit is held until the response's head is ready: a watch
        // stream holds none while it waits for events.
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(permit);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use opentelemetry::metrics::MeterProvider;
    use tokio::sync::oneshot;
    use tower::ServiceExt;

    use super::*;

    fn request(path: &str) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("a request")
    }

    #[tokio::test]
    async fn one_request_over_the_limit_is_answered_503_at_once_and_health_passes() {
        let meter = opentelemetry_sdk::metrics::SdkMeterProvider::default().meter("test");
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        // `/slow` waits to be released; any other path answers at once.
        let service = tower::service_fn(move |request: http::Request<Body>| {
            let released = released.clone();
            async move {
                if request.uri().path() == "/slow"
                    && let Some(wait) = released.lock().await.take()
                {
                    let _ = wait.await;
                }
                Ok::<_, Infallible>(http::Response::new(Body::empty()))
            }
        });
        let service = ShedLayer::http(1, &meter).layer(service);

        let first = tokio::spawn(service.clone().oneshot(request("/slow")));
        tokio::task::yield_now().await;
        let shed = loop {
            let answer = service
                .clone()
                .oneshot(request("/webhooks/tradingview"))
                .await;
            let answer = answer.expect("infallible");
            if answer.status() == http::StatusCode::SERVICE_UNAVAILABLE {
                break answer;
            }
        };
        assert_eq!(shed.headers()[http::header::RETRY_AFTER], "1");
        let health = service.clone().oneshot(request("/healthz")).await;
        assert_eq!(health.expect("infallible").status(), http::StatusCode::OK);

        let _ = release.send(());
        let first = first.await.expect("joins").expect("infallible");
        assert_eq!(first.status(), http::StatusCode::OK);
        let after = service.oneshot(request("/webhooks/tradingview")).await;
        assert_eq!(after.expect("infallible").status(), http::StatusCode::OK);
    }
}

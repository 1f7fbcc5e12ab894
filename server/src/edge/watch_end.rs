//! Health watches end at shutdown. tradeplane's own streams end when the
//! server's `streams_end` token is cancelled; tonic-health's Watch would
//! stay open and hold shutdown for its whole timeout. This layer ends a
//! Watch answer with UNAVAILABLE once the token is cancelled and every
//! update already sent (NOT_SERVING first) has been delivered.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderMap;
use http_body::Frame;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// The health service's streaming method.
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

/// Ends health watches when `token` is cancelled.
#[derive(Clone)]
pub struct EndWatchesLayer {
    token: CancellationToken,
}

impl EndWatchesLayer {
    /// Ends watches once `token` is cancelled.
    pub fn new(token: CancellationToken) -> Self {
        Self { token }
    }
}

impl<S> Layer<S> for EndWatchesLayer {
    type Service = EndWatches<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EndWatches {
            inner,
            token: self.token.clone(),
        }
    }
}

/// A service behind an [`EndWatchesLayer`].
#[derive(Clone)]
pub struct EndWatches<S> {
    inner: S,
    token: CancellationToken,
}

impl<S, Req> Service<http::Request<Req>> for EndWatches<S>
where
    S: Service<http::Request<Req>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Req>) -> Self::Future {
        let watch = request.uri().path() == HEALTH_WATCH;
        let response = self.inner.call(request);
        let token = self.token.clone();
        Box::pin(async move {
            let response = response.await?;
            if !watch {
                return Ok(response);
            }
            let (head, body) = response.into_parts();
            let body = Ending {
                inner: body,
                shutdown: Box::pin(token.cancelled_owned()),
                ended: false,
            };
            Ok(http::Response::from_parts(head, Body::new(body)))
        })
    }
}

/// A watch's answer that ends at shutdown.
struct Ending {
    inner: Body,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl http_body::Body for Ending {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.shutdown.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.ended = true;
        let mut trailers = HeaderMap::new();
        if let Err(err) =
            Status::unavailable("the server is shutting down").add_header(&mut trailers)
        {
            tracing::debug!(error = %err, "cannot write the shutdown status");
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

//! Serving the HTTP port: each connection is served by hyper with a
//! header-read timeout (which also ends kept-alive connections that stay
//! idle), at most `http_max_connections` at once (one more is answered 503
//! and closed), and a graceful drain at shutdown.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo, serve::Listener};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use opentelemetry::{KeyValue, metrics::Meter};
use tokio::{io::AsyncWriteExt, sync::Semaphore};
use tower::ServiceExt;

use super::EdgeConfig;
use crate::security::tls::{HttpIo, HttpListener, PeerAddr};

/// How often an idle HTTP/2 connection is pinged to see that it is alive.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The answer to a connection over the limit.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
    Content-Length: 0\r\nConnection: close\r\n\r\n";

/// Serves `router` on `listener` until `stop` resolves, then lets the open
/// requests finish.
pub async fn serve(
    mut listener: HttpListener,
    router: Router,
    limits: &EdgeConfig,
    meter: &Meter,
    stop: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(limits.http_max_connections));
    let refused = meter
        .u64_counter("tradeplane.overload.refused_connections")
        .with_description("HTTP connections closed at once because the port had its limit open")
        .build();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.http_header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refused.add(1, &[KeyValue::new("surface", "http")]);
            tokio::spawn(turn_away(io));
            continue;
        };
        let service = router
            .clone()
            .map_request(move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(PeerAddr(addr)));
                request
            });
        let connection = builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%addr, error = %err, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

/// Tells a connection over the limit to come back later, and closes it.
async fn turn_away(mut io: Box<dyn HttpIo>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        io.write_all(FULL).await?;
        io.shutdown().await
    })
    .await;
}

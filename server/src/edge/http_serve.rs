//! Serving the HTTP port: each connection is served by hyper with a
//! header-read timeout (which also ends a kept-alive HTTP/1 connection
//! that waits that long for its next request), an idle timeout (a
//! connection with no request in flight for that long is closed
//! gracefully, HTTP/2 included), at most `http_max_connections` at once
//! (one more is answered 503 and closed), and a graceful drain at shutdown.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::ConnectInfo, serve::Listener};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use opentelemetry::metrics::Meter;
use tokio::{
    io::AsyncWriteExt,
    sync::{Semaphore, watch},
    time::Instant,
};
use tower::ServiceExt;

use super::EdgeConfig;
use crate::security::tls::{HttpIo, HttpListener, PeerAddr};

/// How often an idle HTTP/2 connection is pinged to see that it is alive.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// How long an idle connection told to close may take to do so.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(5);

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
    let (refused, surface) = super::refused_connections(meter, "http");
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.http_header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE);
    let (draining, drain) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refused.add(1, &surface);
            tokio::spawn(turn_away(io));
            continue;
        };
        let activity = Arc::new(Activity::new());
        let tracked = activity.clone();
        let service = router
            .clone()
            .map_request(move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(PeerAddr(addr)));
                request
            })
            .map_future(move |answer| {
                let request = tracked.begin();
                async move {
                    let answer = answer.await;
                    drop(request);
                    answer
                }
            });
        let connection = builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let idle_timeout = limits.http_idle_timeout;
        let mut drain = drain.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let why = tokio::select! {
                ended = connection.as_mut() => Closing::Ended(ended),
                () = activity.idle_for(idle_timeout) => Closing::Idle,
                _ = drain.wait_for(|draining| *draining) => Closing::Draining,
            };
            let ended = match why {
                Closing::Ended(ended) => Some(ended),
                // A client that does not take the hint is cut.
                Closing::Idle => {
                    connection.as_mut().graceful_shutdown();
                    tokio::time::timeout(IDLE_CLOSE_GRACE, connection.as_mut())
                        .await
                        .ok()
                }
                Closing::Draining => {
                    connection.as_mut().graceful_shutdown();
                    Some(connection.as_mut().await)
                }
            };
            if let Some(Err(err)) = ended {
                tracing::debug!(%addr, error = %err, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    // Every open connection finishes its requests and returns its permit.
    let _ = draining.send(true);
    let all = u32::try_from(limits.http_max_connections).unwrap_or(u32::MAX);
    let _ = connections.acquire_many(all).await;
}

/// Tells a connection over the limit to come back later, and closes it.
async fn turn_away(mut io: Box<dyn HttpIo>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        io.write_all(FULL).await?;
        io.shutdown().await
    })
    .await;
}

/// Why a connection's task stopped waiting for it.
enum Closing<E> {
    /// It ended on its own.
    Ended(Result<(), E>),
    /// It had no request in flight for the idle timeout.
    Idle,
    /// The server is shutting down.
    Draining,
}

/// The requests one connection has in flight, and when it last had none.
struct Activity {
    in_flight: AtomicUsize,
    quiet_since: Mutex<Instant>,
}

/// One request in flight on a connection; it ends when dropped.
struct InFlight(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            quiet_since: Mutex::new(Instant::now()),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn quiet_since(&self) -> Instant {
        *self
            .quiet_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Resolves once the connection has had no request in flight for
    /// `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            tokio::time::sleep_until(self.quiet_since() + timeout).await;
            let busy = self.in_flight.load(Ordering::SeqCst) > 0;
            if !busy && self.quiet_since().elapsed() >= timeout {
                return;
            }
            if busy {
                // Look again a whole timeout later.
                tokio::time::sleep(timeout).await;
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .quiet_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

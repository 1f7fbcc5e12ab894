//! What every signed-REST connector's transport shares: the HTTPS client
//! (hyper, which never sends a request again by itself) and one exchange
//! of a request for its answer, secrets as headers that are never shown,
//! the venue's clock as an offset from ours, the request budget a venue
//! reports, and the back-off a venue asks for after throttling or a ban.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, response::Parts};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::proto_time::now_ms;

/// Sent with every request.
pub const USER_AGENT: &str = concat!("tradeplane/", env!("CARGO_PKG_VERSION"));
/// How long a learned clock offset is trusted.
const CLOCK_TTL: Duration = Duration::from_secs(600);

/// An HTTPS (or, on loopback, plain HTTP) client with bodies of type `B`.
pub type HttpsClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// A client that connects within `timeout` (at most 5 s).
pub fn https_client<B>(timeout: Duration) -> Result<HttpsClient<B>, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut connect = HttpConnector::new();
    connect.enforce_http(false);
    connect.set_nodelay(true);
    connect.set_connect_timeout(Some(timeout.min(Duration::from_secs(5))));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connect);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Why one request has no answer to read.
#[derive(Debug)]
pub enum Unanswered {
    /// No connection was made: the venue never saw the request.
    NotSent(String),
    /// The request may have reached the venue (timeout, dropped
    /// connection, body cut short): its outcome is unknown.
    NoAnswer(String),
}

/// Sends `request` once and reads the whole answer within `timeout`;
/// `venue` names the venue in the reasons.
pub async fn exchange<B>(
    http: &HttpsClient<B>,
    request: Request<B>,
    timeout: Duration,
    venue: &str,
) -> Result<(Parts, Bytes), Unanswered>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let lost = |err: &dyn std::fmt::Display| {
        Unanswered::NoAnswer(format!("the connection to {venue} failed: {err}"))
    };
    let answer = async {
        let response = http.request(request).await.map_err(|err| {
            if err.is_connect() {
                Unanswered::NotSent(format!("cannot connect to {venue}: {err}"))
            } else {
                lost(&err)
            }
        })?;
        let (head, body) = response.into_parts();
        let body = body.collect().await.map_err(|err| lost(&err))?;
        Ok((head, body.to_bytes()))
    };
    tokio::time::timeout(timeout, answer).await.map_err(|_| {
        Unanswered::NoAnswer(format!(
            "no answer from {venue} within {}",
            humantime::format_duration(timeout)
        ))
    })?
}

/// A header's value as a whole number.
pub fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The requests a venue says were used in its current window, and its cap.
pub struct RequestBudget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl RequestBudget {
    /// Nothing used of `limit`, until the venue says otherwise.
    pub fn new(limit: u64) -> Self {
        Self {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
        }
    }

    /// Requests used, and the cap.
    pub fn usage(&self) -> (u64, u64) {
        (
            self.used.load(Ordering::Relaxed),
            self.limit.load(Ordering::Relaxed),
        )
    }

    /// Learns the cap and what is left of it from the headers named
    /// `limit` and `remaining`, when an answer carries both.
    pub fn note(&self, headers: &HeaderMap, (limit, remaining): (&str, &str)) {
        let limit = header_number(headers, limit);
        let left = header_number(headers, remaining);
        if let (Some(limit), Some(left)) = (limit, left) {
            self.limit.store(limit, Ordering::Relaxed);
            self.used
                .store(limit.saturating_sub(left), Ordering::Relaxed);
        }
    }
}

/// `value` as a header marked sensitive, so that it is never shown;
/// `what` names it in the error.
pub fn secret_header(value: &str, what: &str) -> Result<HeaderValue, String> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| format!("the {what} has characters a header cannot carry"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// A venue's clock, as the offset from ours last learned.
#[derive(Default)]
pub struct VenueClock(Mutex<Option<(i64, Instant)>>);

impl VenueClock {
    /// Now, on the venue's clock as far as it is known.
    pub fn now_ms(&self) -> i64 {
        now_ms()
            + self
                .0
                .lock()
                .ok()
                .and_then(|c| *c)
                .map_or(0, |(offset, _)| offset)
    }

    /// Whether the offset was learned recently enough to trust.
    pub fn is_fresh(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|c| *c)
            .is_some_and(|(_, at)| at.elapsed() < CLOCK_TTL)
    }

    /// Learns the offset from `venue`'s time answered to a request sent at
    /// `sent` and answered at `received` (our clock), taking the answer as
    /// stamped halfway through the round trip.
    pub fn learn(&self, venue: &str, server_ms: i64, sent: i64, received: i64) {
        let offset_ms = server_ms - (sent + received) / 2;
        if let Ok(mut clock) = self.0.lock() {
            if clock.is_none_or(|(known, _)| (known - offset_ms).abs() > 1000) {
                tracing::info!(offset_ms, venue, "learned a venue's clock offset");
            }
            *clock = Some((offset_ms, Instant::now()));
        }
    }
}

/// The wait a venue asked for: nothing is sent before it is over.
#[derive(Default)]
pub struct Backoff(Mutex<Option<Instant>>);

impl Backoff {
    /// How much of the wait is left, if any.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.0.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }

    /// Waits `wait` from now, unless a longer wait is on already.
    pub fn hold(&self, wait: Duration) {
        if let Ok(mut until) = self.0.lock() {
            let candidate = Instant::now() + wait;
            if until.is_none_or(|u| u < candidate) {
                *until = Some(candidate);
            }
        }
    }

    /// Waits out what is left of the wait when that is at most `limit`;
    /// a longer wait is not waited for, and what is left of it is the
    /// error.
    pub async fn wait_within(&self, limit: Duration) -> Result<(), Duration> {
        match self.remaining() {
            Some(wait) if wait > limit => Err(wait),
            Some(wait) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Why nothing is sent now, if the wait is on: "backing off for
    /// another 3s as `venue` asked".
    pub fn refusal(&self, venue: &str) -> Option<String> {
        self.remaining().map(|wait| {
            let whole = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
            format!(
                "backing off for another {} as {venue} asked",
                humantime::format_duration(whole)
            )
        })
    }
}

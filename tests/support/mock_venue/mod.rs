//! The fault-injection core every mock venue shares: plain HTTP/1.1 over
//! its own socket handling (so a fault can drop a connection, reset it,
//! cut a body short or withhold an answer exactly where a real network
//! would), the faults a test queues for the next requests of a route, and
//! the [`Venue`] trait a mock implements with its routes, signatures and
//! error codes.

mod http;
mod inbox;
mod mock;

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

pub use self::{
    inbox::{Inbox, Receiver},
    mock::{Mock, MockState},
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::Notify, task::JoinSet};

/// What a fault does to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Processes the request, then answers only after this long.
    SlowAnswer(Duration),
    /// Answers 500 without processing.
    ServerError,
    /// Processes the request, then answers 500.
    ServerErrorAfterProcessing,
    /// Processes the request, then answers the venue's "backend timeout,
    /// status unknown" error.
    BackendTimeout,
    /// Answers 429 with `Retry-After`, without processing.
    TooManyRequests { retry_after_secs: u64 },
    /// Answers the venue's ban (Binance's 418) with `Retry-After`,
    /// without processing.
    Banned { retry_after_secs: u64 },
    /// Closes the connection without processing or answering.
    DropConnection,
    /// Resets the connection (TCP RST) without processing or answering.
    ResetConnection,
    /// Processes the request, then closes the connection unanswered.
    LoseAnswer,
    /// Processes the request, then sends the head and half the body
    /// before closing the connection.
    TruncatedBody,
    /// Processes the request and never answers.
    Hang,
}

impl Fault {
    /// The conformance kit's fault matrix, by name: every fault that
    /// must end with exactly one order at the venue (a ban and a hang are
    /// checked on their own).
    pub fn matrix() -> [(&'static str, Fault); 9] {
        [
            ("slow", Fault::SlowAnswer(Duration::from_secs(3))),
            ("500", Fault::ServerError),
            ("500-after", Fault::ServerErrorAfterProcessing),
            ("backend-timeout", Fault::BackendTimeout),
            (
                "429",
                Fault::TooManyRequests {
                    retry_after_secs: 1,
                },
            ),
            ("dropped", Fault::DropConnection),
            ("reset", Fault::ResetConnection),
            ("lost-answer", Fault::LoseAnswer),
            ("truncated", Fault::TruncatedBody),
        ]
    }

    /// Whether the venue acts on the request before the fault strikes.
    pub fn processes(self) -> bool {
        !matches!(
            self,
            Fault::ServerError
                | Fault::TooManyRequests { .. }
                | Fault::Banned { .. }
                | Fault::DropConnection
                | Fault::ResetConnection
        )
    }
}

/// The operations faults can target, whatever the venue calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Places one order.
    PlaceOrder,
    /// Looks one order up.
    QueryOrder,
    /// Places a one-cancels-the-other list.
    PlaceOrderList,
    /// Looks a one-cancels-the-other list up.
    QueryOrderList,
    /// Cancels one order.
    CancelOrder,
    /// Delivers one notification (a notification receiver's only route).
    Deliver,
}

/// The error answers a venue gives in its own words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trouble {
    /// An internal error (HTTP 500).
    Internal,
    /// The request was accepted but the venue's backend timed out: the
    /// outcome is unknown.
    BackendTimeout,
    /// Too many requests; retry after this many seconds.
    Throttled(u64),
    /// Banned for this many seconds.
    Banned(u64),
}

/// One request as the mock read it.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string, still encoded.
    pub query: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Request {
    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An HTTP answer with a JSON body (a JSON string is sent as plain text,
/// as receivers that answer in words do).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

/// An answer with a JSON body and no extra headers.
pub fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

/// A query string's parameters (values as sent, still encoded).
pub fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A venue's routes, signatures and error codes: what differs between
/// mocks. The state behind a running mock.
pub trait Venue: Send + 'static {
    /// The operation a request performs, when faults can target it.
    fn route(&self, request: &Request) -> Option<Route>;
    /// Answers a request no fault stopped.
    fn handle(&mut self, request: &Request) -> Answer;
    /// The venue's answer to trouble.
    fn trouble(&self, trouble: Trouble) -> Answer;
    /// Headers every answer carries (rate-limit use, for instance).
    fn answer_headers(&mut self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The faults queued per route.
    fn faults(&mut self) -> &mut Faults;
    /// A long poll: when the venue has nothing to answer `request` with
    /// yet, what wakes it, and the longest it waits before answering.
    fn hold(&mut self, _request: &Request) -> Option<(Arc<Notify>, Duration)> {
        None
    }
}

/// Faults queued for the next requests of each route.
#[derive(Default)]
pub struct Faults(HashMap<Route, VecDeque<Fault>>);

impl Faults {
    /// Queues `fault` for the next request on `route`.
    pub fn push(&mut self, route: Route, fault: Fault) {
        self.0.entry(route).or_default().push_back(fault);
    }

    fn pop(&mut self, route: Route) -> Option<Fault> {
        self.0.get_mut(&route).and_then(VecDeque::pop_front)
    }
}

/// A mock venue on an ephemeral loopback port; it stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `venue` until dropped.
    pub async fn start<V: Venue>(venue: Arc<Mutex<V>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr: SocketAddr = listener.local_addr().expect("mock address");
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(http::serve_connection(stream, venue.clone()));
            }
        });
        Self {
            url: format!("http://{addr}"),
            task,
        }
    }
}

/// Runs one request through the venue and the fault queued for its route.
fn handle<V: Venue>(venue: &Mutex<V>, request: &Request) -> (Answer, Option<Fault>) {
    let mut v = venue.lock().expect("mock state");
    let fault = v.route(request).and_then(|route| v.faults().pop(route));
    let refusal = match fault {
        Some(Fault::ServerError | Fault::DropConnection | Fault::ResetConnection) => {
            Some(Trouble::Internal)
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            Some(Trouble::Throttled(retry_after_secs))
        }
        Some(Fault::Banned { retry_after_secs }) => Some(Trouble::Banned(retry_after_secs)),
        _ => None,
    };
    if let Some(trouble) = refusal {
        return (v.trouble(trouble), fault);
    }
    let processed = v.handle(request);
    let answer = match fault {
        Some(Fault::ServerErrorAfterProcessing) => v.trouble(Trouble::Internal),
        Some(Fault::BackendTimeout) => v.trouble(Trouble::BackendTimeout),
        _ => processed,
    };
    (answer, fault)
}

/// Adds `Retry-After` to a throttling or ban answer.
pub fn retry_after(mut answer: Answer, secs: u64) -> Answer {
    answer.headers.push(("Retry-After", secs.to_string()));
    answer
}

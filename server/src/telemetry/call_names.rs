//! What the telemetry layer knows of a call before it runs, made once per
//! gRPC method or HTTP route rather than on every call: the name of its
//! span and log line, its metric attributes, whether it only reads, and
//! its instruments bound to those attributes (so that a call's metrics
//! are recorded without hashing them again).

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
};

use http::Method;
use opentelemetry::{
    KeyValue, Value,
    metrics::{BoundHistogram, BoundUpDownCounter, Histogram, UpDownCounter},
};

/// The RPC name prefixes of calls that only read.
const READ_RPCS: [&str; 5] = ["Get", "List", "Watch", "Verify", "Check"];

/// How many names are kept. Past this (a client inventing paths) each call
/// gets a name of its own, so memory stays bounded.
const MAX_KEPT: usize = 512;

/// The layer's two instruments, which every call name binds.
pub(super) struct CallMeters {
    /// `rpc.server.call.duration` or `http.server.request.duration`.
    pub(super) duration: Histogram<f64>,
    /// `rpc.server.active_requests` or `http.server.active_requests`.
    pub(super) active: UpDownCounter<i64>,
}

/// One gRPC method, or one HTTP method on one route.
pub(super) struct CallName {
    /// `package.Service/Method`, or `POST /webhooks/tradingview`.
    pub(super) name: String,
    /// The HTTP method (`_OTHER` when it is not a standard one); `POST`
    /// for gRPC.
    pub(super) method: &'static str,
    /// `rpc.system.name` and `rpc.method`, or `http.request.method` and
    /// `http.route`.
    pub(super) attributes: [KeyValue; 2],
    /// Whether the call only reads (its log line is then at debug).
    pub(super) read: bool,
    /// Calls in flight.
    pub(super) active: BoundUpDownCounter<i64>,
    /// The duration of calls that succeed, bound to the first success
    /// status (gRPC `OK`, an HTTP 2xx) and that status attribute: by far
    /// the most frequent outcome.
    succeeded: OnceLock<(KeyValue, BoundHistogram<f64>)>,
}

impl CallName {
    /// A gRPC call to `path` (`package.Service/Method`).
    pub(super) fn grpc(path: &str, meters: &CallMeters) -> Self {
        let (service, method) = path.rsplit_once('/').unwrap_or(("", path));
        let read = service.starts_with("grpc.health.")
            || service.starts_with("grpc.reflection.")
            || READ_RPCS.iter().any(|prefix| method.starts_with(prefix));
        let attributes = [
            KeyValue::new("rpc.system.name", "grpc"),
            KeyValue::new("rpc.method", Value::from(Arc::<str>::from(path))),
        ];
        Self::bound(path.to_string(), "POST", attributes, read, meters)
    }

    /// An HTTP request: `method` on `route`.
    pub(super) fn http(method: &'static str, route: &str, meters: &CallMeters) -> Self {
        let attributes = [
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", Value::from(Arc::<str>::from(route))),
        ];
        let read = matches!(method, "GET" | "HEAD");
        Self::bound(
            format!("{method} {route}"),
            method,
            attributes,
            read,
            meters,
        )
    }

    fn bound(
        name: String,
        method: &'static str,
        attributes: [KeyValue; 2],
        read: bool,
        meters: &CallMeters,
    ) -> Self {
        Self {
            name,
            method,
            active: meters.active.bind(&attributes),
            succeeded: OnceLock::new(),
            attributes,
            read,
        }
    }

    /// Records the duration of a call that succeeded with `status`, if
    /// that is the success status this call's duration is bound to;
    /// `false` if it is another one (record it with its attributes then).
    pub(super) fn record_success(
        &self,
        status: &KeyValue,
        duration: &Histogram<f64>,
        seconds: f64,
    ) -> bool {
        let (bound_status, bound) = self.succeeded.get_or_init(|| {
            let [first, second] = self.attributes.clone();
            (
                status.clone(),
                duration.bind(&[first, second, status.clone()]),
            )
        });
        if bound_status == status {
            bound.record(seconds);
        }
        bound_status == status
    }

    /// The value of the second attribute: the gRPC method or HTTP route.
    pub(super) fn target(&self) -> &Value {
        &self.attributes[1].value
    }
}

/// The semantic conventions' name of an HTTP method: its own when it is a
/// standard one, `_OTHER` otherwise (so a client cannot mint series).
pub(super) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The names made so far, by gRPC path or HTTP route.
#[derive(Default)]
pub(super) struct CallNames {
    kept: RwLock<HashMap<Box<str>, Vec<Arc<CallName>>>>,
}

impl CallNames {
    /// The name of `method` on `key` (a gRPC path or an HTTP route),
    /// made by `make` the first time.
    pub(super) fn get(
        &self,
        key: &str,
        method: &'static str,
        make: impl FnOnce() -> CallName,
    ) -> Arc<CallName> {
        let find = |kept: &HashMap<Box<str>, Vec<Arc<CallName>>>| {
            kept.get(key)
                .and_then(|names| names.iter().find(|name| name.method == method).cloned())
        };
        if let Some(name) = self.kept.read().ok().as_deref().and_then(find) {
            return name;
        }
        let Ok(mut kept) = self.kept.write() else {
            return Arc::new(make());
        };
        if let Some(name) = find(&kept) {
            return name;
        }
        let name = Arc::new(make());
        if kept.len() < MAX_KEPT {
            kept.entry(key.into()).or_default().push(name.clone());
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::{MeterProvider, noop::NoopMeterProvider};

    use super::*;

    fn meters() -> CallMeters {
        let meter = NoopMeterProvider::new().meter("test");
        CallMeters {
            duration: meter.f64_histogram("duration").build(),
            active: meter.i64_up_down_counter("active").build(),
        }
    }

    #[test]
    fn reads_are_told_from_changes() {
        let meters = meters();
        let read = |path: &str| CallName::grpc(path, &meters).read;
        assert!(read("tradeplane.v1.OrderService/ListOrders"));
        assert!(read("tradeplane.v1.SecurityAdminService/VerifyAuditLog"));
        assert!(read("grpc.health.v1.Health/Check"));
        assert!(!read("tradeplane.v1.OrderService/PlaceOrder"));
        assert!(!read("tradeplane.v1.SecurityAdminService/HaltTrading"));
        assert!(CallName::http("GET", "/metrics", &meters).read);
        assert!(!CallName::http("POST", "/webhooks/tradingview", &meters).read);
    }

    #[test]
    fn a_name_is_made_once_per_method_and_route() {
        let (names, meters) = (CallNames::default(), meters());
        let post = names.get("/a", "POST", || CallName::http("POST", "/a", &meters));
        let again = names.get("/a", "POST", || panic!("made twice"));
        assert!(Arc::ptr_eq(&post, &again));
        let get = names.get("/a", "GET", || CallName::http("GET", "/a", &meters));
        assert_eq!(get.name, "GET /a");
        assert_eq!(post.target().as_str(), "/a");
        assert_eq!(
            method_name(&Method::from_bytes(b"BREW").expect("a method")),
            "_OTHER"
        );
    }

    #[test]
    fn a_calls_duration_is_bound_to_its_first_success_status() {
        let meters = meters();
        let call = CallName::http("POST", "/webhooks/tradingview", &meters);
        let status = |code: i64| KeyValue::new("http.response.status_code", code);
        assert!(call.record_success(&status(202), &meters.duration, 0.001));
        assert!(call.record_success(&status(202), &meters.duration, 0.002));
        assert!(!call.record_success(&status(200), &meters.duration, 0.001));
    }

    #[test]
    fn invented_paths_do_not_grow_the_names_without_bound() {
        let (names, meters) = (CallNames::default(), meters());
        for i in 0..MAX_KEPT + 10 {
            let path = format!("x.Y/M{i}");
            names.get(&path, "POST", || CallName::grpc(&path, &meters));
        }
        assert_eq!(names.kept.read().expect("the lock").len(), MAX_KEPT);
    }
}

//! One log line per request, written when it ends: at info for changes
//! and for failures, at debug for reads. It carries the method (or the
//! HTTP method and route), the outcome, the latency in milliseconds, the
//! trace id and the span id, under the same field names in the JSON
//! format.

use std::time::Duration;

/// What a request's log line says about it, known when it starts.
pub(super) struct RequestLine {
    /// `package.Service/Method`, or `POST /webhooks/tradingview`.
    name: String,
    /// Whether the request only reads (its line is debug unless it failed).
    read: bool,
    trace_id: String,
    span_id: String,
}

/// The RPC name prefixes of calls that only read.
const READ_RPCS: [&str; 5] = ["Get", "List", "Watch", "Verify", "Check"];

impl RequestLine {
    /// A gRPC call to `method` (`package.Service/Method`).
    pub(super) fn grpc(method: &str, trace_id: &str, span_id: &str) -> Self {
        let (service, name) = method.rsplit_once('/').unwrap_or(("", method));
        let read = service.starts_with("grpc.health.")
            || service.starts_with("grpc.reflection.")
            || READ_RPCS.iter().any(|prefix| name.starts_with(prefix));
        Self {
            name: method.to_string(),
            read,
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
        }
    }

    /// An HTTP request: `method` on `route`.
    pub(super) fn http(method: &str, route: &str, trace_id: &str, span_id: &str) -> Self {
        Self {
            name: format!("{method} {route}"),
            read: matches!(method, "GET" | "HEAD"),
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
        }
    }

    /// Writes the line: the request ended with `outcome` after `latency`.
    pub(super) fn write(&self, outcome: &str, failed: bool, latency: Duration) {
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: "tradeplane::request",
                    method = %self.name,
                    outcome,
                    latency_ms = latency.as_secs_f64() * 1e3,
                    trace_id = %self.trace_id,
                    span_id = %self.span_id,
                    "request"
                )
            };
        }
        if failed || !self.read {
            line!(info);
        } else {
            line!(debug);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_changes() {
        let read = |method: &str| RequestLine::grpc(method, "", "").read;
        assert!(read("tradeplane.v1.OrderService/ListOrders"));
        assert!(read("tradeplane.v1.SecurityAdminService/VerifyAuditLog"));
        assert!(read("grpc.health.v1.Health/Check"));
        assert!(!read("tradeplane.v1.OrderService/PlaceOrder"));
        assert!(!read("tradeplane.v1.SecurityAdminService/HaltTrading"));
        assert!(RequestLine::http("GET", "/metrics", "", "").read);
        assert!(!RequestLine::http("POST", "/webhooks/tradingview", "", "").read);
    }
}

//! One log line per request, written when it ends: at info for changes
//! and for failures, at debug for reads. It carries the method (or the
//! HTTP method and route), the outcome, the latency in milliseconds, the
//! trace id and the span id, under the same field names in the JSON
//! format.

use std::{sync::Arc, time::Duration};

use super::call_names::CallName;
use crate::observe::CallTrace;

/// What a request's log line says about it, known when it starts.
pub(super) struct RequestLine {
    pub(super) call: Arc<CallName>,
    pub(super) trace: CallTrace,
}

impl RequestLine {
    /// Writes the line: the request ended with `outcome` after `latency`.
    pub(super) fn write(&self, outcome: &str, failed: bool, latency: Duration) {
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: "tradeplane::request",
                    method = %self.call.name,
                    outcome,
                    latency_ms = latency.as_secs_f64() * 1e3,
                    trace_id = %self.trace.trace_id(),
                    span_id = %self.trace.span_id(),
                    "request"
                )
            };
        }
        if failed || !self.call.read {
            line!(info);
        } else {
            line!(debug);
        }
    }
}

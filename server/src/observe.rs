//! Observability primitives every layer shares: histogram buckets and the
//! trace identity of the current call.

/// Histogram buckets in seconds, from 100 µs to 30 s (the SDK defaults are
/// millisecond-scale and useless for second-valued instruments).
pub const SECONDS_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The trace id of the current call, put into request extensions so that
/// handlers can store it with what they create.
#[derive(Debug, Clone, Default)]
pub struct CallTrace {
    /// Lowercase hex W3C trace id; empty when tracing is off.
    pub trace_id: String,
    /// The call's span as a W3C `traceparent`, for work that continues
    /// the trace later (an execution); empty when tracing is off.
    pub traceparent: String,
}

//! Observability primitives every layer shares: histogram buckets and the
//! trace identity of the current call.

use std::sync::Arc;

/// Histogram buckets in seconds, from 100 µs to 30 s (the SDK defaults are
/// millisecond-scale and useless for second-valued instruments).
pub const SECONDS_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The trace identity of the current call, put into request extensions so
/// that handlers can store it with what they create. Cloning it is cheap.
#[derive(Debug, Clone, Default)]
pub struct CallTrace {
    /// `00-{trace id}-{span id}-{flags}`; `None` when tracing is off.
    traceparent: Option<Arc<str>>,
}

/// Where the ids sit in a W3C `traceparent`.
const TRACE_ID: std::ops::Range<usize> = 3..35;
const SPAN_ID: std::ops::Range<usize> = 36..52;

impl CallTrace {
    /// The call's span: its trace id, span id and W3C trace flags.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Self {
        let mut text = [0u8; 55];
        text[..3].copy_from_slice(b"00-");
        hex(&trace_id, &mut text[TRACE_ID]);
        text[35] = b'-';
        hex(&span_id, &mut text[SPAN_ID]);
        text[52] = b'-';
        hex(&[flags], &mut text[53..]);
        let text = std::str::from_utf8(&text).unwrap_or_default();
        Self {
            traceparent: Some(Arc::from(text)),
        }
    }

    /// The call's span as a W3C `traceparent`, for work that continues
    /// the trace later (an execution); empty when tracing is off.
    pub fn traceparent(&self) -> &str {
        self.traceparent.as_deref().unwrap_or_default()
    }

    /// Lowercase hex W3C trace id; empty when tracing is off.
    pub fn trace_id(&self) -> &str {
        self.traceparent().get(TRACE_ID).unwrap_or_default()
    }

    /// Lowercase hex id of the call's span; empty when tracing is off.
    pub fn span_id(&self) -> &str {
        self.traceparent().get(SPAN_ID).unwrap_or_default()
    }
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_trace_reads_as_a_w3c_traceparent() {
        let trace = CallTrace::new(
            0x0af7651916cd43dd8448eb211c80319c_u128.to_be_bytes(),
            0xb7ad6b7169203331_u64.to_be_bytes(),
            1,
        );
        assert_eq!(
            trace.traceparent(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(trace.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(trace.span_id(), "b7ad6b7169203331");
        let off = CallTrace::default();
        assert_eq!(
            (off.traceparent(), off.trace_id(), off.span_id()),
            ("", "", "")
        );
    }
}

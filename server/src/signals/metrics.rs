//! Signal metrics. The `source` label is bounded by configuration
//! (`signals.metric_sources`); any other source counts as `other`.

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};

use super::violation::RejectReason;
use crate::observe::SECONDS_BUCKETS;

/// The instruments of the signals domain.
pub struct SignalMetrics {
    known_sources: Vec<String>,
    signals: Counter<u64>,
    rejections: Counter<u64>,
    age: Histogram<f64>,
    duration: Histogram<f64>,
}

/// Outcome label values.
pub const ACCEPTED: &str = "accepted";
pub const DUPLICATE: &str = "duplicate";
pub const REJECTED: &str = "rejected";

impl SignalMetrics {
    /// Creates the instruments and pre-registers every label combination so
    /// that rates and alerts have series from the first scrape.
    pub fn new(meter: &Meter, known_sources: &[String]) -> Self {
        let metrics = Self {
            known_sources: known_sources.to_vec(),
            signals: meter
                .u64_counter("tradeplane.signals")
                .with_description("Signals received, by source and outcome")
                .build(),
            rejections: meter
                .u64_counter("tradeplane.signal.rejections")
                .with_description("Rejected signals, by source and reason")
                .build(),
            age: meter
                .f64_histogram("tradeplane.signal.age")
                .with_unit("s")
                .with_description("Time from the signal's event time to its receipt")
                .with_boundaries(vec![
                    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                ])
                .build(),
            duration: meter
                .f64_histogram("tradeplane.signal.processing.duration")
                .with_unit("s")
                .with_description("Time to validate and durably record a signal")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
        };
        for source in known_sources.iter().map(String::as_str).chain(["other"]) {
            for outcome in [ACCEPTED, DUPLICATE, REJECTED] {
                metrics.signals.add(
                    0,
                    &[
                        KeyValue::new("source", source.to_string()),
                        KeyValue::new("outcome", outcome),
                    ],
                );
            }
            for reason in RejectReason::ALL {
                metrics.rejections.add(
                    0,
                    &[
                        KeyValue::new("source", source.to_string()),
                        KeyValue::new("reason", reason.as_str()),
                    ],
                );
            }
        }
        metrics
    }

    fn source_label(&self, source: &str) -> KeyValue {
        let bounded = if self.known_sources.iter().any(|s| s == source) {
            source.to_string()
        } else {
            "other".into()
        };
        KeyValue::new("source", bounded)
    }

    /// Counts one signal and how long it took.
    pub fn record(&self, source: &str, outcome: &'static str, seconds: f64) {
        let attributes = [self.source_label(source), KeyValue::new("outcome", outcome)];
        self.signals.add(1, &attributes);
        self.duration.record(seconds, &attributes);
    }

    /// Counts the reasons of a rejection (each distinct reason once).
    pub fn rejected(&self, source: &str, reasons: impl IntoIterator<Item = RejectReason>) {
        let source = self.source_label(source);
        let mut seen = Vec::new();
        for reason in reasons {
            if !seen.contains(&reason) {
                seen.push(reason);
                self.rejections.add(
                    1,
                    &[source.clone(), KeyValue::new("reason", reason.as_str())],
                );
            }
        }
    }

    /// Records how old a signal was on arrival.
    pub fn age(&self, source: &str, seconds: f64) {
        self.age
            .record(seconds.max(0.0), &[self.source_label(source)]);
    }
}

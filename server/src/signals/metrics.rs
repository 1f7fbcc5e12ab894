//! Signal metrics. The `source` label is bounded by configuration
//! (`signals.metric_sources`); any other source counts as `other`. Each
//! source's instruments are bound to its labels once, so counting a signal
//! does not hash them again.

use std::sync::Arc;

use opentelemetry::{
    KeyValue, Value,
    metrics::{BoundCounter, BoundHistogram, Counter, Meter},
};

use super::violation::RejectReason;
use crate::observe::SECONDS_BUCKETS;

/// How a signal's submission ended, as the `outcome` label says it; the
/// discriminant indexes a source's instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted = 0,
    Duplicate = 1,
    Rejected = 2,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Accepted, Outcome::Duplicate, Outcome::Rejected];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One source's instruments, bound to its labels.
struct SourceMeters {
    label: KeyValue,
    /// Signals and processing time, by [`Outcome`] (in `Outcome::ALL` order).
    outcomes: [(BoundCounter<u64>, BoundHistogram<f64>); 3],
    age: BoundHistogram<f64>,
}

/// The instruments of the signals domain.
pub struct SignalMetrics {
    /// Each configured source's name and instruments.
    sources: Vec<(String, SourceMeters)>,
    other: SourceMeters,
    rejections: Counter<u64>,
}

impl SignalMetrics {
    /// Creates the instruments and registers every label combination so
    /// that rates and alerts have series from the first scrape.
    pub fn new(meter: &Meter, known_sources: &[String]) -> Self {
        let signals = meter
            .u64_counter("tradeplane.signals")
            .with_description("Signals received, by source and outcome")
            .build();
        let duration = meter
            .f64_histogram("tradeplane.signal.processing.duration")
            .with_unit("s")
            .with_description("Time to validate and durably record a signal")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build();
        let age = meter
            .f64_histogram("tradeplane.signal.age")
            .with_unit("s")
            .with_description("Time from the signal's event time to its receipt")
            .with_boundaries(vec![
                0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
            ])
            .build();
        let rejections = meter
            .u64_counter("tradeplane.signal.rejections")
            .with_description("Rejected signals, by source and reason")
            .build();
        let bind = |source: &str| {
            let label = KeyValue::new("source", Value::from(Arc::<str>::from(source)));
            let outcomes = Outcome::ALL.map(|outcome| {
                let labels = [label.clone(), KeyValue::new("outcome", outcome.as_str())];
                let counter = signals.bind(&labels);
                counter.add(0);
                (counter, duration.bind(&labels))
            });
            for reason in RejectReason::ALL {
                rejections.add(
                    0,
                    &[label.clone(), KeyValue::new("reason", reason.as_str())],
                );
            }
            SourceMeters {
                age: age.bind(std::slice::from_ref(&label)),
                label,
                outcomes,
            }
        };
        Self {
            sources: known_sources
                .iter()
                .map(|source| (source.clone(), bind(source)))
                .collect(),
            other: bind("other"),
            rejections,
        }
    }

    fn source(&self, source: &str) -> &SourceMeters {
        self.sources
            .iter()
            .find(|(known, _)| known == source)
            .map_or(&self.other, |(_, meters)| meters)
    }

    /// Counts one signal and how long it took.
    pub fn record(&self, source: &str, outcome: Outcome, seconds: f64) {
        let (counter, duration) = &self.source(source).outcomes[outcome as usize];
        counter.add(1);
        duration.record(seconds);
    }

    /// Counts the reasons of a rejection (each distinct reason once).
    pub fn rejected(&self, source: &str, reasons: impl IntoIterator<Item = RejectReason>) {
        let label = &self.source(source).label;
        let mut seen = Vec::new();
        for reason in reasons {
            if !seen.contains(&reason) {
                seen.push(reason);
                self.rejections.add(
                    1,
                    &[label.clone(), KeyValue::new("reason", reason.as_str())],
                );
            }
        }
    }

    /// Records how old a signal was on arrival.
    pub fn age(&self, source: &str, seconds: f64) {
        self.source(source).age.record(seconds.max(0.0));
    }
}

//! What log lines keep of a span's fields: everything but the
//! OpenTelemetry semantic-convention fields (`otel.*`, `http.*`, `rpc.*`).
//! Those name the exported span and describe the call, which the request
//! line already says; the trace id and the domain fields (pipeline,
//! execution, exchange, symbol) stay. Formatting them into every span cost
//! the log layer about a quarter of telemetry's time per webhook call
//! (`cargo bench -p tradeplane-server --bench telemetry`).

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::{RecordFields, VisitOutput},
    fmt::{
        FormatFields, FormattedFields,
        format::{DefaultVisitor, JsonFields, JsonVisitor, Writer},
    },
};

/// The log layer's field formatter: `key=value` pairs, or a JSON object.
pub(super) struct LogFields {
    json: bool,
}

impl LogFields {
    /// `key=value` pairs, as the compact format writes them.
    pub(super) fn text() -> Self {
        Self { json: false }
    }

    /// A JSON object, as the JSON format reads a span's fields back.
    pub(super) fn json() -> Self {
        Self { json: true }
    }
}

impl<'writer> FormatFields<'writer> for LogFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        if self.json {
            let mut visitor = JsonVisitor::new(&mut writer);
            fields.record(&mut Kept(&mut visitor));
            visitor.finish()
        } else {
            let mut visitor = DefaultVisitor::new(writer, true);
            fields.record(&mut Kept(&mut visitor));
            visitor.finish()
        }
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if !self.json {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            return self.format_fields(current.as_writer(), fields);
        }
        // JSON merges a recorded field into the object already written.
        let mut merged = FormattedFields::<JsonFields>::new(std::mem::take(&mut current.fields));
        let result = JsonFields::new().add_fields(&mut merged, fields);
        current.fields = merged.fields;
        result
    }
}

/// Whether a field is one of OpenTelemetry's semantic conventions.
fn convention(field: &Field) -> bool {
    let name = field.name();
    name.starts_with("otel.") || name.starts_with("http.") || name.starts_with("rpc.")
}

/// Passes every field but the convention ones on to the formatter's visitor.
struct Kept<'a>(&'a mut dyn Visit);

impl Visit for Kept<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !convention(field) {
            self.0.record_debug(field, value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !convention(field) {
            self.0.record_str(field, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !convention(field) {
            self.0.record_i64(field, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !convention(field) {
            self.0.record_u64(field, value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !convention(field) {
            self.0.record_f64(field, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !convention(field) {
            self.0.record_bool(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !convention(field) {
            self.0.record_error(field, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    /// Collects what the log layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("the buffer").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Captured {
        type Writer = Self;

        fn make_writer(&self) -> Self {
            self.clone()
        }
    }

    /// The line an event inside a call-like span writes.
    fn log_one_event(subscriber: impl tracing::Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "http",
                otel.name = "POST /webhooks/tradingview",
                http.route = "/webhooks/tradingview",
                trace_id = tracing::field::Empty,
                pipeline = "breakout",
            );
            span.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
            span.in_scope(|| tracing::info!("inside"));
        });
    }

    fn captured(format: LogFields, json: bool) -> String {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(out.clone());
        if json {
            let layer = layer
                .event_format(
                    tracing_subscriber::fmt::format()
                        .json()
                        .with_span_list(false),
                )
                .fmt_fields(format);
            log_one_event(tracing_subscriber::registry().with(layer));
        } else {
            log_one_event(tracing_subscriber::registry().with(layer.compact().fmt_fields(format)));
        }
        let bytes = out.0.lock().expect("the buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn text_lines_keep_the_trace_id_and_domain_fields_not_the_conventions() {
        let line = captured(LogFields::text(), false);
        assert!(
            line.contains("trace_id=\"0af7651916cd43dd8448eb211c80319c\""),
            "{line}"
        );
        assert!(line.contains("pipeline=\"breakout\""), "{line}");
        assert!(!line.contains("otel.name"), "{line}");
        assert!(!line.contains("http.route"), "{line}");
    }

    #[test]
    fn json_lines_keep_the_trace_id_and_domain_fields_not_the_conventions() {
        let line = captured(LogFields::json(), true);
        let event: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
        let span = &event["span"];
        assert_eq!(
            span["trace_id"], "0af7651916cd43dd8448eb211c80319c",
            "{line}"
        );
        assert_eq!(span["pipeline"], "breakout", "{line}");
        assert!(span.get("otel.name").is_none(), "{line}");
        assert!(span.get("http.route").is_none(), "{line}");
        assert_eq!(event["fields"]["message"], "inside", "{line}");
    }
}

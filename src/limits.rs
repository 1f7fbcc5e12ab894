//! The size limits of requests (`limits.proto`): build.rs implements
//! [`Limited`] for every message, and the codec checks each request it
//! decodes, so that every RPC refuses an over-long field by name.

/// Each field over its limit: (field path, what the limit is).
pub type Violations = Vec<(String, String)>;

/// A message whose fields have size limits.
pub trait Limited {
    /// Whether the message is an RPC's request (only those are checked:
    /// a client must read whatever the server once stored).
    const REQUEST: bool;

    /// Adds each field of the message (at path `at`) that is over its
    /// limit to `out`.
    fn check_limits(&self, at: &str, out: &mut Violations);
}

/// The path of field `name` inside the message at `at`.
pub fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// Whether `text` holds more than `max` characters.
pub fn exceeds(text: &str, max: usize) -> bool {
    // Bytes bound characters from above: most texts need no count.
    text.len() > max && text.chars().count() > max
}

/// Checks that field `name` of the message at `at`, `text`, holds at
/// most `max` characters.
pub fn text(text: &str, max: usize, at: &str, name: &str, out: &mut Violations) {
    if exceeds(text, max) {
        out.push((
            join(at, name),
            format!("must hold at most {max} characters"),
        ));
    }
}

/// Checks that field `name` of the message at `at`, a repeated field or
/// map of `items`, holds at most `max` of them.
pub fn count(items: usize, max: usize, at: &str, name: &str, out: &mut Violations) {
    if items > max {
        out.push((join(at, name), format!("must hold at most {max} items")));
    }
}

/// Generated: a `match` per oneof, even when one arm checks anything.
#[allow(clippy::single_match)]
mod generated {
    use crate::v1::*;
    include!(concat!(env!("OUT_DIR"), "/limits.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{CreatePipelineRequest, ListPipelinesRequest, Pipeline, SubmitSignalRequest};

    fn violations(message: &impl Limited) -> Violations {
        let mut out = Vec::new();
        message.check_limits("", &mut out);
        out
    }

    #[test]
    fn every_field_over_its_limit_is_named() {
        let request = SubmitSignalRequest {
            request_id: "x".repeat(257),
            symbol: "BTCUSDT".into(),
            tags: (0..65).map(|i| (i.to_string(), "v".into())).collect(),
            ..Default::default()
        };
        let fields: Vec<String> = violations(&request).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["request_id", "tags"]);
        const { assert!(<SubmitSignalRequest as Limited>::REQUEST) };
        const { assert!(!<Pipeline as Limited>::REQUEST) };
    }

    #[test]
    fn nested_messages_are_checked_with_their_path() {
        let request = CreatePipelineRequest {
            pipeline: Some(Pipeline {
                name: "n".repeat(300),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(violations(&request)[0].0, "pipeline.name");
        assert!(violations(&ListPipelinesRequest::default()).is_empty());
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        let mut out = Vec::new();
        text(&"é".repeat(256), 256, "", "f", &mut out);
        assert!(out.is_empty());
    }
}

//! Where a call's trace ids come from. When spans leave the process
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` is set), `tracing-opentelemetry` gives
//! each call span its ids. When they do not, building an SDK span only to
//! read its ids would be most of telemetry's cost per call, so the ids come
//! from the SDK's sampler and id generator alone, exactly as the SDK would
//! assign them: continuing the caller's `traceparent`, sampled as
//! `OTEL_TRACES_SAMPLER` says.

use opentelemetry::{
    Context,
    trace::{SpanContext, SpanKind, TraceContextExt},
};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};

use super::{otlp_endpoint, sampler::sampler_from_env};

/// How the telemetry layer gets each call's trace ids.
#[derive(Clone, Debug)]
pub(super) enum CallTracing {
    /// `telemetry.spans` is off: calls have no trace ids.
    Off,
    /// Spans stay in the process: ids from the sampler and id generator.
    Local(LocalIds),
    /// Spans are exported: the call span's own ids.
    Exported,
}

impl CallTracing {
    /// The tracing `telemetry.spans` and the OpenTelemetry environment ask
    /// for; a bad sampler variable is an error naming it.
    pub(super) fn from_env(spans: bool) -> anyhow::Result<Self> {
        if !spans {
            return Ok(Self::Off);
        }
        if otlp_endpoint().is_some() {
            return Ok(Self::Exported);
        }
        Ok(Self::Local(LocalIds {
            sampler: sampler_from_env(|name| std::env::var(name).ok())?,
            ids: RandomIdGenerator::default(),
        }))
    }
}

/// The SDK's sampler and id generator, without a span.
#[derive(Clone, Debug)]
pub(super) struct LocalIds {
    sampler: Sampler,
    ids: RandomIdGenerator,
}

impl LocalIds {
    /// The span context the SDK would give a server span named `name`
    /// whose parent is `parent` (the caller's, when it sent a valid one).
    pub(super) fn start(&self, parent: &Context, name: &str) -> SpanContext {
        let parent_span = parent.span();
        let inherited = Some(parent_span.span_context()).filter(|sc| sc.is_valid());
        let trace_id = match inherited {
            Some(sc) => sc.trace_id(),
            None => self.ids.new_trace_id(),
        };
        let sampling =
            self.sampler
                .should_sample(Some(parent), trace_id, name, &SpanKind::Server, &[], &[]);
        let sampled = sampling.decision == SamplingDecision::RecordAndSample;
        let flags = inherited
            .map(|sc| sc.trace_flags())
            .unwrap_or_default()
            .with_sampled(sampled);
        SpanContext::new(
            trace_id,
            self.ids.new_span_id(),
            flags,
            false,
            sampling.trace_state,
        )
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn ids(sampler: Sampler) -> LocalIds {
        LocalIds {
            sampler,
            ids: RandomIdGenerator::default(),
        }
    }

    fn remote_parent(flags: TraceFlags) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
            SpanId::from_hex("b7ad6b7169203331").expect("hex"),
            flags,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_call_continues_its_callers_trace_and_sampling() {
        let parent_based = ids(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        let sampled = parent_based.start(&remote_parent(TraceFlags::SAMPLED), "call");
        assert_eq!(
            sampled.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_ne!(sampled.span_id().to_string(), "b7ad6b7169203331");
        assert!(sampled.is_sampled());
        let unsampled = parent_based.start(&remote_parent(TraceFlags::default()), "call");
        assert!(unsampled.is_valid());
        assert!(!unsampled.is_sampled());
    }

    #[test]
    fn a_root_call_gets_new_ids_sampled_as_the_sampler_says() {
        let on = ids(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        let first = on.start(&Context::new(), "call");
        let second = on.start(&Context::new(), "call");
        assert!(first.is_valid() && first.is_sampled());
        assert_ne!(first.trace_id(), second.trace_id());
        let off = ids(Sampler::AlwaysOff).start(&Context::new(), "call");
        assert!(off.is_valid());
        assert!(!off.is_sampled());
    }
}

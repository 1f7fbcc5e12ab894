//! Stored pipelines from before requests' durations were checked: a
//! duration out of range (negative, past ±10,000 years, nanos out of
//! range) is clamped to the nearest valid value and written back when the
//! pipelines load, so that the pipeline still loads and every list of it
//! stays readable by proto3-JSON clients.

use tradeplane_api::{Pipeline, schedule, trigger};

use crate::proto_time::clamp_duration;

/// Clamps every duration of `pipeline`; the fields it changed.
pub(super) fn clamp_durations(pipeline: &mut Pipeline) -> Vec<&'static str> {
    let mut repaired = Vec::new();
    let mut fix = |field: &'static str, duration: Option<&mut prost_types::Duration>| {
        if duration.is_some_and(clamp_duration) {
            repaired.push(field);
        }
    };
    fix(
        "risk.cooldown",
        pipeline.risk.as_mut().and_then(|r| r.cooldown.as_mut()),
    );
    fix(
        "order.cancel_after",
        pipeline
            .order
            .as_mut()
            .and_then(|o| o.cancel_after.as_mut()),
    );
    fix(
        "approval.expiry",
        pipeline.approval.as_mut().and_then(|a| a.expiry.as_mut()),
    );
    let interval = match pipeline.trigger.as_mut().and_then(|t| t.kind.as_mut()) {
        Some(trigger::Kind::Schedule(schedule)) => match schedule.spec.as_mut() {
            Some(schedule::Spec::Interval(interval)) => Some(interval),
            _ => None,
        },
        _ => None,
    };
    fix("trigger.schedule.interval", interval);
    repaired
}

#[cfg(test)]
mod tests {
    use tradeplane_api::{RiskRules, Schedule, Trigger};

    use super::*;

    #[test]
    fn out_of_range_durations_are_clamped_and_named() {
        let mut pipeline = Pipeline {
            risk: Some(RiskRules {
                cooldown: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            trigger: Some(Trigger {
                kind: Some(trigger::Kind::Schedule(Schedule {
                    spec: Some(schedule::Spec::Interval(prost_types::Duration {
                        seconds: i64::MAX,
                        nanos: 2_000_000_000,
                    })),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        };
        assert_eq!(
            clamp_durations(&mut pipeline),
            ["risk.cooldown", "trigger.schedule.interval"]
        );
        assert_eq!(
            clamp_durations(&mut pipeline),
            Vec::<&str>::new(),
            "valid now"
        );
    }
}

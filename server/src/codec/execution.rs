//! Executions on the wire and in the store's bodies.

use std::time::Duration;

use tradeplane_api as pb;

use super::{CodecError, enums::Mirrored, millis, optional_decimal, optional_text, timestamp};
use crate::{
    model::execution::{Execution, ExecutionStatus, ExecutionStep},
    proto_time::{ms_to_timestamp, timestamp_ms},
};

impl From<&Execution> for pb::Execution {
    fn from(execution: &Execution) -> Self {
        pb::Execution {
            id: execution.id.clone(),
            pipeline_id: execution.pipeline_id.clone(),
            pipeline_name: execution.pipeline_name.clone(),
            signal_id: execution.signal_id.clone(),
            status: execution.status.number(),
            skip_reason: execution.skip_reason.clone(),
            error: execution.error.clone(),
            steps: execution
                .steps
                .iter()
                .map(|step| pb::ExecutionStep {
                    name: step.name.clone(),
                    result: step.result.clone(),
                    detail: step.detail.clone(),
                    duration: prost_types::Duration::try_from(step.duration).ok(),
                })
                .collect(),
            order_ids: execution.order_ids.clone(),
            fees: optional_text(execution.fees),
            attempt: execution.attempt,
            create_time: timestamp(execution.create_time_ms),
            start_time: execution.start_time_ms.map(ms_to_timestamp),
            end_time: execution.end_time_ms.map(ms_to_timestamp),
        }
    }
}

/// A step; a step without a duration took none.
fn step_from_proto(step: pb::ExecutionStep) -> Result<ExecutionStep, CodecError> {
    let duration = match step.duration {
        Some(duration) => Duration::try_from(duration).map_err(|_| CodecError::Negative {
            field: "steps.duration",
        })?,
        None => Duration::ZERO,
    };
    Ok(ExecutionStep {
        name: step.name,
        result: step.result,
        detail: step.detail,
        duration,
    })
}

impl TryFrom<pb::Execution> for Execution {
    type Error = CodecError;

    fn try_from(execution: pb::Execution) -> Result<Self, CodecError> {
        Ok(Execution {
            status: ExecutionStatus::required(execution.status, "status")?,
            steps: execution
                .steps
                .into_iter()
                .map(step_from_proto)
                .collect::<Result<_, _>>()?,
            fees: optional_decimal(&execution.fees, "fees")?,
            create_time_ms: millis(execution.create_time.as_ref()),
            start_time_ms: execution.start_time.as_ref().map(timestamp_ms),
            end_time_ms: execution.end_time.as_ref().map(timestamp_ms),
            id: execution.id,
            pipeline_id: execution.pipeline_id,
            pipeline_name: execution.pipeline_name,
            signal_id: execution.signal_id,
            skip_reason: execution.skip_reason,
            error: execution.error,
            order_ids: execution.order_ids,
            attempt: execution.attempt,
        })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn finished_execution() -> Execution {
        let mut execution =
            Execution::pending("e".into(), "p".into(), "ema".into(), "s".into(), 1_000);
        execution.status = ExecutionStatus::Succeeded;
        execution.steps = vec![
            ExecutionStep {
                name: "match".into(),
                result: "ok".into(),
                detail: "signal matched".into(),
                duration: Duration::ZERO,
            },
            ExecutionStep {
                name: "order".into(),
                result: "ok".into(),
                detail: "order o filled".into(),
                duration: Duration::from_micros(1_250),
            },
        ];
        execution.order_ids = vec!["o".into()];
        execution.fees = Some(Decimal::new(90, 3));
        execution.attempt = 2;
        execution.start_time_ms = Some(1_100);
        execution.end_time_ms = Some(1_300);
        execution
    }

    #[test]
    fn an_execution_survives_the_wire() {
        let execution = finished_execution();
        let wire = pb::Execution::from(&execution);
        assert_eq!(wire.status, pb::ExecutionStatus::Succeeded as i32);
        assert_eq!(wire.fees, "0.09");
        assert_eq!(
            wire.steps[1].duration,
            Some(prost_types::Duration {
                seconds: 0,
                nanos: 1_250_000
            })
        );
        assert_eq!(wire.end_time, Some(ms_to_timestamp(1_300)));
        assert_eq!(Execution::try_from(wire), Ok(execution));
    }

    #[test]
    fn every_status_crosses_and_comes_back() {
        for status in ExecutionStatus::ALL {
            assert_eq!(
                ExecutionStatus::required(status.number(), "status"),
                Ok(*status)
            );
            assert_eq!(
                pb::ProtoEnum::word(status.to_proto()),
                status.word(),
                "the domain word is the wire word"
            );
        }
    }

    #[test]
    fn what_was_never_set_stays_unset() {
        let pending = Execution::pending("e".into(), "p".into(), "ema".into(), "s".into(), 7);
        let wire = pb::Execution::from(&pending);
        assert_eq!(
            (wire.fees.as_str(), wire.start_time, wire.end_time),
            ("", None, None)
        );
        assert_eq!(Execution::try_from(wire), Ok(pending));
    }

    #[test]
    fn unknown_numbers_and_bad_values_are_named() {
        let mut wire = pb::Execution::from(&finished_execution());
        wire.status = 999;
        assert_eq!(
            Execution::try_from(wire.clone()).unwrap_err().to_string(),
            "status has no value numbered 999"
        );
        wire.status = pb::ExecutionStatus::Unspecified as i32;
        assert_eq!(
            Execution::try_from(wire.clone()),
            Err(CodecError::Missing { field: "status" })
        );
        wire.status = pb::ExecutionStatus::Running as i32;
        wire.fees = "a lot".into();
        assert_eq!(
            Execution::try_from(wire.clone()).unwrap_err().to_string(),
            "fees: `a lot` is not a decimal"
        );
        wire.fees = String::new();
        wire.steps[0].duration = Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        });
        assert_eq!(
            Execution::try_from(wire),
            Err(CodecError::Negative {
                field: "steps.duration"
            })
        );
    }
}

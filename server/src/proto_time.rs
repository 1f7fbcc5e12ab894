//! Conversions between `chrono` times and protobuf's well-known time
//! types, and the checks a request's Timestamp or Duration must pass:
//! what proto3-JSON can print (0001–9999, ±10,000 years, nanos in range).

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in Unix seconds: a
/// Timestamp lies in between.
const TIMESTAMP_SECONDS: std::ops::Range<i64> = -62_135_596_800..253_402_300_800;
/// ±10,000 years, in seconds: the longest Duration.
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;
const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// A protobuf timestamp for `at`.
pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The time a protobuf timestamp names, if it is in range.
pub fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// Milliseconds since the Unix epoch of a request's timestamp, or why it
/// is not a valid one.
pub fn checked_timestamp_ms(ts: &Timestamp) -> Result<i64, &'static str> {
    if !TIMESTAMP_SECONDS.contains(&ts.seconds) {
        return Err("must lie between the years 0001 and 9999");
    }
    if !(0..NANOS_PER_SECOND).contains(&ts.nanos) {
        return Err("nanos must lie in 0..=999999999");
    }
    Ok(timestamp_ms(ts))
}

/// A request's duration, which must not be negative, or why it is not a
/// valid one.
pub fn checked_duration(duration: &prost_types::Duration) -> Result<Duration, &'static str> {
    if duration.seconds.unsigned_abs() > MAX_DURATION_SECONDS.unsigned_abs() {
        return Err("must lie within 10,000 years");
    }
    if duration.nanos.unsigned_abs() >= NANOS_PER_SECOND.unsigned_abs() {
        return Err("nanos must lie in -999999999..=999999999");
    }
    let (Ok(seconds), Ok(nanos)) = (
        u64::try_from(duration.seconds),
        u32::try_from(duration.nanos),
    ) else {
        return Err("must not be negative");
    };
    Ok(Duration::new(seconds, nanos))
}

/// Clamps a stored duration into what [`checked_duration`] accepts (a
/// negative one to zero); whether it changed it.
pub fn clamp_duration(duration: &mut prost_types::Duration) -> bool {
    if checked_duration(duration).is_ok() {
        return false;
    }
    *duration = if duration.seconds < 0 || duration.nanos < 0 {
        prost_types::Duration::default()
    } else {
        prost_types::Duration {
            seconds: duration.seconds.min(MAX_DURATION_SECONDS),
            nanos: duration.nanos.min(NANOS_PER_SECOND - 1),
        }
    };
    true
}

/// The latest instant `ms` plus `duration` may reach and still be a valid
/// Timestamp (for expiry times built from a request's duration).
pub fn fits_after(ms: i64, duration: Duration) -> bool {
    let end = i64::try_from(duration.as_millis())
        .ok()
        .and_then(|d| ms.checked_add(d));
    end.is_some_and(|end| end / 1000 < TIMESTAMP_SECONDS.end)
}

/// Milliseconds since the Unix epoch.
pub fn timestamp_ms(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos / 1_000_000))
}

/// A protobuf timestamp for milliseconds since the Unix epoch, clamped
/// into 0001–9999 (a time stored before requests were checked must not
/// make an answer that proto3-JSON clients cannot read).
pub fn ms_to_timestamp(ms: i64) -> Timestamp {
    let ms = ms.clamp(
        TIMESTAMP_SECONDS.start * 1000,
        TIMESTAMP_SECONDS.end * 1000 - 1,
    );
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(seconds: i64, nanos: i32) -> prost_types::Duration {
        prost_types::Duration { seconds, nanos }
    }

    #[test]
    fn a_duration_is_checked_before_it_is_converted() {
        assert_eq!(
            checked_duration(&duration(1, 500)),
            Ok(Duration::new(1, 500))
        );
        assert!(checked_duration(&duration(-1, 0)).is_err());
        assert!(checked_duration(&duration(0, -1)).is_err());
        assert!(
            checked_duration(&duration(i64::MIN, 0)).is_err(),
            "no overflow"
        );
        assert!(checked_duration(&duration(i64::MAX, i32::MAX)).is_err());
        assert!(checked_duration(&duration(0, 2_000_000_000)).is_err());
        assert!(checked_duration(&duration(MAX_DURATION_SECONDS, 0)).is_ok());
        let mut endless = duration(i64::MAX, 2_000_000_000);
        assert!(clamp_duration(&mut endless));
        assert_eq!(endless, duration(MAX_DURATION_SECONDS, 999_999_999));
        let mut negative = duration(-1, 0);
        assert!(clamp_duration(&mut negative));
        assert_eq!(negative, duration(0, 0));
        assert!(!clamp_duration(&mut duration(5, 0)));
    }

    #[test]
    fn a_timestamp_lies_between_the_years_0001_and_9999() {
        let at = |seconds, nanos| checked_timestamp_ms(&Timestamp { seconds, nanos });
        assert_eq!(at(1, 5_000_000), Ok(1005));
        assert!(at(TIMESTAMP_SECONDS.start, 0).is_ok());
        assert!(at(TIMESTAMP_SECONDS.start - 1, 0).is_err());
        assert!(at(TIMESTAMP_SECONDS.end, 0).is_err());
        assert!(at(0, -1).is_err());
        assert!(at(0, 1_000_000_000).is_err());
        assert!(fits_after(0, Duration::from_secs(3600)));
        let far = ms_to_timestamp(i64::MAX);
        assert!(checked_timestamp_ms(&far).is_ok(), "clamped: {far:?}");
        assert!(!fits_after(
            0,
            Duration::from_secs(MAX_DURATION_SECONDS as u64)
        ));
    }
}

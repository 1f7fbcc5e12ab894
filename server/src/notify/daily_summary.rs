//! The daily P&L summary: at a time of day (UTC), one audit event
//! `report.daily_pnl` whose target is the 24 hours ending then and whose
//! detail carries the figures; the dispatcher delivers it like any other
//! event. Every replica runs the schedule, and the store appends the event
//! once per window ([`crate::store::AuditStore::append_audit_once`]).

use std::{fmt, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tradeplane_api::AuditOutcome;

use super::daily_pnl::DailyPnl;
use crate::{
    audit::{AuditEntry, AuditLog, actions},
    market::position::DAY_MS,
    orders::desk::OrderDesk,
    pipelines::Pipelines,
    proto_time::now_ms,
    store::{AuditQuery, Store, StoreError},
};

/// How long after a failed report it is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// `[notify.daily_summary]`: when the day's summary is written.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailySummaryConfig {
    /// `HH:MM` or `HH:MM:SS`, UTC.
    pub at: TimeOfDay,
}

/// A time of day in UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    seconds: u32,
}

impl TimeOfDay {
    /// Milliseconds after midnight.
    fn ms(self) -> i64 {
        i64::from(self.seconds) * 1000
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let malformed =
            || format!("notify.daily_summary.at: `{text}` is not HH:MM or HH:MM:SS (UTC)");
        let parts: Vec<&str> = text.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(malformed());
        }
        let mut seconds = 0;
        for (part, (limit, scale)) in parts.iter().zip([(24, 3600), (60, 60), (60, 1)]) {
            let value: u32 = match part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()) {
                true => part.parse().map_err(|_| malformed())?,
                false => return Err(malformed()),
            };
            if value >= limit {
                return Err(malformed());
            }
            seconds += value * scale;
        }
        Ok(Self { seconds })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (
            self.seconds / 3600,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        write!(f, "{h:02}:{m:02}:{s:02}")
    }
}

impl From<TimeOfDay> for String {
    fn from(at: TimeOfDay) -> Self {
        at.to_string()
    }
}

/// The latest instant at `at` no later than `now_ms`.
fn latest_instant(at: TimeOfDay, now_ms: i64) -> i64 {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS + at.ms();
    if today > now_ms {
        today - DAY_MS
    } else {
        today
    }
}

/// The window an instant's summary covers, `start/end` in RFC 3339:
/// the 24 hours ending at `instant`.
fn window(instant: i64) -> String {
    format!("{}/{}", rfc3339(instant - DAY_MS), rfc3339(instant))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The task that writes the summaries.
pub struct DailySummary {
    at: TimeOfDay,
    store: Arc<dyn Store>,
    desk: Arc<OrderDesk>,
    pipelines: Arc<Pipelines>,
    audit: Arc<AuditLog>,
}

impl DailySummary {
    /// The summary at `config.at`, of `desk`'s book.
    pub fn new(
        config: &DailySummaryConfig,
        store: Arc<dyn Store>,
        desk: Arc<OrderDesk>,
        pipelines: Arc<Pipelines>,
        audit: Arc<AuditLog>,
    ) -> Self {
        Self {
            at: config.at,
            store,
            desk,
            pipelines,
            audit,
        }
    }

    /// Reports the window the latest instant ended, if nobody did and the
    /// log began before that instant (a replica started after it; only
    /// that window, never a backlog); returns when the next report is due.
    pub async fn catch_up(&self) -> i64 {
        let latest = latest_instant(self.at, now_ms());
        match self.store.audit_after(0, 1).await {
            Ok(first) if first.iter().any(|row| row.time_ms < latest) => self.attempt(latest).await,
            Ok(_) => latest + DAY_MS,
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell whether a daily summary is due; trying again");
                now_ms() + RETRY.as_millis() as i64
            }
        }
    }

    /// Writes each day's summary from `next_ms` (what
    /// [`DailySummary::catch_up`] returned) until `stopped`.
    pub async fn run(self, mut next_ms: i64, mut stopped: watch::Receiver<bool>) {
        while sleep_until(next_ms, &mut stopped).await {
            next_ms = self.attempt(latest_instant(self.at, now_ms())).await;
        }
    }

    /// Reports the window ending at `instant`; returns when the next
    /// report is due (sooner if this one failed).
    async fn attempt(&self, instant: i64) -> i64 {
        match self.report(instant).await {
            Ok(()) => instant + DAY_MS,
            Err(err) => {
                tracing::warn!(error = %err, window = %window(instant), "daily summary not written; trying again");
                now_ms() + RETRY.as_millis() as i64
            }
        }
    }

    /// Writes the summary of the window ending at `instant`, unless it is
    /// written already.
    async fn report(&self, instant: i64) -> Result<(), StoreError> {
        let window = window(instant);
        let newest = self
            .store
            .list_audit(&AuditQuery {
                action_prefix: Some(actions::REPORT_DAILY_PNL.into()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        if newest.iter().any(|row| row.target == window) {
            return Ok(());
        }
        let figures = DailyPnl::gather(&self.desk, &self.pipelines, &window, instant).await?;
        let entry = AuditEntry {
            action: actions::REPORT_DAILY_PNL,
            target: window,
            outcome: AuditOutcome::Success,
            detail: serde_json::to_string(&figures)
                .map_err(|e| StoreError::Unencodable(e.to_string()))?,
            ..AuditEntry::system()
        };
        if let Some(row) = self.store.append_audit_once(entry.row(now_ms())).await? {
            self.audit.published(&[row]);
        }
        Ok(())
    }
}

/// Sleeps until the wall clock reaches `until_ms`; false if `stopped`
/// first.
async fn sleep_until(until_ms: i64, stopped: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *stopped.borrow() {
            return false;
        }
        let left = until_ms - now_ms();
        if left <= 0 {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(left as u64)) => {}
            _ = stopped.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> TimeOfDay {
        TimeOfDay::try_from(text.to_string()).expect("a time of day")
    }

    /// Milliseconds of an RFC 3339 time.
    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 time")
            .timestamp_millis()
    }

    #[test]
    fn times_of_day_are_read_and_bad_ones_named() {
        assert_eq!(at("00:00").to_string(), "00:00:00");
        assert_eq!(at("23:59:59").ms(), DAY_MS - 1000);
        assert_eq!(at("07:30").ms(), (7 * 3600 + 30 * 60) * 1000);
        for bad in [
            "24:00",
            "7:30",
            "07:60",
            "07:30:60",
            "07",
            "07:30:00:00",
            "-1:00",
            "a:bc",
        ] {
            let err = TimeOfDay::try_from(bad.to_string()).expect_err(bad);
            assert!(
                err.starts_with(&format!("notify.daily_summary.at: `{bad}`")),
                "{err}"
            );
        }
        let config: DailySummaryConfig = toml::from_str("at = \"18:00\"").expect("a section");
        assert_eq!(config.at, at("18:00"));
        let err = toml::from_str::<DailySummaryConfig>("at = \"6pm\"").expect_err("malformed");
        assert!(err.to_string().contains("is not HH:MM"), "{err}");
    }

    #[test]
    fn the_next_instant_is_today_until_it_passes() {
        let six = at("18:00");
        let morning = ms("2026-12-05T09:00:00Z");
        assert_eq!(latest_instant(six, morning), ms("2026-12-04T18:00:00Z"));
        assert_eq!(
            latest_instant(six, ms("2026-12-05T18:00:00Z")),
            ms("2026-12-05T18:00:00Z"),
            "the instant itself is due"
        );
        assert_eq!(
            latest_instant(six, ms("2026-12-05T17:59:59.999Z")),
            ms("2026-12-04T18:00:00Z")
        );
    }

    #[test]
    fn windows_are_the_24_hours_before_the_instant() {
        assert_eq!(
            window(ms("2026-12-05T00:00:00Z")),
            "2026-12-04T00:00:00Z/2026-12-05T00:00:00Z"
        );
        assert_eq!(
            window(ms("2026-12-05T18:30:15Z")),
            "2026-12-04T18:30:15Z/2026-12-05T18:30:15Z"
        );
    }

    #[test]
    fn midnight_is_crossed_forwards_and_backwards() {
        let midnight = at("00:00");
        let just_before = ms("2026-12-31T23:59:59.999Z");
        assert_eq!(
            latest_instant(midnight, just_before),
            ms("2026-12-31T00:00:00Z")
        );
        assert_eq!(
            latest_instant(midnight, just_before) + DAY_MS,
            ms("2027-01-01T00:00:00Z"),
            "the next one is in the new year"
        );
        let late = at("23:30");
        let after_midnight = ms("2027-01-01T00:10:00Z");
        assert_eq!(
            latest_instant(late, after_midnight),
            ms("2026-12-31T23:30:00Z")
        );
        assert_eq!(
            window(latest_instant(late, after_midnight)),
            "2026-12-30T23:30:00Z/2026-12-31T23:30:00Z"
        );
    }
}

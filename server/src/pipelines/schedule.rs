//! Time triggers: each enabled pipeline with a schedule (an interval, or a
//! cron expression in UTC) runs with a synthetic signal carrying the latest
//! price its exchange knows for the symbol.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{Pipelines, spec::When};

/// How often the schedules are looked at.
const TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// Fires due schedules until `stopped`.
pub async fn run_schedules(pipelines: Arc<Pipelines>, mut stopped: watch::Receiver<bool>) {
    let mut next_run: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let now = Utc::now();
        for compiled in pipelines.list() {
            let Some(schedule) = compiled.schedule.as_ref().filter(|_| compiled.enabled) else {
                continue;
            };
            // The first run is one period after the schedule is first seen.
            let id = compiled.id.clone();
            let due = match next_run.get(&id) {
                Some(at) => *at,
                None => {
                    if let Some(at) = after(&schedule.when, now) {
                        next_run.insert(id, at);
                    }
                    continue;
                }
            };
            if now < due {
                continue;
            }
            match after(&schedule.when, now) {
                Some(at) => next_run.insert(id, at),
                None => next_run.remove(&id),
            };
            let price = pipelines
                .latest_price(&compiled.exchange, &compiled.account, &schedule.symbol)
                .await;
            let signal = match pipelines.synthetic_signal(
                "schedule",
                &schedule.symbol,
                schedule.action.word(),
                &price,
                "",
            ) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!(pipeline = %compiled.name, error = %err, "schedule cannot build its signal");
                    continue;
                }
            };
            if let Err(err) = pipelines
                .trigger(&compiled, signal, "", "schedule fired", None)
                .await
            {
                tracing::warn!(pipeline = %compiled.name, error = %err, "scheduled run not queued");
            }
        }
    }
}

impl Pipelines {
    /// The latest price `exchange` (as `account`) knows for `symbol`, as
    /// text (empty when it knows none).
    pub async fn latest_price(&self, exchange: &str, account: &str, symbol: &str) -> String {
        let Ok(instrument) = self.instrument(symbol) else {
            return String::new();
        };
        let Ok(exchange) = self.desk.exchange(exchange, account) else {
            return String::new();
        };
        match exchange.last_price(&instrument.symbol).await {
            Ok(Some(price)) => price.normalize().to_string(),
            _ => String::new(),
        }
    }
}

/// The first run of `when` after `now`.
fn after(when: &When, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match when {
        When::Every(every) => chrono::Duration::from_std(*every).ok().map(|d| now + d),
        When::Cron(cron) => cron.find_next_occurrence(&now, false).ok(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::pipelines::spec::parse_cron;

    #[test]
    fn the_next_run_follows_the_interval_or_the_cron_expression() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 2, 30)
            .single()
            .expect("a time");
        let every = When::Every(std::time::Duration::from_secs(90));
        assert_eq!(
            after(&every, now),
            Some(now + chrono::Duration::seconds(90))
        );
        let cron = When::Cron(Box::new(parse_cron("*/5 * * * *").expect("valid")));
        assert_eq!(
            after(&cron, now),
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 5, 0).single()
        );
    }
}

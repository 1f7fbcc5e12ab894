//! Time triggers: each enabled pipeline with an interval schedule runs
//! every interval with a synthetic signal carrying the latest price its
//! exchange knows for the symbol.

use std::{collections::HashMap, sync::Arc, time::Instant};

use tokio::sync::watch;

use super::Pipelines;

/// How often the schedules are looked at.
const TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// Fires due schedules until `stopped`.
pub async fn run_schedules(pipelines: Arc<Pipelines>, mut stopped: watch::Receiver<bool>) {
    let mut last_run: HashMap<String, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let now = Instant::now();
        for compiled in pipelines.list() {
            let Some(schedule) = compiled.schedule.as_ref().filter(|_| compiled.enabled()) else {
                continue;
            };
            // The first interval starts when the schedule is first seen.
            let last = *last_run.entry(compiled.pipeline.id.clone()).or_insert(now);
            if now.duration_since(last) < schedule.every {
                continue;
            }
            last_run.insert(compiled.pipeline.id.clone(), now);
            let price = pipelines
                .latest_price(&compiled.pipeline.exchange, &schedule.symbol)
                .await;
            let action = schedule
                .action
                .as_str_name()
                .trim_start_matches("SIGNAL_ACTION_")
                .to_lowercase();
            let signal = match pipelines.synthetic_signal(
                "schedule",
                &schedule.symbol,
                &action,
                &price,
                "",
            ) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!(pipeline = %compiled.pipeline.name, error = %err, "schedule cannot build its signal");
                    continue;
                }
            };
            if let Err(err) = pipelines
                .trigger(&compiled, signal, "schedule fired", None)
                .await
            {
                tracing::warn!(pipeline = %compiled.pipeline.name, error = %err, "scheduled run not queued");
            }
        }
    }
}

impl Pipelines {
    /// The latest price `exchange` knows for `symbol`, as text (empty when
    /// it knows none).
    pub async fn latest_price(&self, exchange: &str, symbol: &str) -> String {
        let Ok(instrument) = self.instrument(symbol) else {
            return String::new();
        };
        let Ok(exchange) = self.desk.exchange(exchange) else {
            return String::new();
        };
        match exchange.last_price(&instrument.symbol).await {
            Ok(Some(price)) => price.normalize().to_string(),
            _ => String::new(),
        }
    }
}

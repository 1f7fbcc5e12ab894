//! The gauges that answer "is money at risk right now?", read at scrape
//! time from memory (the desk's view of the store, read every keeper
//! tick): open orders per venue and status (unknown: sent, the
//! outcome not known yet), which venues are live, each pipeline's open
//! exposure, positions coverage could not protect, and the day's realised
//! profit against the daily loss limit. Venues come from the configuration
//! and pipelines are capped (`pipelines.max_pipelines`), so the labels stay
//! bounded.

use std::{collections::BTreeMap, sync::Weak};

use opentelemetry::{
    KeyValue,
    metrics::{AsyncInstrument, Meter},
};
use rust_decimal::{Decimal, prelude::ToPrimitive};

use super::Pipelines;
use crate::{
    model::order::OrderStatus, orders::exchanges::instrumented::labels, proto_time::now_ms,
};

/// Registers the gauges; each reads `pipelines` while it lives.
pub(super) fn observe(meter: &Meter, pipelines: Weak<Pipelines>) {
    meter
        .u64_observable_gauge("tradeplane.orders.open")
        .with_description(
            "Orders not final yet, by exchange and status (unknown: sent, outcome not known)",
        )
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            let mut counts: BTreeMap<(String, &str), u64> = BTreeMap::new();
            for exchange in pipelines.desk.exchanges() {
                for status in OrderStatus::OPEN {
                    counts.insert((exchange.name().to_string(), status.word()), 0);
                }
            }
            for order in &pipelines.desk.view().open {
                *counts
                    .entry((order.exchange.clone(), order.status.word()))
                    .or_default() += 1;
            }
            for ((exchange, status), count) in counts {
                gauge.observe(
                    count,
                    &[
                        KeyValue::new("exchange", exchange),
                        KeyValue::new("status", status),
                    ],
                );
            }
        }))
        .build();
    meter
        .u64_observable_gauge("tradeplane.exchange.live")
        .with_description(
            "1 for an exchange account that trades real money, 0 for a testnet or paper",
        )
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            for exchange in pipelines.desk.exchanges() {
                gauge.observe(u64::from(exchange.live()), &labels(&**exchange));
            }
        }))
        .build();
    meter
        .f64_observable_gauge("tradeplane.position.exposure")
        .with_description("Open positions at their average cost, in their quote currency, by pipeline and exchange")
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            let snapshot = pipelines.snapshot();
            let mut exposure: BTreeMap<&str, Decimal> = snapshot
                .keys()
                .map(|id| (id.as_str(), Decimal::ZERO))
                .collect();
            let view = pipelines.desk.view();
            for (id, _, position) in &view.positions {
                if let Some(total) = exposure.get_mut(id.as_str()) {
                    *total += position.quantity.abs() * position.average_cost;
                }
            }
            for (id, total) in exposure {
                let compiled = &snapshot[id];
                gauge.observe(
                    total.to_f64().unwrap_or_default(),
                    &[
                        KeyValue::new("pipeline", compiled.name.clone()),
                        KeyValue::new("exchange", compiled.exchange.clone()),
                    ],
                );
            }
        }))
        .build();
    meter
        .u64_observable_gauge("tradeplane.position.unprotected")
        .with_description("Positions a pipeline's stop settings should protect that no resting stop covers (coverage could not place one)")
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            let uncovered = pipelines.uncovered_positions();
            for compiled in pipelines.snapshot().values() {
                let count = uncovered.iter().filter(|(id, _)| *id == compiled.id).count();
                let pipeline = KeyValue::new("pipeline", compiled.name.clone());
                gauge.observe(count as u64, &[pipeline]);
            }
        }))
        .build();
    meter
        .f64_observable_gauge("tradeplane.pipeline.realized_pnl")
        .with_description("Profit (negative: loss) realised today (UTC), by pipeline")
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            let now = now_ms();
            let view = pipelines.desk.view();
            for compiled in pipelines.snapshot().values() {
                let realized: Decimal = view
                    .positions
                    .iter()
                    .filter(|(id, _, _)| *id == compiled.id)
                    .map(|(_, _, position)| position.realized_on(now))
                    .sum();
                let pipeline = KeyValue::new("pipeline", compiled.name.clone());
                gauge.observe(realized.to_f64().unwrap_or_default(), &[pipeline]);
            }
        }))
        .build();
    meter
        .f64_observable_gauge("tradeplane.pipeline.daily_loss_limit")
        .with_description(
            "The loss a pipeline may realise in a day before it stops entering, where it has one",
        )
        .with_callback(reading(&pipelines, |pipelines, gauge| {
            for compiled in pipelines.snapshot().values() {
                if let Some(limit) = compiled.risk.daily_loss_limit {
                    let pipeline = KeyValue::new("pipeline", compiled.name.clone());
                    gauge.observe(limit.to_f64().unwrap_or_default(), &[pipeline]);
                }
            }
        }))
        .build();
}

/// A gauge callback that reads the pipelines while they live.
fn reading<T>(
    pipelines: &Weak<Pipelines>,
    read: impl Fn(&Pipelines, &dyn AsyncInstrument<T>) + Send + Sync + 'static,
) -> impl Fn(&dyn AsyncInstrument<T>) + Send + Sync + 'static {
    let pipelines = pipelines.clone();
    move |gauge| {
        if let Some(pipelines) = pipelines.upgrade() {
            read(&pipelines, gauge);
        }
    }
}

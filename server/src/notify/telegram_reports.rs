//! The read-only Telegram commands' answers: `/positions`, `/orders` and
//! `/pnl`, from the desk's book, in a few lines each.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::{orders::desk::OrderDesk, pipelines::Pipelines, proto_time::now_ms};

/// Most lines one answer lists.
const MOST_LINES: usize = 20;

/// Pipeline names by id.
pub(super) fn names(pipelines: &Pipelines) -> HashMap<String, String> {
    pipelines
        .list()
        .iter()
        .map(|compiled| (compiled.id.clone(), compiled.name.clone()))
        .collect()
}

/// The name of pipeline `id`, or its id.
pub(super) fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// Every open position the pipelines book.
pub(super) async fn positions(desk: &OrderDesk, pipelines: &Pipelines) -> String {
    let booked = match desk.positions().await {
        Ok(booked) => booked,
        Err(err) => return format!("Cannot read the positions: {err}"),
    };
    let names = names(pipelines);
    let lines: Vec<String> = booked
        .iter()
        .filter(|(_, _, position)| !position.quantity.is_zero())
        .map(|(pipeline, symbol, position)| {
            format!(
                "{} {symbol}: {} at {}",
                name_of(&names, pipeline),
                position.quantity.normalize(),
                position.average_cost.round_dp(8).normalize()
            )
        })
        .collect();
    listed("No open positions.", "Open positions", lines)
}

/// Every open order.
pub(super) async fn orders(desk: &OrderDesk) -> String {
    let open = match desk.open_orders().await {
        Ok(open) => open,
        Err(err) => return format!("Cannot read the orders: {err}"),
    };
    let lines: Vec<String> = open
        .iter()
        .map(|order| {
            format!(
                "{} {} {} on {}/{}: {}",
                order.side.word(),
                order.quantity.normalize(),
                order.instrument.symbol,
                order.exchange,
                order.account,
                order.status
            )
        })
        .collect();
    listed("No open orders.", "Open orders", lines)
}

/// Each pipeline's realised profit today (UTC), and the total.
pub(super) async fn pnl(desk: &OrderDesk, pipelines: &Pipelines) -> String {
    let booked = match desk.positions().await {
        Ok(booked) => booked,
        Err(err) => return format!("Cannot read the positions: {err}"),
    };
    let now = now_ms();
    let mut by_pipeline: BTreeMap<String, Decimal> = BTreeMap::new();
    let names = names(pipelines);
    for (pipeline, _, position) in &booked {
        *by_pipeline.entry(name_of(&names, pipeline)).or_default() += position.realized_on(now);
    }
    let total: Decimal = by_pipeline.values().sum();
    let lines = by_pipeline
        .iter()
        .filter(|(_, realized)| !realized.is_zero())
        .map(|(name, realized)| format!("{name}: {}", realized.round_dp(8).normalize()))
        .collect();
    listed(
        "No profit or loss realised today.",
        &format!("Realised today: {}", total.round_dp(8).normalize()),
        lines,
    )
}

/// `lines` under `heading`, at most [`MOST_LINES`]; `none` if empty.
fn listed(none: &str, heading: &str, lines: Vec<String>) -> String {
    if lines.is_empty() {
        return none.to_string();
    }
    let more = lines.len().saturating_sub(MOST_LINES);
    let mut text = format!(
        "{heading}:\n{}",
        lines[..lines.len().min(MOST_LINES)].join("\n")
    );
    if more > 0 {
        text.push_str(&format!("\n… and {more} more"));
    }
    text
}

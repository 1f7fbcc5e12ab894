//! Rendering API objects for people (`table`) and scripts (`json`).

use prost_types::Timestamp;
use serde_json::{Value, json};

use crate::proto_json::{ProtoMessage, proto_json};
use tradeplane_api::{
    InstrumentKind, MarketPosition, OrderType, ProtoEnum, Signal, SignalAction, SignalOutcome,
};

/// An RFC 3339 time, or empty.
pub fn time_text(ts: Option<&Timestamp>) -> String {
    ts.and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?))
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The name of an enum value, or `UNKNOWN`.
pub fn enum_name<E: TryFrom<i32>>(value: i32, name: impl Fn(E) -> &'static str) -> String {
    E::try_from(value)
        .map(name)
        .unwrap_or("UNKNOWN")
        .to_string()
}

/// A signal in the JSON shape `tpctl --output json` prints.
pub fn signal_json(signal: &Signal) -> Value {
    let instrument = signal.instrument.as_ref().map(|i| {
        json!({
            "venue": i.venue, "base": i.base, "quote": i.quote, "symbol": i.symbol,
            "kind": enum_name::<InstrumentKind>(i.kind, |k| k.as_str_name()),
        })
    });
    json!({
        "id": signal.id,
        "source": signal.source,
        "strategy": signal.strategy,
        "raw_symbol": signal.raw_symbol,
        "raw_action": signal.raw_action,
        "instrument": instrument,
        "action": SignalAction::word_of(signal.action),
        "quantity": signal.quantity,
        "price": signal.price,
        "confidence": signal.confidence,
        "target_position": signal.target_position,
        "market_position": MarketPosition::word_of(signal.market_position),
        "position_size": signal.position_size,
        "exit_percent": signal.exit_percent,
        "overrides": signal.overrides.as_ref().map(|o| json!({
            "order_type": OrderType::word_of(o.order_type),
            "limit_price": o.limit_price,
            "stop_loss": o.stop_loss,
            "take_profit": o.take_profit,
        })),
        "strategy_order_id": signal.strategy_order_id,
        "comment": signal.comment,
        "interval": signal.interval,
        "event_time": time_text(signal.event_time.as_ref()),
        "receive_time": time_text(signal.receive_time.as_ref()),
        "tags": signal.tags,
        "outcome": SignalOutcome::word_of(signal.outcome),
        "reject_reason": signal.reject_reason,
        "field_violations": signal.field_violations.iter()
            .map(|v| json!({"field": v.field, "reason": v.reason, "description": v.description}))
            .collect::<Vec<_>>(),
        "trace_id": signal.trace_id,
    })
}

/// Column headers of [`signal_row`].
pub const SIGNAL_COLUMNS: [&str; 9] = [
    "ID", "RECEIVED", "SOURCE", "STRATEGY", "SYMBOL", "ACTION", "QTY", "PRICE", "OUTCOME",
];

/// A signal as one table row.
pub fn signal_row(signal: &Signal) -> Vec<String> {
    let symbol = signal
        .instrument
        .as_ref()
        .map(|i| i.symbol.clone())
        .unwrap_or_else(|| signal.raw_symbol.clone());
    let mut outcome = SignalOutcome::word_of(signal.outcome).to_string();
    if !signal.reject_reason.is_empty() {
        outcome = format!("{outcome} ({})", signal.reject_reason);
    }
    vec![
        signal.id.clone(),
        time_text(signal.receive_time.as_ref()),
        signal.source.clone(),
        signal.strategy.clone(),
        symbol,
        action_text(signal),
        signal.quantity.clone(),
        signal.price.clone(),
        outcome,
    ]
}

/// The signal's action: its word, or as sent when it was not one (a
/// rejected `hodl` reads `hodl`, not `unspecified`).
fn action_text(signal: &Signal) -> String {
    match SignalAction::try_from(signal.action) {
        Ok(SignalAction::Unspecified) | Err(_) if !signal.raw_action.is_empty() => {
            signal.raw_action.clone()
        }
        _ => SignalAction::word_of(signal.action).to_string(),
    }
}

/// Left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = vec![padded(headers, &widths)];
    out.extend(rows.iter().map(|row| padded(row, &widths)));
    out.join("\n")
}

/// One line of `cells`, each padded to its width.
fn padded(cells: &[impl AsRef<str>], widths: &[usize]) -> String {
    cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{:<width$}", cell.as_ref()))
        .collect::<Vec<_>>()
        .join("  ")
        .trim_end()
        .to_string()
}

/// Rows printed as they arrive (a watch), lined up under one header. The
/// header comes with the first row; each column is as wide as its header
/// or that row's cell, whichever is wider.
pub struct StreamTable {
    headers: Vec<String>,
    widths: Option<Vec<usize>>,
}

impl StreamTable {
    /// A stream of rows with `columns` (upper-cased for the header).
    pub fn new(columns: &[&str]) -> Self {
        Self {
            headers: columns.iter().map(|c| c.to_uppercase()).collect(),
            widths: None,
        }
    }

    /// The next row as text, after the header the first time.
    pub fn line(&mut self, cells: Vec<String>) -> String {
        let first = self.widths.is_none();
        let headers = &self.headers;
        let widths = self.widths.get_or_insert_with(|| {
            headers
                .iter()
                .zip(&cells)
                .map(|(header, cell)| header.len().max(cell.chars().count()))
                .collect()
        });
        let row = padded(&cells, widths);
        if first {
            format!("{}\n{row}", padded(headers, widths))
        } else {
            row
        }
    }
}

/// The `columns` of JSON objects as table cells.
pub fn rows(values: &[Value], columns: &[&str]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|v| {
            columns
                .iter()
                .map(|c| match &v[*c] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// JSON objects as a table whose headers are the upper-cased columns.
pub fn object_table(values: &[Value], columns: &[&str]) -> String {
    let headers: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows(values, columns))
}

/// How a command prints what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns, for people.
    Table,
    /// One JSON value per result (per event for watches).
    Json,
    /// The response message in canonical proto3 JSON, as grpcurl prints
    /// it: one object per response (per event for watches).
    ProtoJson,
    /// YAML, one document per result.
    Yaml,
    /// Only the ids of what was shown, one a line (`-q`).
    Quiet,
}

/// Prints the response `message` as `output` says: `value` is its JSON
/// form for people and scripts, `text` its table form.
pub fn print(
    output: Output,
    message: &impl ProtoMessage,
    value: Value,
    text: impl FnOnce() -> String,
) {
    if output != Output::ProtoJson {
        return print_value(output, value, text);
    }
    match proto_json(message) {
        Ok(json) => write_out(&format!("{json}\n")),
        Err(err) => eprintln!("error: cannot print proto JSON: {err}"),
    }
}

/// Prints `value`, a result that is no API response, as `output` says
/// (proto JSON is plain JSON); `text` is its table form.
pub fn print_value(output: Output, value: Value, text: impl FnOnce() -> String) {
    let out = match output {
        Output::Table => text() + "\n",
        Output::Json | Output::ProtoJson => format!("{value}\n"),
        Output::Yaml => match serde_yaml_ng::to_string(&value) {
            Ok(yaml) => format!("---\n{yaml}"),
            Err(err) => {
                eprintln!("error: cannot print YAML: {err}");
                return;
            }
        },
        Output::Quiet => ids(&value).iter().map(|id| format!("{id}\n")).collect(),
    };
    write_out(&out);
}

/// Writes `text` to stdout. A reader that went away (`| head`) ends the
/// program quietly, as a closed pipe does for other command-line tools.
pub fn write_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {err}");
    }
}

/// The ids in a result: its own `id`, else those of the objects it
/// holds (a list's items, a submitted signal).
fn ids(value: &Value) -> Vec<String> {
    if let Some(id) = value.get("id").and_then(Value::as_str) {
        return vec![id.to_string()];
    }
    let Some(fields) = value.as_object() else {
        return Vec::new();
    };
    fields
        .values()
        .flat_map(|field| match field {
            Value::Array(items) => items.iter().flat_map(ids).collect(),
            Value::Object(_) => ids(field),
            _ => Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_rows_line_up_under_one_header() {
        let mut lines = StreamTable::new(&["id", "status"]);
        let first = lines.line(vec!["0190-aaaa".into(), "filled".into()]);
        let second = lines.line(vec!["0190-bbbb".into(), "canceled".into()]);
        let mut first = first.lines();
        let header = first.next().expect("a header");
        let row = first.next().expect("a row");
        assert_eq!(header, "ID         STATUS");
        assert_eq!(row.find("filled"), header.find("STATUS"));
        assert_eq!(second.find("canceled"), header.find("STATUS"));
        assert!(!second.contains("ID"), "one header only");
    }
}

//! `tpctl admin audit …`: the audit log and its hash chain.

use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, StreamTable, object_table, print, rows, time_text},
};

use crate::cli_error::CliError;

/// `tpctl admin audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Lists events, newest first.
    List {
        /// Only events by this actor (an API key's name), matched exactly.
        #[arg(long, default_value = "")]
        actor: String,
        /// Action prefix, e.g. `trading.` or `api_key.create`.
        #[arg(long, default_value = "")]
        action: String,
        /// Most events to show (the server caps it at 1000).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Streams new events as they are recorded.
    Watch {
        /// Only actions starting with this prefix, e.g. `trading.` or `api_key.create`.
        #[arg(long, default_value = "")]
        action: String,
    },
    /// Walks the hash chain; exits non-zero if it is broken.
    Verify,
}

fn audit_json(event: &AuditEvent) -> Value {
    json!({
        "sequence": event.sequence, "time": time_text(event.time.as_ref()), "actor": event.actor,
        "source_address": event.source_address, "action": event.action, "target": event.target,
        "outcome": AuditOutcome::word_of(event.outcome),
        "detail": event.detail, "trace_id": event.trace_id,
        "previous_hash": event.previous_hash, "hash": event.hash,
    })
}

/// Runs one `admin audit` command.
pub(super) async fn run(
    client: &Client,
    command: AuditCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    match command {
        AuditCommand::List {
            actor,
            action,
            limit,
        } => {
            let response = admin
                .list_audit_events(ListAuditEventsRequest {
                    page_size: limit,
                    filter: Some(AuditFilter {
                        actor,
                        action,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let events: Vec<Value> = response.events.iter().map(audit_json).collect();
            print(output, &response, json!({ "events": events }), || {
                object_table(
                    &events,
                    &[
                        "sequence",
                        "time",
                        "actor",
                        "source_address",
                        "action",
                        "target",
                        "outcome",
                        "detail",
                    ],
                )
            });
        }
        AuditCommand::Watch { action } => {
            let mut stream = admin
                .watch_audit_events(WatchAuditEventsRequest {
                    filter: Some(AuditFilter {
                        action,
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            const COLUMNS: [&str; 7] = [
                "sequence", "time", "actor", "action", "target", "outcome", "detail",
            ];
            let mut lines = StreamTable::new(&COLUMNS);
            while let Some(item) = stream.next().await {
                let item = item?;
                if item.missed > 0 {
                    eprintln!("({} events missed: this watcher fell behind)", item.missed);
                }
                if let Some(event) = &item.event {
                    let value = audit_json(event);
                    print(output, &item, value.clone(), || {
                        lines.line(rows(&[value], &COLUMNS).concat())
                    });
                }
            }
        }
        AuditCommand::Verify => {
            let result = admin
                .verify_audit_log(VerifyAuditLogRequest {})
                .await?
                .into_inner();
            print(
                output,
                &result,
                json!({
                    "intact": result.intact, "events_checked": result.events_checked,
                    "first_broken_sequence": result.first_broken_sequence, "detail": result.detail,
                }),
                || {
                    if result.intact {
                        format!("intact: {} events checked", result.events_checked)
                    } else {
                        format!(
                            "BROKEN at sequence {}: {}",
                            result.first_broken_sequence, result.detail
                        )
                    }
                },
            );
            if !result.intact {
                return Err(format!(
                    "the audit log is broken at sequence {}",
                    result.first_broken_sequence
                )
                .into());
            }
        }
    }
    Ok(())
}

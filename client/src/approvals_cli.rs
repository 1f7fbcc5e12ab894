//! `tpctl approvals …`: the orders of pipelines that require approval.
//! `list` (with `--watch` to stream them as they are held and decided),
//! `approve ID` and `reject ID --reason R`.

use crate::cli_error::CliError;
use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, StreamTable, object_table, print, rows, time_text},
    proto_json::ProtoMessage,
};

/// Approval commands.
#[derive(Subcommand)]
pub enum ApprovalCommand {
    /// Approvals, newest first; `--watch` streams them as they change.
    List {
        /// Only these states (pending, approved, rejected, expired).
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        /// Only this pipeline's (name or id).
        #[arg(long, default_value = "")]
        pipeline: String,
        /// Stream approvals as they are held and decided, until Ctrl-C (not with --pipeline).
        #[arg(long)]
        watch: bool,
        /// Most approvals to list (the server caps it at 1000; unused with --watch).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Places a held order and finishes its execution.
    Approve {
        /// Approval id, as `approvals list` prints it.
        id: String,
    },
    /// Refuses a held order; its execution ends CANCELED.
    Reject {
        /// Approval id, as `approvals list` prints it.
        id: String,
        /// Why the order is refused; kept on the approval and its execution.
        #[arg(long)]
        reason: String,
    },
}

const APPROVAL_COLUMNS: [&str; 8] = [
    "id",
    "state",
    "pipeline",
    "side",
    "quantity",
    "symbol",
    "expire_time",
    "decided_by",
];

fn approval_json(a: &Approval) -> Value {
    let order = a.order.clone().unwrap_or_default();
    json!({
        "id": a.id, "state": ApprovalState::word_of(a.state),
        "pipeline": a.pipeline_name, "pipeline_id": a.pipeline_id,
        "execution_id": a.execution_id, "signal_id": a.signal_id,
        "side": Side::word_of(order.side), "type": OrderType::word_of(order.r#type),
        "quantity": order.quantity, "price": order.price, "symbol": order.symbol,
        "exchange": order.exchange, "role": OrderRole::word_of(a.role),
        "create_time": time_text(a.create_time.as_ref()),
        "expire_time": time_text(a.expire_time.as_ref()),
        "decide_time": time_text(a.decide_time.as_ref()),
        "decided_by": a.decided_by, "reason": a.reason,
    })
}

/// The approval states named on the command line.
fn states(words: &[String]) -> Result<Vec<i32>, String> {
    words
        .iter()
        .map(|w| {
            ApprovalState::from_str_name(&format!("APPROVAL_STATE_{}", w.to_uppercase()))
                .map(|s| s as i32)
                .ok_or_else(|| {
                    format!("`{w}` is not an approval state (pending, approved, rejected, expired)")
                })
        })
        .collect()
}

/// A decided approval and the execution it finished, as one answer.
fn print_decided(
    output: Output,
    answer: &impl ProtoMessage,
    approval: Option<&Approval>,
    execution: Option<&Execution>,
) {
    let approval = approval_json(&approval.cloned().unwrap_or_default());
    let execution = execution.cloned().unwrap_or_default();
    let value = json!({
        "approval": approval,
        "execution": {
            "id": execution.id,
            "status": ExecutionStatus::word_of(execution.status),
            "error": execution.error,
            "order_ids": execution.order_ids,
        },
    });
    print(output, answer, value.clone(), || {
        format!(
            "{}\nexecution {} {} {}",
            object_table(std::slice::from_ref(&approval), &APPROVAL_COLUMNS),
            execution.id,
            ExecutionStatus::word_of(execution.status),
            execution.error
        )
    });
}

/// Runs an approval command.
pub async fn run(
    client: &Client,
    command: ApprovalCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut pipelines = client.pipelines();
    match command {
        ApprovalCommand::List {
            state,
            pipeline,
            watch: true,
            ..
        } => {
            if !pipeline.is_empty() {
                return Err("--watch streams every pipeline's approvals; drop --pipeline".into());
            }
            let mut stream = pipelines
                .watch_approvals(WatchApprovalsRequest {
                    states: states(&state)?,
                })
                .await?
                .into_inner();
            let mut lines = StreamTable::new(&APPROVAL_COLUMNS);
            while let Some(event) = stream.next().await {
                let event = event?;
                let value = approval_json(&event.approval.clone().unwrap_or_default());
                print(output, &event, value.clone(), || {
                    lines.line(rows(&[value], &APPROVAL_COLUMNS).concat())
                });
            }
        }
        ApprovalCommand::List {
            state,
            pipeline,
            limit,
            ..
        } => {
            let response = pipelines
                .list_approvals(ListApprovalsRequest {
                    page_size: limit,
                    states: states(&state)?,
                    pipeline_id: client.pipeline_id(pipeline).await?,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let values: Vec<Value> = response.approvals.iter().map(approval_json).collect();
            print(output, &response, json!({ "approvals": values }), || {
                object_table(&values, &APPROVAL_COLUMNS)
            });
        }
        ApprovalCommand::Approve { id } => {
            let answer = pipelines
                .approve_order(ApproveOrderRequest { id })
                .await?
                .into_inner();
            print_decided(
                output,
                &answer,
                answer.approval.as_ref(),
                answer.execution.as_ref(),
            );
        }
        ApprovalCommand::Reject { id, reason } => {
            let answer = pipelines
                .reject_order(RejectOrderRequest { id, reason })
                .await?
                .into_inner();
            print_decided(
                output,
                &answer,
                answer.approval.as_ref(),
                answer.execution.as_ref(),
            );
        }
    }
    Ok(())
}

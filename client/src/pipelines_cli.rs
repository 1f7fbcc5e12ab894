//! `tpctl pipeline …`: create and update from a file, get, list, pause,
//! resume, delete, run, and the executions (with `--watch`).

use crate::cli_error::CliError;
use std::path::PathBuf;

use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, StreamTable, object_table, print, rows, time_text},
    pipeline_file::PipelineFile,
};

/// Pipeline commands.
#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Creates a pipeline from a YAML or JSON file.
    Create {
        /// Pipeline file: JSON if it ends in .json, else YAML (see examples/).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Idempotency key: a retry returns the first pipeline.
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// One pipeline, by id or name.
    Get {
        /// Pipeline id or name.
        id: String,
    },
    /// Every pipeline.
    List,
    /// Changes the fields the file sets; the others stay.
    Update {
        /// Pipeline id or name.
        id: String,
        /// YAML or JSON pipeline file (JSON if it ends in .json) with the fields to change.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Stops reacting to triggers.
    Pause {
        /// Pipeline id or name.
        id: String,
    },
    /// Reacts to triggers again.
    Resume {
        /// Pipeline id or name.
        id: String,
    },
    /// Deletes a pipeline (its executions stay).
    Delete {
        /// Pipeline id or name.
        id: String,
    },
    /// Runs a pipeline now with a synthetic signal.
    Run {
        /// Pipeline id or name.
        id: String,
        /// The signal's symbol; required unless the pipeline runs on a schedule.
        #[arg(long, default_value = "")]
        symbol: String,
        /// buy, sell, exit, target_position, cancel, add, reverse,
        /// close_long or close_short.
        #[arg(long, default_value = "")]
        action: String,
        /// The signal's reference price (decimal).
        #[arg(long, default_value = "")]
        price: String,
        /// The quantity, or the target position for target_position.
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        quantity: String,
    },
    /// Executions, newest first; `--watch` streams them as they change.
    Executions {
        /// Only this pipeline's (its name or id).
        #[arg(long, default_value = "")]
        pipeline: String,
        /// Stream executions as they start and change, until Ctrl-C, instead of listing.
        #[arg(long)]
        watch: bool,
        /// Most executions to list (the server caps it at 1000; unused with --watch).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// One execution with its steps.
    Execution {
        /// Execution id, as `pipeline executions` or `pipeline run` prints it.
        id: String,
    },
}

/// A duration as whole seconds (the file's `1m` is 60).
fn seconds(d: Option<&prost_types::Duration>) -> Option<i64> {
    d.map(|d| d.seconds)
}

/// A protective level: an offset in basis points or a price.
fn level_json(level: Option<&ProtectiveOrder>) -> Value {
    match level.and_then(|l| l.level.as_ref()) {
        Some(protective_order::Level::OffsetBps(bps)) => json!({ "offset_bps": bps }),
        Some(protective_order::Level::Price(price)) => json!({ "price": price }),
        None => Value::Null,
    }
}

/// The risk rules, every field (empty: no limit).
fn risk_json(r: &RiskRules) -> Value {
    json!({
        "max_order_notional": r.max_order_notional, "max_position": r.max_position,
        "max_orders_per_minute": r.max_orders_per_minute,
        "cooldown_seconds": seconds(r.cooldown.as_ref()),
        "daily_loss_limit": r.daily_loss_limit,
        "allowed_sides": r.allowed_sides.iter().map(|s| Side::word_of(*s)).collect::<Vec<_>>(),
    })
}

/// The order settings, every field.
fn order_settings_json(o: &OrderSettings) -> Value {
    let trailing = o
        .trailing_stop
        .as_ref()
        .and_then(|t| t.distance.as_ref())
        .map(|d| match d {
            trailing_stop::Distance::Offset(offset) => json!({ "offset": offset }),
            trailing_stop::Distance::Percent(percent) => json!({ "percent": percent }),
        });
    json!({
        "type": OrderType::word_of(o.r#type),
        "limit_offset_bps": o.limit_offset_bps,
        "time_in_force": TimeInForce::word_of(o.time_in_force),
        "stop_loss": level_json(o.stop_loss.as_ref()),
        "take_profit": level_json(o.take_profit.as_ref()),
        "take_profits": o.take_profits.iter().map(|t| json!({
            "level": level_json(t.level.as_ref()), "percent": t.percent,
        })).collect::<Vec<_>>(),
        "trailing_stop": trailing,
        "breakeven_after_first_take_profit": o.breakeven_after_first_take_profit,
        "attach_exits": o.attach_exits,
        "take_profit_at_market": o.take_profit_at_market,
        "cancel_after_seconds": seconds(o.cancel_after.as_ref()),
    })
}

fn pipeline_json(p: &Pipeline) -> Value {
    let trigger = match p.trigger.as_ref().and_then(|t| t.kind.as_ref()) {
        Some(trigger::Kind::Signal(m)) => format!(
            "signal {} {} {}",
            if m.source.is_empty() { "*" } else { &m.source },
            if m.symbol_glob.is_empty() {
                "*"
            } else {
                &m.symbol_glob
            },
            m.actions.join(",")
        ),
        Some(trigger::Kind::Schedule(s)) => match &s.spec {
            Some(schedule::Spec::Cron(cron)) => format!("cron `{cron}` {} {}", s.action, s.symbol),
            Some(schedule::Spec::Interval(d)) => {
                format!("every {}s {} {}", d.seconds, s.action, s.symbol)
            }
            None => String::new(),
        },
        None => String::new(),
    };
    let sizing = match p.sizing.as_ref().and_then(|s| s.method.as_ref()) {
        Some(sizing::Method::FixedQuantity(q)) => format!("quantity {q}"),
        Some(sizing::Method::FixedQuoteAmount(q)) => format!("quote {q}"),
        Some(sizing::Method::PercentOfBalance(q)) => format!("{q}% of balance"),
        Some(sizing::Method::FromSignal(_)) => "from signal".into(),
        Some(sizing::Method::RiskPercent(q)) => format!("{q}% risk"),
        None => String::new(),
    };
    json!({
        "id": p.id, "name": p.name,
        "state": PipelineState::word_of(p.state),
        "exchange": p.exchange,
        "mode": TradingMode::word_of(p.mode),
        "trigger": trigger, "sizing": sizing,
        "concurrency": ConcurrencyPolicy::word_of(p.concurrency),
        "account": p.account,
        "risk": p.risk.as_ref().map(risk_json),
        "order": p.order.as_ref().map(order_settings_json),
        "drift_policy": DriftPolicy::word_of(p.drift_policy),
        "forbid_overrides": p.forbid_overrides,
        "approval": p.approval.as_ref().filter(|a| a.required).map(|a| {
            format!("required, expires after {}s", a.expiry.map(|d| d.seconds).unwrap_or_default())
        }),
        "update_time": time_text(p.update_time.as_ref()),
    })
}

fn execution_json(e: &Execution) -> Value {
    json!({
        "id": e.id, "pipeline": e.pipeline_name, "pipeline_id": e.pipeline_id, "signal_id": e.signal_id,
        "status": ExecutionStatus::word_of(e.status),
        "skip_reason": e.skip_reason, "error": e.error, "attempt": e.attempt,
        "order_ids": e.order_ids, "fees": e.fees,
        "create_time": time_text(e.create_time.as_ref()),
        "end_time": time_text(e.end_time.as_ref()),
        "steps": e.steps.iter().map(|s| json!({
            "name": s.name, "result": s.result, "detail": s.detail,
            "ms": s.duration.map(|d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    })
}

const PIPELINE_COLUMNS: [&str; 7] = [
    "name", "state", "exchange", "mode", "trigger", "sizing", "id",
];
const EXECUTION_COLUMNS: [&str; 6] = [
    "id",
    "create_time",
    "pipeline",
    "status",
    "skip_reason",
    "error",
];

/// Prints a pipeline answer (every one carries just the pipeline).
fn print_pipeline(output: Output, pipeline: Pipeline) {
    let value = pipeline_json(&pipeline);
    let answer = GetPipelineResponse {
        pipeline: Some(pipeline),
    };
    print(output, &answer, value.clone(), || {
        object_table(&[value], &PIPELINE_COLUMNS)
    });
}

/// Prints an execution answer (every one carries just the execution).
fn print_execution(output: Output, execution: Execution) {
    let value = execution_json(&execution);
    let answer = GetExecutionResponse {
        execution: Some(execution),
    };
    print(output, &answer, value.clone(), || {
        let steps: Vec<Value> = value["steps"].as_array().cloned().unwrap_or_default();
        format!(
            "{}\n{}",
            object_table(std::slice::from_ref(&value), &EXECUTION_COLUMNS),
            object_table(&steps, &["name", "result", "ms", "detail"])
        )
    });
}

/// Runs a pipeline command.
pub async fn run(
    client: &Client,
    command: PipelineCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut pipelines = client.pipelines();
    // Commands that answer with one pipeline yield it; the others print
    // their own answer and return.
    let pipeline = match command {
        PipelineCommand::Create { file, request_id } => {
            let pipeline = PipelineFile::read(&file)?.to_proto()?;
            pipelines
                .create_pipeline(CreatePipelineRequest {
                    request_id,
                    pipeline: Some(pipeline),
                })
                .await?
                .into_inner()
                .pipeline
        }
        PipelineCommand::Get { id } => {
            pipelines
                .get_pipeline(GetPipelineRequest { id })
                .await?
                .into_inner()
                .pipeline
        }
        PipelineCommand::Update { id, file } => {
            let file = PipelineFile::read(&file)?;
            let mut pipeline = file.to_proto()?;
            pipeline.id = pipelines
                .get_pipeline(GetPipelineRequest { id })
                .await?
                .into_inner()
                .pipeline
                .unwrap_or_default()
                .id;
            let paths = file.fields().into_iter().map(str::to_string).collect();
            pipelines
                .update_pipeline(UpdatePipelineRequest {
                    pipeline: Some(pipeline),
                    update_mask: Some(prost_types::FieldMask { paths }),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .pipeline
        }
        PipelineCommand::Pause { id } => {
            pipelines
                .pause_pipeline(PausePipelineRequest {
                    id,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .pipeline
        }
        PipelineCommand::Resume { id } => {
            pipelines
                .resume_pipeline(ResumePipelineRequest {
                    id,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .pipeline
        }
        PipelineCommand::List => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = pipelines
                    .list_pipelines(ListPipelinesRequest {
                        page_size: 1000,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                all.extend(page.pipelines);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let values: Vec<Value> = all.iter().map(pipeline_json).collect();
            let answer = ListPipelinesResponse {
                pipelines: all,
                ..Default::default()
            };
            print(output, &answer, json!({ "pipelines": values }), || {
                object_table(&values, &PIPELINE_COLUMNS)
            });
            return Ok(());
        }
        PipelineCommand::Delete { id } => {
            let answer = pipelines
                .delete_pipeline(DeletePipelineRequest {
                    id: id.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            print(output, &answer, json!({ "deleted": id }), || {
                format!("deleted {id}")
            });
            return Ok(());
        }
        PipelineCommand::Run {
            id,
            symbol,
            action,
            price,
            quantity,
        } => {
            let execution = pipelines
                .run_pipeline(RunPipelineRequest {
                    id,
                    request_id: uuid::Uuid::now_v7().to_string(),
                    symbol,
                    action,
                    price,
                    quantity,
                })
                .await?
                .into_inner()
                .execution
                .unwrap_or_default();
            print_execution(output, execution);
            return Ok(());
        }
        PipelineCommand::Execution { id } => {
            let execution = pipelines
                .get_execution(GetExecutionRequest { id })
                .await?
                .into_inner()
                .execution
                .unwrap_or_default();
            print_execution(output, execution);
            return Ok(());
        }
        PipelineCommand::Executions {
            pipeline,
            watch,
            limit,
        } => {
            let pipeline_id = client.pipeline_id(pipeline).await?;
            let filter = ExecutionFilter {
                pipeline_id,
                ..Default::default()
            };
            if watch {
                let mut stream = pipelines
                    .watch_executions(WatchExecutionsRequest {
                        filter: Some(filter),
                    })
                    .await?
                    .into_inner();
                let mut lines = StreamTable::new(&EXECUTION_COLUMNS);
                while let Some(event) = stream.next().await {
                    let event = event?;
                    let value = execution_json(&event.execution.clone().unwrap_or_default());
                    print(output, &event, value.clone(), || {
                        lines.line(rows(&[value], &EXECUTION_COLUMNS).concat())
                    });
                }
                return Ok(());
            }
            let response = pipelines
                .list_executions(ListExecutionsRequest {
                    page_size: limit,
                    filter: Some(filter),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let values: Vec<Value> = response.executions.iter().map(execution_json).collect();
            print(output, &response, json!({ "executions": values }), || {
                object_table(&values, &EXECUTION_COLUMNS)
            });
            return Ok(());
        }
    };
    print_pipeline(output, pipeline.unwrap_or_default());
    Ok(())
}

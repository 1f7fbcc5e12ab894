//! Pipelines through the gRPC API.

use std::time::Duration;

use tonic::Status;
use tradeplane_api::{
    CreatePipelineRequest, Execution, ExecutionStatus, GetExecutionRequest, OrderSettings,
    Pipeline, ProtectiveOrder, RunPipelineRequest, SignalMatch, Sizing, TakeProfitLevel, Trigger,
    protective_order, sizing, trigger,
};

use crate::eventually;
use tradeplane_client::Client;

/// A pipeline named `name` that every signal triggers and that spends 100
/// of the quote currency a run.
pub fn any_signal_pipeline(name: &str) -> Pipeline {
    Pipeline {
        name: name.into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch::default())),
        }),
        sizing: Some(Sizing {
            method: Some(sizing::Method::FixedQuoteAmount("100".into())),
        }),
        ..Default::default()
    }
}

/// A pipeline named `name` that signals of source `strategy` trigger
/// (a signal from any other source moves the market without running it),
/// sized by `method`.
pub fn strategy_pipeline(name: &str, method: sizing::Method) -> Pipeline {
    Pipeline {
        name: name.into(),
        trigger: Some(Trigger {
            kind: Some(trigger::Kind::Signal(SignalMatch {
                source: "strategy".into(),
                ..Default::default()
            })),
        }),
        sizing: Some(Sizing {
            method: Some(method),
        }),
        ..Default::default()
    }
}

/// A [`strategy_pipeline`] spending `quote` of the quote currency a run,
/// with a stop `stop_bps` from the fill and `targets` as (offset in bps,
/// percent of the position).
pub fn bracketed_pipeline(
    name: &str,
    quote: &str,
    stop_bps: &str,
    targets: &[(&str, &str)],
) -> Pipeline {
    let level = |bps: &str| ProtectiveOrder {
        level: Some(protective_order::Level::OffsetBps(bps.into())),
    };
    Pipeline {
        order: Some(OrderSettings {
            stop_loss: Some(level(stop_bps)),
            take_profits: targets
                .iter()
                .map(|(bps, percent)| TakeProfitLevel {
                    level: Some(level(bps)),
                    percent: percent.to_string(),
                })
                .collect(),
            ..Default::default()
        }),
        ..strategy_pipeline(name, sizing::Method::FixedQuoteAmount(quote.into()))
    }
}

/// Creates `pipeline`, which must be accepted; returns it as stored.
pub async fn create_pipeline(client: &Client, pipeline: Pipeline) -> Pipeline {
    try_create_pipeline(client, pipeline)
        .await
        .expect("CreatePipeline answers")
}

/// Creates `pipeline`; a refusal comes back as the error.
pub async fn try_create_pipeline(client: &Client, pipeline: Pipeline) -> Result<Pipeline, Status> {
    client
        .pipelines()
        .create_pipeline(CreatePipelineRequest {
            pipeline: Some(pipeline),
            ..Default::default()
        })
        .await
        .map(|reply| reply.into_inner().pipeline.expect("a pipeline"))
}

/// Waits until execution `id` has ended (or waits for approval), and
/// returns it.
pub async fn finished(client: &Client, id: &str) -> Execution {
    left(
        client,
        id,
        &[ExecutionStatus::Pending, ExecutionStatus::Running],
    )
    .await
}

/// Waits until execution `id` has ended and left the approval queue, and
/// returns it.
pub async fn settled(client: &Client, id: &str) -> Execution {
    left(
        client,
        id,
        &[
            ExecutionStatus::Pending,
            ExecutionStatus::Running,
            ExecutionStatus::AwaitingApproval,
        ],
    )
    .await
}

/// Waits until execution `id` is in none of the `open` statuses.
async fn left(client: &Client, id: &str, open: &[ExecutionStatus]) -> Execution {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            let execution = client
                .pipelines()
                .get_execution(GetExecutionRequest { id: id.into() })
                .await
                .expect("GetExecution answers")
                .into_inner()
                .execution
                .expect("an execution");
            if open.iter().any(|s| *s as i32 == execution.status) {
                Err(format!("execution {id} never left {open:?}: {execution:?}"))
            } else {
                Ok(execution)
            }
        },
    )
    .await
}

/// Runs `pipeline` by hand for BTC/USDT and waits for the execution to end.
pub async fn run_pipeline(
    client: &Client,
    pipeline: &Pipeline,
    action: &str,
    price: &str,
    quantity: &str,
) -> Execution {
    run_pipeline_on(client, pipeline, ("BTC/USDT", action), price, quantity).await
}

/// Runs `pipeline` by hand for `symbol` and waits for the execution to end.
pub async fn run_pipeline_on(
    client: &Client,
    pipeline: &Pipeline,
    (symbol, action): (&str, &str),
    price: &str,
    quantity: &str,
) -> Execution {
    let started = client
        .pipelines()
        .run_pipeline(RunPipelineRequest {
            id: pipeline.id.clone(),
            symbol: symbol.into(),
            action: action.into(),
            price: price.into(),
            quantity: quantity.into(),
            ..Default::default()
        })
        .await
        .expect("RunPipeline answers")
        .into_inner()
        .execution
        .expect("an execution");
    finished(client, &started.id).await
}

/// `examples/<file>`, as `tpctl pipeline create -f` reads it.
pub fn example_pipeline(file: &str) -> Pipeline {
    let path = crate::workspace_root().join("examples").join(file);
    tradeplane_client::pipeline_file::PipelineFile::read(&path)
        .unwrap_or_else(|e| panic!("examples/{file}: {e}"))
        .to_proto()
        .unwrap_or_else(|e| panic!("examples/{file} as a pipeline: {e}"))
}

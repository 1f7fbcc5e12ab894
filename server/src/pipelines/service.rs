//! `tradeplane.v1.PipelineService` over [`Pipelines`]. Executions cross
//! to and from protobuf here, through the codec.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tradeplane_api::{pipeline_service_server::PipelineService, *};

use super::Pipelines;
use crate::{
    api_error::ApiError,
    audit::actions,
    codec::enums::Mirrored,
    listing::filter_time,
    listing::{BoxStream, invalid_page_token, next_page, page_size, watch},
    model::{
        approval::{Approval, ApprovalState},
        execution::{Execution, ExecutionStatus},
    },
    observe::CallTrace,
    security::audit_entry,
    store::{ApprovalQuery, ExecutionQuery},
};

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;
/// Fields UpdatePipeline can change.
const UPDATABLE: &[&str] = &[
    "name",
    "state",
    "trigger",
    "exchange",
    "account",
    "mode",
    "risk",
    "sizing",
    "order",
    "concurrency",
    "drift_policy",
    "forbid_overrides",
    "approval",
];

/// The gRPC face of the pipelines.
pub struct PipelineGrpc {
    pipelines: Arc<Pipelines>,
    streams_end: CancellationToken,
}

impl PipelineGrpc {
    /// The service over `pipelines`.
    pub fn new(pipelines: Arc<Pipelines>, streams_end: CancellationToken) -> Self {
        Self {
            pipelines,
            streams_end,
        }
    }
}

/// The store query of a request's filter; a status no value has, or
/// UNSPECIFIED, is refused.
fn execution_query(filter: &ExecutionFilter) -> Result<ExecutionQuery, ApiError> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let statuses = filter
        .statuses
        .iter()
        .map(|&number| {
            ExecutionStatus::optional(number, "filter.statuses")?.ok_or_else(|| {
                ApiError::invalid_field(
                    "UNSPECIFIED_STATUS",
                    "filter.statuses",
                    "UNSPECIFIED is no status; leave statuses empty for every status",
                )
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(ExecutionQuery {
        pipeline_id: non_empty(&filter.pipeline_id),
        signal_id: non_empty(&filter.signal_id),
        statuses,
        start_ms: filter_time(filter.start_time.as_ref(), "filter.start_time")?,
        end_ms: filter_time(filter.end_time.as_ref(), "filter.end_time")?,
        ..Default::default()
    })
}

fn execution_matches(query: &ExecutionQuery, execution: &Execution) -> bool {
    query
        .pipeline_id
        .as_ref()
        .is_none_or(|p| *p == execution.pipeline_id)
        && query
            .signal_id
            .as_ref()
            .is_none_or(|s| *s == execution.signal_id)
        && (query.statuses.is_empty() || query.statuses.contains(&execution.status))
}

/// Copies the fields named in `paths` from `from` into `into`.
fn merge(into: &mut Pipeline, from: Pipeline, paths: &[String]) -> Result<(), ApiError> {
    let paths: Vec<&str> = if paths.is_empty() {
        UPDATABLE.to_vec()
    } else {
        paths
            .iter()
            .map(|p| p.strip_prefix("pipeline.").unwrap_or(p))
            .collect()
    };
    for path in paths {
        match path {
            "name" => into.name = from.name.clone(),
            "state" => into.state = from.state,
            "trigger" => into.trigger = from.trigger.clone(),
            "exchange" => into.exchange = from.exchange.clone(),
            "account" => into.account = from.account.clone(),
            "mode" => into.mode = from.mode,
            "risk" => into.risk = from.risk.clone(),
            "sizing" => into.sizing = from.sizing.clone(),
            "order" => into.order = from.order.clone(),
            "concurrency" => into.concurrency = from.concurrency,
            "drift_policy" => into.drift_policy = from.drift_policy,
            "forbid_overrides" => into.forbid_overrides = from.forbid_overrides,
            "approval" => into.approval = from.approval,
            other => {
                return Err(ApiError::invalid_field(
                    "INVALID_FIELD_MASK",
                    "update_mask",
                    format!(
                        "`{other}` cannot be updated; choose from {}",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The approval states a request names; UNSPECIFIED or a number no
/// state has is refused.
fn approval_states(states: &[i32], field: &'static str) -> Result<Vec<ApprovalState>, ApiError> {
    states
        .iter()
        .map(|&number| {
            ApprovalState::optional(number, field)?.ok_or_else(|| {
                ApiError::invalid_field(
                    "UNSPECIFIED_STATE",
                    field,
                    "UNSPECIFIED is no state; leave states empty for every state",
                )
            })
        })
        .collect()
}

/// An approval and the execution its decision settled, on the wire.
fn settled(
    settled: (Approval, Execution),
) -> (
    Option<tradeplane_api::Approval>,
    Option<tradeplane_api::Execution>,
) {
    let (approval, execution) = settled;
    (Some((&approval).into()), Some((&execution).into()))
}

/// An approval id, required.
fn required_approval(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid_field(
            "MISSING_ID",
            "id",
            "name the approval by id (tpctl approvals list)",
        ));
    }
    Ok(id)
}

fn required_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid_field(
            "MISSING_ID",
            "id",
            "name the pipeline by id or name",
        ));
    }
    Ok(id)
}

#[tonic::async_trait]
impl PipelineService for PipelineGrpc {
    async fn create_pipeline(
        &self,
        request: Request<CreatePipelineRequest>,
    ) -> Result<Response<CreatePipelineResponse>, Status> {
        let entry = audit_entry(&request, actions::PIPELINE_CREATE, "");
        let request = request.into_inner();
        let pipeline = request.pipeline.ok_or_else(|| {
            ApiError::invalid_field("MISSING_PIPELINE", "pipeline", "give the pipeline")
        })?;
        let pipeline = self
            .pipelines
            .create(pipeline, &request.request_id, entry)
            .await?;
        Ok(Response::new(CreatePipelineResponse {
            pipeline: Some(pipeline),
        }))
    }

    async fn get_pipeline(
        &self,
        request: Request<GetPipelineRequest>,
    ) -> Result<Response<GetPipelineResponse>, Status> {
        let id = request.into_inner().id;
        let compiled = self.pipelines.get(required_id(&id)?)?;
        Ok(Response::new(GetPipelineResponse {
            pipeline: Some(compiled.definition.clone()),
        }))
    }

    async fn list_pipelines(
        &self,
        request: Request<ListPipelinesRequest>,
    ) -> Result<Response<ListPipelinesResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut pipelines: Vec<Pipeline> = self
            .pipelines
            .list()
            .into_iter()
            .map(|c| c.definition.clone())
            .filter(|p| {
                (request.state == PipelineState::Unspecified as i32 || p.state == request.state)
                    && (request.exchange.is_empty() || p.exchange == request.exchange)
                    && (request.page_token.is_empty() || p.name > request.page_token)
            })
            .take(page_size as usize + 1)
            .collect();
        if !request.page_token.is_empty() && request.page_token.len() > 64 {
            return Err(invalid_page_token().into());
        }
        let next_page_token = next_page(&mut pipelines, page_size, |p| p.name.clone());
        Ok(Response::new(ListPipelinesResponse {
            pipelines,
            next_page_token,
        }))
    }

    async fn update_pipeline(
        &self,
        request: Request<UpdatePipelineRequest>,
    ) -> Result<Response<UpdatePipelineResponse>, Status> {
        let entry = audit_entry(&request, actions::PIPELINE_UPDATE, "");
        let request = request.into_inner();
        let changes = request.pipeline.ok_or_else(|| {
            ApiError::invalid_field("MISSING_PIPELINE", "pipeline", "give the changed fields")
        })?;
        let mut pipeline = self
            .pipelines
            .get(required_id(&changes.id)?)?
            .definition
            .clone();
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        merge(&mut pipeline, changes, &paths)?;
        let detail = if paths.is_empty() {
            "updated".to_string()
        } else {
            format!("updated {}", paths.join(", "))
        };
        let pipeline = self
            .pipelines
            .update(pipeline, entry, actions::PIPELINE_UPDATE, &detail)
            .await?;
        Ok(Response::new(UpdatePipelineResponse {
            pipeline: Some(pipeline),
        }))
    }

    async fn delete_pipeline(
        &self,
        request: Request<DeletePipelineRequest>,
    ) -> Result<Response<DeletePipelineResponse>, Status> {
        let entry = audit_entry(&request, actions::PIPELINE_DELETE, "");
        let id = request.into_inner().id;
        self.pipelines.delete(required_id(&id)?, entry).await?;
        Ok(Response::new(DeletePipelineResponse {}))
    }

    async fn pause_pipeline(
        &self,
        request: Request<PausePipelineRequest>,
    ) -> Result<Response<PausePipelineResponse>, Status> {
        let entry = audit_entry(&request, actions::PIPELINE_PAUSE, "");
        let id = request.into_inner().id;
        let pipeline = self
            .pipelines
            .set_state(required_id(&id)?, PipelineState::Paused, entry)
            .await?;
        Ok(Response::new(PausePipelineResponse {
            pipeline: Some(pipeline),
        }))
    }

    async fn resume_pipeline(
        &self,
        request: Request<ResumePipelineRequest>,
    ) -> Result<Response<ResumePipelineResponse>, Status> {
        let entry = audit_entry(&request, actions::PIPELINE_RESUME, "");
        let id = request.into_inner().id;
        let pipeline = self
            .pipelines
            .set_state(required_id(&id)?, PipelineState::Enabled, entry)
            .await?;
        Ok(Response::new(ResumePipelineResponse {
            pipeline: Some(pipeline),
        }))
    }

    async fn run_pipeline(
        &self,
        request: Request<RunPipelineRequest>,
    ) -> Result<Response<RunPipelineResponse>, Status> {
        let mut entry = audit_entry(&request, actions::PIPELINE_RUN, "");
        let trace = request
            .extensions()
            .get::<CallTrace>()
            .cloned()
            .unwrap_or_default();
        let request = request.into_inner();
        let compiled = self.pipelines.get(required_id(&request.id)?)?;
        let (symbol, action) = match &compiled.schedule {
            Some(schedule) if request.symbol.is_empty() => {
                (schedule.symbol.clone(), schedule.action.word().to_string())
            }
            _ => (request.symbol.clone(), request.action.clone()),
        };
        if symbol.is_empty() {
            return Err(ApiError::invalid_field(
                "MISSING_SYMBOL",
                "symbol",
                "name the symbol to run with",
            )
            .into());
        }
        let action = if action.is_empty() {
            "buy".to_string()
        } else {
            action
        };
        let signal = self.pipelines.synthetic_signal(
            "manual",
            &symbol,
            &action,
            &request.price,
            &request.quantity,
        )?;
        let request_id = (!request.request_id.is_empty()).then(|| request.request_id.clone());
        let execution = self
            .pipelines
            .trigger(
                &compiled,
                signal,
                trace.traceparent(),
                "run by hand",
                request_id,
            )
            .await?;
        entry.target = compiled.id.clone();
        entry.detail = format!("{} run: execution {}", compiled.name, execution.id);
        self.pipelines.audit.record_or_log(entry).await;
        Ok(Response::new(RunPipelineResponse {
            execution: Some((&execution).into()),
        }))
    }

    async fn get_execution(
        &self,
        request: Request<GetExecutionRequest>,
    ) -> Result<Response<GetExecutionResponse>, Status> {
        let id = request.into_inner().id;
        let execution = self
            .pipelines
            .store
            .get_execution(&id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound {
                what: "execution",
                id,
            })?;
        Ok(Response::new(GetExecutionResponse {
            execution: Some((&execution).into()),
        }))
    }

    async fn list_executions(
        &self,
        request: Request<ListExecutionsRequest>,
    ) -> Result<Response<ListExecutionsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut query = execution_query(&request.filter.unwrap_or_default())?;
        if !request.page_token.is_empty() {
            let id =
                uuid::Uuid::parse_str(&request.page_token).map_err(|_| invalid_page_token())?;
            query.before_id = Some(id.to_string());
        }
        query.limit = page_size + 1;
        let mut executions = self
            .pipelines
            .store
            .list_executions(&query)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = next_page(&mut executions, page_size, |e| e.id.clone());
        Ok(Response::new(ListExecutionsResponse {
            executions: executions.iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    type WatchExecutionsStream = BoxStream<WatchExecutionsResponse>;

    async fn watch_executions(
        &self,
        request: Request<WatchExecutionsRequest>,
    ) -> Result<Response<Self::WatchExecutionsStream>, Status> {
        let query = execution_query(&request.into_inner().filter.unwrap_or_default())?;
        Ok(Response::new(watch(
            self.pipelines.watch_feed(),
            move |execution| execution_matches(&query, execution),
            |execution, missed| WatchExecutionsResponse {
                execution: Some((&*execution).into()),
                missed,
            },
            self.streams_end.clone(),
        )))
    }

    async fn list_approvals(
        &self,
        request: Request<ListApprovalsRequest>,
    ) -> Result<Response<ListApprovalsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut query = ApprovalQuery {
            states: approval_states(&request.states, "states")?,
            pipeline_id: (!request.pipeline_id.is_empty()).then_some(request.pipeline_id),
            limit: page_size + 1,
            ..Default::default()
        };
        if !request.page_token.is_empty() {
            let id =
                uuid::Uuid::parse_str(&request.page_token).map_err(|_| invalid_page_token())?;
            query.before_id = Some(id.to_string());
        }
        let mut approvals = self.pipelines.list_approvals(&query).await?;
        let next_page_token = next_page(&mut approvals, page_size, |a| a.id.clone());
        Ok(Response::new(ListApprovalsResponse {
            approvals: approvals.iter().map(Into::into).collect(),
            next_page_token,
        }))
    }

    async fn approve_order(
        &self,
        request: Request<ApproveOrderRequest>,
    ) -> Result<Response<ApproveOrderResponse>, Status> {
        let audit = audit_entry(&request, actions::APPROVAL_APPROVE, &request.get_ref().id);
        let id = required_approval(&request.get_ref().id)?;
        let (approval, execution) = settled(self.pipelines.approve(id, audit).await?);
        Ok(Response::new(ApproveOrderResponse {
            approval,
            execution,
        }))
    }

    async fn reject_order(
        &self,
        request: Request<RejectOrderRequest>,
    ) -> Result<Response<RejectOrderResponse>, Status> {
        let audit = audit_entry(&request, actions::APPROVAL_REJECT, &request.get_ref().id);
        let body = request.get_ref();
        let id = required_approval(&body.id)?;
        let (approval, execution) = settled(self.pipelines.reject(id, &body.reason, audit).await?);
        Ok(Response::new(RejectOrderResponse {
            approval,
            execution,
        }))
    }

    type WatchApprovalsStream = BoxStream<WatchApprovalsResponse>;

    async fn watch_approvals(
        &self,
        request: Request<WatchApprovalsRequest>,
    ) -> Result<Response<Self::WatchApprovalsStream>, Status> {
        let states = approval_states(&request.into_inner().states, "states")?;
        Ok(Response::new(watch(
            self.pipelines.approval_feed(),
            move |approval| states.is_empty() || states.contains(&approval.state),
            |approval, missed| WatchApprovalsResponse {
                approval: Some((&*approval).into()),
                missed,
            },
            self.streams_end.clone(),
        )))
    }
}

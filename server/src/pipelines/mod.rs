//! Pipelines and executions. The contract is served now; the bodies arrive
//! with the pipeline work and answer UNIMPLEMENTED until then.

use tradeplane_api::*;

use crate::unimplemented::unimplemented_service;

/// `tradeplane.v1.PipelineService`.
pub struct PipelineGrpc;

unimplemented_service! {
    PipelineGrpc, pipeline_service_server::PipelineService, "tradeplane.v1.PipelineService",
    unary {
        create_pipeline(CreatePipelineRequest) -> CreatePipelineResponse = "CreatePipeline";
        get_pipeline(GetPipelineRequest) -> GetPipelineResponse = "GetPipeline";
        list_pipelines(ListPipelinesRequest) -> ListPipelinesResponse = "ListPipelines";
        update_pipeline(UpdatePipelineRequest) -> UpdatePipelineResponse = "UpdatePipeline";
        delete_pipeline(DeletePipelineRequest) -> DeletePipelineResponse = "DeletePipeline";
        pause_pipeline(PausePipelineRequest) -> PausePipelineResponse = "PausePipeline";
        resume_pipeline(ResumePipelineRequest) -> ResumePipelineResponse = "ResumePipeline";
        run_pipeline(RunPipelineRequest) -> RunPipelineResponse = "RunPipeline";
        get_execution(GetExecutionRequest) -> GetExecutionResponse = "GetExecution";
        list_executions(ListExecutionsRequest) -> ListExecutionsResponse = "ListExecutions";
    }
    streaming {
        watch_executions, WatchExecutionsStream(WatchExecutionsRequest) -> WatchExecutionsResponse = "WatchExecutions";
    }
}

//! The approval queue of pipelines that require approval. The worker's
//! order step holds the order here ([`Pipelines::hold`]), audited in the
//! same write, and the execution ends AWAITING_APPROVAL. An operator's
//! decision is taken once by the store's conditional write; approving
//! then places the held order (its request id is the execution's order
//! request id, so the desk places it once) and finishes the execution
//! through the worker's own [`Pipelines::follow_order`]. Rejecting or
//! expiring cancels it. The sweep ([`run_approval_sweep`]) expires what
//! nobody decided and finishes decisions a crash interrupted.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tradeplane_api::AuditOutcome;

use super::{
    Pipelines,
    spec::Compiled,
    stop::Stop,
    worker::{conclude, pipeline_audit},
};
use crate::{
    api_error::ApiError,
    audit::{AuditEntry, actions},
    duty::Duty,
    listing::{Feed, Relay},
    model::{
        approval::{Approval, ApprovalState, Decision, SYSTEM_ACTOR},
        execution::{Execution, ExecutionStatus, ExecutionStep},
        order::{OrderOrigin, OrderRequest},
    },
    proto_time::now_ms,
    store::{ApprovalInsert, ApprovalQuery, Decided, ExecutionQuery},
};

/// Buffer of the WatchApprovals feed.
pub const APPROVAL_WATCH_BUFFER: usize = 1024;
/// How often the sweep looks for expired or interrupted approvals.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// How many waiting executions one sweep looks at.
const SWEEP_BATCH: u32 = 500;
/// A decision older than this whose execution still waits was cut short
/// (the process stopped between the decision and the execution's end):
/// the sweep finishes it. Longer than any placement takes.
const INTERRUPTED_AFTER_MS: i64 = 120_000;

/// An approval decided and the execution it finished.
pub type Settled = (Approval, Execution);

impl Pipelines {
    /// The order step of a pipeline that requires approval: holds the
    /// order in the queue until `expiry` passes. A resumed execution finds
    /// the approval it already holds. Returns how the step stops.
    pub(super) async fn hold(
        &self,
        compiled: &Compiled,
        request: OrderRequest,
        origin: OrderOrigin,
        expiry: Duration,
    ) -> Stop {
        let now = now_ms();
        let approval = Approval {
            id: uuid::Uuid::now_v7().to_string(),
            execution_id: origin.execution_id.clone(),
            pipeline_name: compiled.name.clone(),
            request,
            origin,
            state: ApprovalState::Pending,
            create_time_ms: now,
            expire_time_ms: now
                .saturating_add(i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX)),
            decision: None,
        };
        let report = AuditEntry {
            action: actions::APPROVAL_HOLD,
            target: approval.id.clone(),
            detail: held_order(&approval),
            ..AuditEntry::system()
        };
        match self
            .store
            .insert_approval(&approval, vec![report.row(now)])
            .await
        {
            Ok(ApprovalInsert::Inserted(stored)) => {
                self.metrics
                    .approval(&compiled.name, ApprovalState::Pending);
                self.audit.published(&stored);
                let id = approval.id.clone();
                let _ = self.approvals.send(Arc::new(approval));
                Stop::AwaitApproval(id)
            }
            Ok(ApprovalInsert::Existing(held)) => Stop::AwaitApproval(held.id),
            Err(err) => Stop::Fail(format!("cannot hold the order for approval: {err}")),
        }
    }

    /// Approvals matching `query`, newest first.
    pub async fn list_approvals(&self, query: &ApprovalQuery) -> Result<Vec<Approval>, ApiError> {
        Ok(self.store.list_approvals(query).await?)
    }

    /// What WatchApprovals reads: approvals held and decided here, and
    /// relayed ones.
    pub fn approval_feed(&self) -> Feed<Arc<Approval>> {
        self.approvals_relayed.feed_with(self.approvals.subscribe())
    }

    /// Approvals other replicas held or decided, for watch streams.
    pub fn approval_relay(&self) -> &Relay<Arc<Approval>> {
        &self.approvals_relayed
    }

    /// Approves a pending approval for the operator in `audit`: places its
    /// order once and finishes the execution.
    pub async fn approve(&self, id: &str, audit: AuditEntry) -> Result<Settled, ApiError> {
        let decision = Decision {
            state: ApprovalState::Approved,
            by: audit.actor.clone(),
            reason: String::new(),
            time_ms: now_ms(),
        };
        self.decide(id, decision, audit, actions::APPROVAL_APPROVE)
            .await
    }

    /// Rejects a pending approval for `reason`; its execution ends
    /// CANCELED with the reason.
    pub async fn reject(
        &self,
        id: &str,
        reason: &str,
        audit: AuditEntry,
    ) -> Result<Settled, ApiError> {
        if reason.trim().is_empty() {
            return Err(ApiError::invalid_field(
                "MISSING_REASON",
                "reason",
                "say why the order is rejected",
            ));
        }
        let decision = Decision {
            state: ApprovalState::Rejected,
            by: audit.actor.clone(),
            reason: reason.trim().to_string(),
            time_ms: now_ms(),
        };
        self.decide(id, decision, audit, actions::APPROVAL_REJECT)
            .await
    }

    /// Records `decision` if the approval is still pending (one
    /// conditional write: of two deciders, one wins and the other gets
    /// FAILED_PRECONDITION naming the state), audits the attempt, then
    /// settles the execution.
    async fn decide(
        &self,
        id: &str,
        decision: Decision,
        mut audit: AuditEntry,
        action: &'static str,
    ) -> Result<Settled, ApiError> {
        audit.action = action;
        audit.target = id.to_string();
        let not_found = || ApiError::NotFound {
            what: "approval",
            id: id.to_string(),
        };
        let held = self.store.get_approval(id).await?.ok_or_else(not_found)?;
        let execution = self
            .store
            .get_execution(&held.execution_id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "execution",
                id: held.execution_id.clone(),
            })?;
        if held.state == ApprovalState::Pending
            && !matches!(
                execution.status,
                ExecutionStatus::AwaitingApproval
                    | ExecutionStatus::Pending
                    | ExecutionStatus::Running
            )
        {
            let voided = self.void(held, &execution, audit.trace_id.clone()).await;
            // The expiry sweep's attempt is the void itself.
            if action != actions::APPROVAL_EXPIRE {
                audit.outcome = AuditOutcome::Failure;
                audit.detail = voided.to_string();
                self.audit.record_or_log(audit).await;
            }
            return Err(voided);
        }
        if held.state == ApprovalState::Pending
            && execution.status != ExecutionStatus::AwaitingApproval
        {
            return Err(ApiError::FailedPrecondition {
                reason: "EXECUTION_NOT_WAITING",
                message: format!(
                    "execution {} is {}, not yet awaiting approval; try again in a moment",
                    execution.id,
                    execution.status.word()
                ),
            });
        }
        audit.outcome = AuditOutcome::Success;
        audit.detail = describe(&Approval {
            state: decision.state,
            decision: Some(decision.clone()),
            ..held.clone()
        });
        let report = vec![audit.row(decision.time_ms)];
        let decided = match self.store.decide_approval(id, &decision, report).await? {
            Decided::Won(approval, stored) => {
                self.audit.published(&stored);
                *approval
            }
            Decided::AlreadyDecided(state) => {
                audit.outcome = AuditOutcome::Failure;
                audit.detail = format!(
                    "{} approval is already {}",
                    held.pipeline_name,
                    state.word()
                );
                self.audit.record_or_log(audit).await;
                return Err(ApiError::FailedPrecondition {
                    reason: "APPROVAL_DECIDED",
                    message: format!("approval {id} is already {}", state.word()),
                });
            }
            Decided::NotFound => return Err(not_found()),
        };
        let trace_id = audit.trace_id;
        self.metrics.approval(&decided.pipeline_name, decided.state);
        let _ = self.approvals.send(Arc::new(decided.clone()));
        let execution = self.settle(&decided, execution, &trace_id).await?;
        Ok((decided, execution))
    }

    /// Voids a pending approval whose execution ended without it (a run
    /// resumed after a crash stopped before holding its order again): it
    /// can place nothing, so it expires, audited by the system, and the
    /// decider is told why.
    async fn void(&self, held: Approval, execution: &Execution, trace_id: String) -> ApiError {
        let why = format!(
            "execution {} ended {} before a decision",
            execution.id,
            execution.status.word()
        );
        let decision = Decision {
            state: ApprovalState::Expired,
            by: SYSTEM_ACTOR.into(),
            reason: why.clone(),
            time_ms: now_ms(),
        };
        let report = AuditEntry {
            actor: SYSTEM_ACTOR.into(),
            action: actions::APPROVAL_EXPIRE,
            target: held.id.clone(),
            outcome: AuditOutcome::Success,
            detail: why.clone(),
            trace_id,
            ..Default::default()
        };
        let report = vec![report.row(decision.time_ms)];
        if let Ok(Decided::Won(voided, stored)) = self
            .store
            .decide_approval(&held.id, &decision, report)
            .await
        {
            self.audit.published(&stored);
            self.metrics.approval(&voided.pipeline_name, voided.state);
            let _ = self.approvals.send(Arc::new(*voided));
        }
        ApiError::FailedPrecondition {
            reason: "EXECUTION_ENDED",
            message: format!("{why}: approval {} is void", held.id),
        }
    }

    /// Finishes the execution of a decided approval: approved places the
    /// held order and follows it like a worker; rejected or expired
    /// cancels. Saves and publishes the execution.
    async fn settle(
        &self,
        approval: &Approval,
        mut execution: Execution,
        trace_id: &str,
    ) -> Result<Execution, ApiError> {
        let started = Instant::now();
        let outcome = match (&approval.decision, approval.state) {
            (Some(decision), ApprovalState::Approved) => {
                record_decision(&mut execution, decision);
                self.place_approved(approval, &mut execution, trace_id)
                    .await
            }
            (Some(decision), ApprovalState::Rejected) => {
                record_decision(&mut execution, decision);
                execution.status = ExecutionStatus::Canceled;
                execution.error = format!("rejected by {}: {}", decision.by, decision.reason);
                Ok(())
            }
            (Some(decision), ApprovalState::Expired) => {
                record_decision(&mut execution, decision);
                execution.status = ExecutionStatus::Canceled;
                execution.error = "approval expired".into();
                Ok(())
            }
            _ => return Ok(execution),
        };
        conclude(&mut execution, outcome);
        self.save_end(&execution).await?;
        self.metrics.finished(&execution, started.elapsed());
        let _ = self.changes.send(Arc::new(execution.clone()));
        Ok(execution)
    }

    /// The order step of an approved execution: places the held order
    /// (the desk places a request id once) and follows it like a worker.
    async fn place_approved(
        &self,
        approval: &Approval,
        execution: &mut Execution,
        trace_id: &str,
    ) -> Result<(), Stop> {
        let Some(compiled) = self.snapshot().get(&approval.origin.pipeline_id).cloned() else {
            execution.status = ExecutionStatus::Canceled;
            execution.error = "the pipeline was deleted".into();
            return Ok(());
        };
        // The bracket follows the alert's overrides, as the held order did.
        let compiled = self.as_signal_runs(&compiled, &execution.signal_id).await;
        let started = Instant::now();
        let before = self
            .desk
            .position(&compiled.id, &approval.request.symbol)
            .await
            .map_err(super::stop::unread_position)?
            .quantity;
        let order = self
            .desk
            .place_for(
                approval.request.clone(),
                approval.origin.clone(),
                pipeline_audit(&compiled, trace_id),
            )
            .await
            .map_err(Stop::from);
        let order = self.placed(&compiled, execution, order, started)?;
        self.follow_order(&compiled, execution, order, before, trace_id)
            .await
    }

    /// Expires pending approvals past their expiry, and finishes decided
    /// approvals whose execution still waits (a decision a stop cut short).
    async fn sweep_approvals(&self, now: i64) {
        let due = ApprovalQuery {
            states: vec![ApprovalState::Pending],
            expire_by_ms: Some(now),
            limit: SWEEP_BATCH,
            ..Default::default()
        };
        for approval in self.store.list_approvals(&due).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot list expired approvals");
            Vec::new()
        }) {
            let decision = Decision {
                state: ApprovalState::Expired,
                by: SYSTEM_ACTOR.into(),
                reason: "approval expired".into(),
                time_ms: now,
            };
            let audit = AuditEntry {
                actor: SYSTEM_ACTOR.into(),
                ..Default::default()
            };
            match self
                .decide(&approval.id, decision, audit, actions::APPROVAL_EXPIRE)
                .await
            {
                Ok(_) => {}
                // Its execution is not waiting yet (a worker resumes it).
                Err(err @ ApiError::FailedPrecondition { .. }) => {
                    tracing::debug!(approval = %approval.id, error = %err, "approval not expired yet");
                }
                Err(err) => {
                    tracing::warn!(approval = %approval.id, error = %err, "approval not expired")
                }
            }
        }
        let waiting = ExecutionQuery {
            statuses: vec![ExecutionStatus::AwaitingApproval],
            limit: SWEEP_BATCH,
            ..Default::default()
        };
        for execution in self
            .store
            .list_executions(&waiting)
            .await
            .unwrap_or_default()
        {
            let Ok(Some(approval)) = self.store.approval_of_execution(&execution.id).await else {
                continue;
            };
            let interrupted = approval
                .decision
                .as_ref()
                .is_some_and(|d| now - d.time_ms > INTERRUPTED_AFTER_MS);
            if interrupted && let Err(err) = self.settle(&approval, execution, "").await {
                tracing::warn!(approval = %approval.id, error = %err, "decided approval not settled");
            }
        }
    }
}

/// Expires and finishes approvals (see [`Pipelines::sweep_approvals`])
/// while this replica is on `duty`, until `stopped`.
pub async fn run_approval_sweep(
    pipelines: Arc<Pipelines>,
    duty: Duty,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        if duty.is_on() {
            pipelines.sweep_approvals(now_ms()).await;
        }
    }
}

/// Appends the approval step: who decided and why.
fn record_decision(execution: &mut Execution, decision: &Decision) {
    let detail = match decision.state {
        ApprovalState::Rejected => format!("rejected by {}: {}", decision.by, decision.reason),
        state => format!("{} by {}", state.word(), decision.by),
    };
    execution.steps.push(ExecutionStep {
        name: "approval".into(),
        result: if decision.state == ApprovalState::Approved {
            "ok".into()
        } else {
            "rejected".into()
        },
        detail,
        duration: Duration::ZERO,
    });
}

/// An audit detail for a decided approval.
fn describe(approval: &Approval) -> String {
    let request = &approval.request;
    format!(
        "{} {} {} {} {}",
        approval.pipeline_name,
        approval.state.word(),
        request.side.word(),
        request.quantity,
        request.symbol
    )
}

/// The order an approval holds, in a few words.
fn held_order(approval: &Approval) -> String {
    let request = &approval.request;
    format!(
        "{}: {} {} {} on {}, expires in {}s",
        approval.pipeline_name,
        request.side.word(),
        request.quantity.normalize(),
        request.symbol,
        if request.exchange.is_empty() {
            "paper"
        } else {
            &request.exchange
        },
        (approval.expire_time_ms - approval.create_time_ms) / 1000
    )
}

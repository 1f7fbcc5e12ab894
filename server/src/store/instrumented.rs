//! A decorator that meters every operation of any [`Store`]: its
//! duration, labelled by operation and outcome
//! (`tradeplane.store.operation.duration`).

use std::{future::Future, sync::Arc, time::Instant};

use async_trait::async_trait;
use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};
use tradeplane_api::{Pipeline, Subscription};

use super::{
    Adjustment, ApiKeyInsert, ApiKeyRow, ApprovalInsert, ApprovalQuery, ApprovalStore, AuditQuery,
    AuditRow, AuditStore, Bookkeeping, ClaimRules, Claimed, Decided, Delivery, DeliveryQuery,
    ExecutionQuery, ExecutionQueue, ExecutionWrite, KeyStore, Lifecycle, NewDelivery, OrderInsert,
    OrderQuery, OrderStore, OrderUpdate, OutboxDepth, OutboxStore, PipelineInsert, PipelineStore,
    SettingStore, Settlement, SignalLog, SignalQuery, SignalWrite, SignalWriteResult, Snapshot,
    Store, StoreError, SubscriptionInsert, SubscriptionStore,
};
use crate::{
    model::{
        approval::{Approval, Decision},
        execution::Execution,
        order::Order,
        signal::Signal,
    },
    observe::SECONDS_BUCKETS,
};

/// `inner`, with every operation metered.
pub struct Instrumented<S> {
    inner: S,
    duration: Histogram<f64>,
}

impl<S: Store> Instrumented<S> {
    /// Meters `inner` on `meter`.
    pub fn new(inner: S, meter: &Meter) -> Self {
        Self {
            inner,
            duration: meter
                .f64_histogram("tradeplane.store.operation.duration")
                .with_unit("s")
                .with_description("Duration of store operations")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
        }
    }

    /// Awaits `call`, recording how long it took and whether it failed.
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.duration.record(
            started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("operation", operation),
                KeyValue::new("outcome", outcome),
            ],
        );
        result
    }
}

#[async_trait]
impl<S: Store> SignalLog for Instrumented<S> {
    async fn record_signal(&self, write: SignalWrite) -> Result<SignalWriteResult, StoreError> {
        self.timed("record_signal", self.inner.record_signal(write))
            .await
    }

    async fn get_signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        self.timed("get_signal", self.inner.get_signal(id)).await
    }

    async fn list_signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        self.timed("list_signals", self.inner.list_signals(query))
            .await
    }

    async fn purge_expired_keys(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.timed("purge_expired_keys", self.inner.purge_expired_keys(now_ms))
            .await
    }
}

#[async_trait]
impl<S: Store> OrderStore for Instrumented<S> {
    async fn insert_orders(
        &self,
        orders: &[(&Order, Option<&str>)],
    ) -> Result<OrderInsert, StoreError> {
        self.timed("insert_orders", self.inner.insert_orders(orders))
            .await
    }

    async fn update_order(
        &self,
        order: &Order,
        books: Arc<dyn Bookkeeping>,
        audit: Vec<AuditRow>,
    ) -> Result<OrderUpdate, StoreError> {
        self.timed("update_order", self.inner.update_order(order, books, audit))
            .await
    }

    async fn adjust_total(
        &self,
        scope: &str,
        key: &str,
        adjustment: Adjustment,
    ) -> Result<(), StoreError> {
        self.timed(
            "adjust_total",
            self.inner.adjust_total(scope, key, adjustment),
        )
        .await
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        self.timed("save_snapshots", self.inner.save_snapshots(snapshots))
            .await
    }

    async fn snapshots(&self, scope: &str, key_prefix: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.timed("snapshots", self.inner.snapshots(scope, key_prefix))
            .await
    }

    async fn get_order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.timed("get_order", self.inner.get_order(id)).await
    }

    async fn order_for_request(&self, request_id: &str) -> Result<Option<Order>, StoreError> {
        self.timed(
            "order_for_request",
            self.inner.order_for_request(request_id),
        )
        .await
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<Vec<Order>, StoreError> {
        self.timed("list_orders", self.inner.list_orders(query))
            .await
    }

    async fn count_pipeline_orders(
        &self,
        pipeline_id: &str,
        since_ms: i64,
        request_prefix: &str,
    ) -> Result<u64, StoreError> {
        self.timed(
            "count_pipeline_orders",
            self.inner
                .count_pipeline_orders(pipeline_id, since_ms, request_prefix),
        )
        .await
    }
}

#[async_trait]
impl<S: Store> ExecutionQueue for Instrumented<S> {
    async fn insert_execution(&self, write: ExecutionWrite) -> Result<Execution, StoreError> {
        self.timed("insert_execution", self.inner.insert_execution(write))
            .await
    }

    async fn claim_execution(
        &self,
        rules: ClaimRules,
        finished: Option<Execution>,
        audit: Vec<AuditRow>,
    ) -> Result<Claimed, StoreError> {
        self.timed(
            "claim_execution",
            self.inner.claim_execution(rules, finished, audit),
        )
        .await
    }

    async fn update_execution(
        &self,
        execution: &Execution,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.timed(
            "update_execution",
            self.inner.update_execution(execution, audit),
        )
        .await
    }

    async fn renew_lease(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        self.timed("renew_lease", self.inner.renew_lease(id, until_ms))
            .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.timed("get_execution", self.inner.get_execution(id))
            .await
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>, StoreError> {
        self.timed("list_executions", self.inner.list_executions(query))
            .await
    }

    async fn pending_executions(&self) -> Result<u64, StoreError> {
        self.timed("pending_executions", self.inner.pending_executions())
            .await
    }
}

#[async_trait]
impl<S: Store> AuditStore for Instrumented<S> {
    async fn append_audit(&self, events: Vec<AuditRow>) -> Result<Vec<AuditRow>, StoreError> {
        self.timed("append_audit", self.inner.append_audit(events))
            .await
    }

    async fn append_audit_once(&self, event: AuditRow) -> Result<Option<AuditRow>, StoreError> {
        self.timed("append_audit_once", self.inner.append_audit_once(event))
            .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        self.timed("list_audit", self.inner.list_audit(query)).await
    }

    async fn audit_after(&self, sequence: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.timed("audit_after", self.inner.audit_after(sequence, limit))
            .await
    }
}

#[async_trait]
impl<S: Store> KeyStore for Instrumented<S> {
    async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        audit: Vec<AuditRow>,
    ) -> Result<ApiKeyInsert, StoreError> {
        self.timed("insert_api_key", self.inner.insert_api_key(key, audit))
            .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        self.timed("list_api_keys", self.inner.list_api_keys())
            .await
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        at_ms: i64,
        audit: Vec<AuditRow>,
    ) -> Result<Option<(ApiKeyRow, Vec<AuditRow>)>, StoreError> {
        self.timed(
            "revoke_api_key",
            self.inner.revoke_api_key(id, at_ms, audit),
        )
        .await
    }

    async fn record_key_use(&self, used: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.timed("record_key_use", self.inner.record_key_use(used))
            .await
    }
}

#[async_trait]
impl<S: Store> SettingStore for Instrumented<S> {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.timed("get_setting", self.inner.get_setting(key)).await
    }

    async fn put_setting(
        &self,
        key: &str,
        value: String,
        audit: Vec<AuditRow>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.timed("put_setting", self.inner.put_setting(key, value, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> PipelineStore for Instrumented<S> {
    async fn insert_pipeline(
        &self,
        pipeline: &Pipeline,
        request_id: Option<&str>,
        max_pipelines: usize,
    ) -> Result<PipelineInsert, StoreError> {
        self.timed(
            "insert_pipeline",
            self.inner
                .insert_pipeline(pipeline, request_id, max_pipelines),
        )
        .await
    }

    async fn update_pipeline(&self, pipeline: &Pipeline) -> Result<bool, StoreError> {
        self.timed("update_pipeline", self.inner.update_pipeline(pipeline))
            .await
    }

    async fn delete_pipeline(&self, id: &str) -> Result<bool, StoreError> {
        self.timed("delete_pipeline", self.inner.delete_pipeline(id))
            .await
    }

    async fn list_pipelines(&self) -> Result<Vec<Pipeline>, StoreError> {
        self.timed("list_pipelines", self.inner.list_pipelines())
            .await
    }
}

#[async_trait]
impl<S: Store> Lifecycle for Instrumented<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn changes(&self) -> Option<super::ChangeFeed> {
        self.inner.changes()
    }
}

#[async_trait]
impl<S: Store> ApprovalStore for Instrumented<S> {
    async fn insert_approval(
        &self,
        approval: &Approval,
        audit: Vec<AuditRow>,
    ) -> Result<ApprovalInsert, StoreError> {
        self.timed(
            "insert_approval",
            self.inner.insert_approval(approval, audit),
        )
        .await
    }

    async fn get_approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        self.timed("get_approval", self.inner.get_approval(id))
            .await
    }

    async fn approval_of_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        self.timed(
            "approval_of_execution",
            self.inner.approval_of_execution(execution_id),
        )
        .await
    }

    async fn list_approvals(&self, query: &ApprovalQuery) -> Result<Vec<Approval>, StoreError> {
        self.timed("list_approvals", self.inner.list_approvals(query))
            .await
    }

    async fn decide_approval(
        &self,
        id: &str,
        decision: &Decision,
        audit: Vec<AuditRow>,
    ) -> Result<Decided, StoreError> {
        self.timed(
            "decide_approval",
            self.inner.decide_approval(id, decision, audit),
        )
        .await
    }
}

#[async_trait]
impl<S: Store> OutboxStore for Instrumented<S> {
    async fn outbox_cursor(&self) -> Result<i64, StoreError> {
        self.timed("outbox_cursor", self.inner.outbox_cursor())
            .await
    }

    async fn queue_deliveries(
        &self,
        through: i64,
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError> {
        self.timed(
            "queue_deliveries",
            self.inner.queue_deliveries(through, deliveries),
        )
        .await
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.timed(
            "claim_deliveries",
            self.inner.claim_deliveries(now_ms, lease_until_ms, limit),
        )
        .await
    }

    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        self.timed(
            "settle_delivery",
            self.inner.settle_delivery(claimed, settlement),
        )
        .await
    }

    async fn query_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        self.timed("query_deliveries", self.inner.query_deliveries(query))
            .await
    }

    async fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        self.timed("outbox_depth", self.inner.outbox_depth()).await
    }
}

#[async_trait]
impl<S: Store> SubscriptionStore for Instrumented<S> {
    async fn insert_subscription(
        &self,
        subscription: &Subscription,
        request_id: Option<&str>,
        audit: Vec<AuditRow>,
    ) -> Result<SubscriptionInsert, StoreError> {
        self.timed(
            "insert_subscription",
            self.inner
                .insert_subscription(subscription, request_id, audit),
        )
        .await
    }

    async fn delete_subscription(
        &self,
        name: &str,
        audit: Vec<AuditRow>,
    ) -> Result<Option<Vec<AuditRow>>, StoreError> {
        self.timed(
            "delete_subscription",
            self.inner.delete_subscription(name, audit),
        )
        .await
    }

    async fn list_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.timed("list_subscriptions", self.inner.list_subscriptions())
            .await
    }
}

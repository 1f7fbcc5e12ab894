//! `tradeplane.v1.SignalService` over the [`SignalIntake`].

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tradeplane_api::{
    self as pb, GetSignalRequest, GetSignalResponse, ListSignalsRequest, ListSignalsResponse,
    SignalFilter, SignalRejection, SubmitSignalRequest, SubmitSignalResponse, SubmitSignalsRequest,
    SubmitSignalsResponse, WatchSignalsRequest, WatchSignalsResponse,
    signal_service_server::SignalService, submit_signals_response,
};

use super::{
    SignalIntake, SubmitError,
    overrides::RawOverrides,
    validate::{RawSignal, RawTime},
    violation::{Field, Violation},
};
use crate::{
    api_error::{ApiError, FieldError},
    codec::enums::Mirrored,
    listing::filter_time,
    listing::{BoxStream, invalid_page_token, next_page, page_size, watch},
    model::{
        order::OrderType,
        signal::{Signal, SignalOutcome},
    },
    observe::CallTrace,
    proto_time::{checked_timestamp_ms, from_timestamp},
    store::SignalQuery,
};

/// Requests a `SubmitSignals` stream processes concurrently; results still
/// come back in request order.
const STREAM_CONCURRENCY: usize = 256;
const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

/// The gRPC face of the signal intake.
pub struct SignalGrpc {
    intake: Arc<SignalIntake>,
    shutdown: CancellationToken,
}

impl SignalGrpc {
    /// Serves `intake` over gRPC; watch streams end when `shutdown` fires.
    pub fn new(intake: Arc<SignalIntake>, shutdown: CancellationToken) -> Self {
        Self { intake, shutdown }
    }
}

/// The rejection as an API error naming `SubmitSignalRequest` fields.
pub fn rejection_error(violations: &[Violation], name: fn(Field) -> &'static str) -> ApiError {
    let reason = violations
        .first()
        .map(|v| v.reason.as_str())
        .unwrap_or("invalid_signal")
        .to_uppercase();
    let fields: Vec<FieldError> = violations
        .iter()
        .map(|v| FieldError {
            field: name(v.field).to_string(),
            description: v.description.clone(),
        })
        .collect();
    let message = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::InvalidArgument {
        reason,
        message,
        fields,
    }
}

fn raw_from_request(request: SubmitSignalRequest) -> RawSignal {
    let source = if request.source.trim().is_empty() {
        "grpc".to_string()
    } else {
        request.source
    };
    let event_time = match request.event_time.as_ref() {
        None => RawTime::Absent,
        Some(ts) => match checked_timestamp_ms(ts).ok().and(from_timestamp(ts)) {
            Some(at) => RawTime::At(at),
            None => RawTime::Text(format!("{}s{}ns", ts.seconds, ts.nanos)),
        },
    };
    RawSignal {
        request_id: request.request_id,
        source,
        strategy: request.strategy,
        symbol: request.symbol,
        exchange: request.exchange,
        action: request.action,
        quantity: request.quantity,
        price: request.price,
        confidence: request.confidence,
        market_position: request.market_position,
        position_size: request.position_size,
        exit_percent: request.exit_percent,
        overrides: request.overrides.map(raw_overrides).unwrap_or_default(),
        // Pine's sentiment is a TradingView word; gRPC states the position
        // with market_position.
        sentiment: String::new(),
        order_id: request.order_id,
        comment: request.comment,
        interval: request.interval,
        event_time,
        tags: request.tags.into_iter().collect(),
    }
}

/// The request's overrides as text: the order type by its word (an
/// unknown number as the number, which validation refuses by name).
fn raw_overrides(wire: pb::AlertOverrides) -> RawOverrides {
    let order_type = match OrderType::optional(wire.order_type, "overrides.order_type") {
        Ok(Some(kind)) => kind.word().to_string(),
        Ok(None) => String::new(),
        Err(_) => wire.order_type.to_string(),
    };
    RawOverrides {
        order_type,
        limit_price: wire.limit_price,
        stop_loss: wire.stop_loss,
        take_profit: wire.take_profit,
    }
}

fn call_trace<T>(request: &Request<T>) -> CallTrace {
    request
        .extensions()
        .get::<CallTrace>()
        .cloned()
        .unwrap_or_default()
}

async fn submit_one(
    intake: &SignalIntake,
    request: SubmitSignalRequest,
    traceparent: &str,
) -> Result<SubmitSignalResponse, SubmitError> {
    let submission = intake
        .submit(raw_from_request(request), traceparent)
        .await?;
    Ok(SubmitSignalResponse {
        signal: Some((&submission.signal).into()),
        outcome: submission.outcome.number(),
    })
}

/// Whether `signal` passes a List/Watch filter (times only bound Watch when
/// set; List applies them in the store).
fn matches(
    filter: &SignalFilter,
    symbol: &str,
    outcome: Option<SignalOutcome>,
    signal: &Signal,
) -> bool {
    (filter.source.is_empty() || filter.source == signal.source)
        && (symbol.is_empty() || symbol == signal.symbol())
        && (filter.strategy.is_empty() || filter.strategy == signal.strategy)
        && outcome.is_none_or(|outcome| outcome == signal.outcome)
}

impl SignalGrpc {
    fn canonical_symbol(&self, filter: &SignalFilter) -> String {
        if filter.symbol.is_empty() {
            return String::new();
        }
        self.intake
            .normalizer()
            .normalize(&filter.symbol, "")
            .map(|i| i.symbol)
            .unwrap_or_else(|_| filter.symbol.clone())
    }
}

#[tonic::async_trait]
impl SignalService for SignalGrpc {
    async fn submit_signal(
        &self,
        request: Request<SubmitSignalRequest>,
    ) -> Result<Response<SubmitSignalResponse>, Status> {
        let trace = call_trace(&request);
        match submit_one(&self.intake, request.into_inner(), trace.traceparent()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(SubmitError::Rejected { violations, .. }) => {
                Err(rejection_error(&violations, Field::grpc_name).into())
            }
            Err(SubmitError::Store(err)) => Err(ApiError::from(err).into()),
        }
    }

    type SubmitSignalsStream = BoxStream<SubmitSignalsResponse>;

    async fn submit_signals(
        &self,
        request: Request<Streaming<SubmitSignalsRequest>>,
    ) -> Result<Response<Self::SubmitSignalsStream>, Status> {
        let trace = call_trace(&request);
        let intake = self.intake.clone();
        let results = request
            .into_inner()
            .enumerate()
            .map(move |(index, item)| {
                let intake = intake.clone();
                let trace = trace.clone();
                async move {
                    let index = index as u64;
                    let signal = item?.signal.ok_or_else(|| {
                        Status::from(ApiError::invalid_field(
                            "MISSING_FIELD",
                            "signal",
                            "is required",
                        ))
                    })?;
                    let result = match submit_one(&intake, signal, trace.traceparent()).await {
                        Ok(submitted) => submit_signals_response::Result::Submitted(submitted),
                        Err(SubmitError::Rejected { signal, violations }) => {
                            let error = rejection_error(&violations, Field::grpc_name);
                            let signal = pb::Signal::from(signal.as_ref());
                            submit_signals_response::Result::Rejected(SignalRejection {
                                reason: signal.reject_reason,
                                message: error.to_string(),
                                field_violations: signal.field_violations,
                                signal_id: signal.id,
                            })
                        }
                        Err(SubmitError::Store(err)) => {
                            return Err(Status::from(ApiError::from(err)));
                        }
                    };
                    Ok(SubmitSignalsResponse {
                        index,
                        result: Some(result),
                    })
                }
            })
            .buffered(STREAM_CONCURRENCY);
        Ok(Response::new(Box::pin(results)))
    }

    async fn get_signal(
        &self,
        request: Request<GetSignalRequest>,
    ) -> Result<Response<GetSignalResponse>, Status> {
        let id = request.into_inner().id;
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(
                ApiError::invalid_field("INVALID_ID", "id", "must be a signal id (UUID)").into(),
            );
        }
        match self.intake.get(&id).await.map_err(ApiError::from)? {
            Some(signal) => Ok(Response::new(GetSignalResponse {
                signal: Some((&signal).into()),
            })),
            None => Err(ApiError::NotFound { what: "signal", id }.into()),
        }
    }

    async fn list_signals(
        &self,
        request: Request<ListSignalsRequest>,
    ) -> Result<Response<ListSignalsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let before_id = if request.page_token.is_empty() {
            None
        } else {
            Some(decode_page_token(&request.page_token).ok_or_else(invalid_page_token)?)
        };
        let filter = request.filter.unwrap_or_default();
        let symbol = self.canonical_symbol(&filter);
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let query = SignalQuery {
            source: non_empty(&filter.source),
            symbol: non_empty(&symbol),
            strategy: non_empty(&filter.strategy),
            outcome: SignalOutcome::optional(filter.outcome, "filter.outcome")
                .map_err(ApiError::from)?,
            start_ms: filter_time(filter.start_time.as_ref(), "filter.start_time")?,
            end_ms: filter_time(filter.end_time.as_ref(), "filter.end_time")?,
            before_id,
            limit: page_size + 1,
        };
        let mut signals = self.intake.list(&query).await.map_err(ApiError::from)?;
        let next_page_token = next_page(&mut signals, page_size, |s| hex::encode(&s.id));
        Ok(Response::new(ListSignalsResponse {
            signals: signals.iter().map(pb::Signal::from).collect(),
            next_page_token,
        }))
    }

    type WatchSignalsStream = BoxStream<WatchSignalsResponse>;

    async fn watch_signals(
        &self,
        request: Request<WatchSignalsRequest>,
    ) -> Result<Response<Self::WatchSignalsStream>, Status> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let symbol = self.canonical_symbol(&filter);
        let outcome =
            SignalOutcome::optional(filter.outcome, "filter.outcome").map_err(ApiError::from)?;
        Ok(Response::new(watch(
            self.intake.watch_feed(),
            move |signal| matches(&filter, &symbol, outcome, signal),
            |signal, missed| WatchSignalsResponse {
                signal: Some(pb::Signal::from(signal.as_ref())),
                missed,
            },
            self.shutdown.clone(),
        )))
    }
}

fn decode_page_token(token: &str) -> Option<String> {
    let id = String::from_utf8(hex::decode(token).ok()?).ok()?;
    uuid::Uuid::parse_str(&id).ok().map(|_| id)
}

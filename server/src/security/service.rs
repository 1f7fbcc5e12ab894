//! `tradeplane.v1.SecurityAdminService`. A run-time setting's change is
//! saved with its audit event in one transaction, then put in force
//! ([`crate::settings::Settings::change`]); a key's creation or revocation
//! is saved, then audited.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tradeplane_api::{security_admin_service_server::SecurityAdminService, *};

use super::{
    Security,
    allowlist::{self, surface_name},
    allowlist_setting, audit_entry,
    convert::{
        audit_matches, audit_query, duration_field, limit_from_proto, limits_to_proto, non_empty,
        parse_cidrs, surface_of,
    },
    keys::NewKey,
    rate_limit::Limits,
    rate_limits_setting, webhook_secret_setting,
};
use crate::{
    api_error::ApiError,
    audit::{self, actions},
    controls::breakers::{self, CircuitBreakers},
    listing::{BoxStream, invalid_page_token, next_page, page_size, watch},
    market::account,
    proto_time::{fits_after, now_ms},
    settings::Setting,
};

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;
/// How long the previous webhook passphrase works when no grace is given.
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The admin service.
pub struct SecurityAdminGrpc {
    security: Arc<Security>,
    breakers: Arc<CircuitBreakers>,
    streams_end: CancellationToken,
}

impl SecurityAdminGrpc {
    /// The service over `security` and the exchanges' `breakers`.
    pub fn new(
        security: Arc<Security>,
        breakers: Arc<CircuitBreakers>,
        streams_end: CancellationToken,
    ) -> Self {
        Self {
            security,
            breakers,
            streams_end,
        }
    }
}

#[tonic::async_trait]
impl SecurityAdminService for SecurityAdminGrpc {
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let body = request.get_ref();
        let role = Role::known(body.role, "role").map_err(ApiError::from)?;
        let ttl = body
            .ttl
            .as_ref()
            .map(|ttl| duration_field(ttl, "ttl"))
            .transpose()?;
        if ttl.is_some_and(|ttl| !fits_after(now_ms(), ttl)) {
            return Err(ApiError::invalid_field(
                "INVALID_DURATION",
                "ttl",
                "must end before the year 10000",
            )
            .into());
        }
        let new = NewKey {
            name: body.name.clone(),
            role,
            ttl,
            request_id: non_empty(&body.request_id),
        };
        let report = audit_entry(&request, actions::API_KEY_CREATE, String::new());
        let (api_key, token, audit) = self.security.keys.create(new, now_ms(), report).await?;
        self.security.audit.published(&audit);
        Ok(Response::new(CreateApiKeyResponse {
            api_key: Some(api_key),
            token,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let keys = self
            .security
            .keys
            .list(request.include_revoked)
            .await
            .map_err(ApiError::from)?;
        let mut page: Vec<ApiKey> = keys
            .into_iter()
            .filter(|k| request.page_token.is_empty() || k.id > request.page_token)
            .take(page_size as usize + 1)
            .collect();
        let next_page_token = next_page(&mut page, page_size, |k| k.id.clone());
        Ok(Response::new(ListApiKeysResponse {
            api_keys: page,
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        let id = request.get_ref().id.clone();
        if id.is_empty() {
            return Err(
                ApiError::invalid_field("MISSING_ID", "id", "name the key to revoke").into(),
            );
        }
        let report = audit_entry(&request, actions::API_KEY_REVOKE, id.clone());
        let (api_key, audit) = self.security.keys.revoke(&id, now_ms(), report).await?;
        self.security.audit.published(&audit);
        Ok(Response::new(RevokeApiKeyResponse {
            api_key: Some(api_key),
        }))
    }

    async fn get_rate_limits(
        &self,
        _request: Request<GetRateLimitsRequest>,
    ) -> Result<Response<GetRateLimitsResponse>, Status> {
        Ok(Response::new(GetRateLimitsResponse {
            limits: Some(limits_to_proto(self.security.limiter.limits())),
        }))
    }

    async fn update_rate_limits(
        &self,
        request: Request<UpdateRateLimitsRequest>,
    ) -> Result<Response<UpdateRateLimitsResponse>, Status> {
        let current = self.security.limiter.limits();
        let given = request.get_ref().limits.unwrap_or_default();
        let limits = Limits {
            per_api_key: limit_from_proto(
                given.per_api_key.as_ref(),
                "limits.per_api_key",
                current.per_api_key,
            )?,
            per_client_ip: limit_from_proto(
                given.per_client_ip.as_ref(),
                "limits.per_client_ip",
                current.per_client_ip,
            )?,
        };
        let mut entry = audit_entry(&request, actions::RATE_LIMITS_UPDATE, "rate_limits");
        entry.detail = serde_json::to_string(&limits).unwrap_or_default();
        self.security
            .settings
            .change(&rate_limits_setting(), limits, entry, |limits| {
                self.security.limiter.set_limits(limits)
            })
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(UpdateRateLimitsResponse {
            limits: Some(limits_to_proto(limits)),
        }))
    }

    async fn list_rate_limited(
        &self,
        request: Request<ListRateLimitedRequest>,
    ) -> Result<Response<ListRateLimitedResponse>, Status> {
        let limit = page_size(request.get_ref().limit, 10, 100).map_err(|_| {
            ApiError::invalid_field("INVALID_LIMIT", "limit", "must not be negative")
        })?;
        let clients = self
            .security
            .limiter
            .top_offenders(limit as usize)
            .into_iter()
            .map(|o| RateLimitedClient {
                scope: o.scope.to_string(),
                client: o.client,
                rejected: o.rejected,
                last_time: Some(crate::proto_time::ms_to_timestamp(o.last_ms)),
            })
            .collect();
        Ok(Response::new(ListRateLimitedResponse { clients }))
    }

    async fn get_allowlist(
        &self,
        request: Request<GetAllowlistRequest>,
    ) -> Result<Response<GetAllowlistResponse>, Status> {
        let surface = surface_of(request.get_ref().surface)?;
        let cidrs = self
            .security
            .allowlists
            .get(surface)
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(Response::new(GetAllowlistResponse {
            allowlist: Some(Allowlist {
                surface: surface as i32,
                cidrs,
            }),
        }))
    }

    async fn update_allowlist(
        &self,
        request: Request<UpdateAllowlistRequest>,
    ) -> Result<Response<UpdateAllowlistResponse>, Status> {
        let body = request.get_ref();
        let given = body.allowlist.clone().unwrap_or_default();
        let surface = surface_of(given.surface).map_err(|_| {
            ApiError::invalid_field(
                "INVALID_SURFACE",
                "allowlist.surface",
                "choose SURFACE_WEBHOOK or SURFACE_GRPC",
            )
        })?;
        let mut nets = parse_cidrs(&given.cidrs, "allowlist.cidrs")?;
        if body.include_tradingview_preset {
            nets.extend(allowlist::tradingview_preset());
            nets.sort();
            nets.dedup();
        }
        if surface == Surface::Grpc {
            let caller_ip = request
                .extensions()
                .get::<super::Caller>()
                .and_then(|c| c.address);
            if let Some(ip) = caller_ip
                && !nets.is_empty()
                && !nets.iter().any(|n| n.contains(&ip))
            {
                return Err(ApiError::FailedPrecondition {
                    reason: "WOULD_LOCK_OUT_CALLER",
                    message: format!(
                        "the new gRPC allowlist does not include your address {ip}; add it first"
                    ),
                }
                .into());
            }
        }
        let cidrs: Vec<String> = nets.iter().map(ToString::to_string).collect();
        let mut entry = audit_entry(&request, actions::ALLOWLIST_UPDATE, surface_name(surface));
        entry.detail = if cidrs.is_empty() {
            "every address allowed".into()
        } else {
            cidrs.join(",")
        };
        self.security
            .settings
            .change(&allowlist_setting(surface), nets, entry, |nets| {
                self.security.allowlists.set(surface, nets)
            })
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(UpdateAllowlistResponse {
            allowlist: Some(Allowlist {
                surface: surface as i32,
                cidrs,
            }),
        }))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<RotateWebhookSecretRequest>,
    ) -> Result<Response<RotateWebhookSecretResponse>, Status> {
        let body = request.get_ref();
        let grace = match &body.grace {
            Some(grace) => duration_field(grace, "grace")?,
            None => DEFAULT_GRACE,
        };
        if grace > MAX_GRACE {
            return Err(ApiError::invalid_field(
                "INVALID_DURATION",
                "grace",
                "must be at most 7 days",
            )
            .into());
        }
        let request_id = non_empty(&body.request_id);
        if let Some(id) = &request_id
            && self.security.webhook_secret.rotated_by(id)
        {
            return Err(ApiError::AlreadyExists {
                what: "webhook secret rotation",
                id: id.clone(),
            }
            .into());
        }
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let rotation =
            self.security
                .webhook_secret
                .prepare_rotation(grace_ms, request_id, now_ms());
        let mut entry = audit_entry(&request, actions::WEBHOOK_SECRET_ROTATE, "webhook");
        entry.detail = format!(
            "previous secret valid for {}",
            humantime::format_duration(grace)
        );
        self.security
            .settings
            .change(&webhook_secret_setting(), rotation.state, entry, |state| {
                self.security.webhook_secret.install(state)
            })
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(RotateWebhookSecretResponse {
            secret: rotation.secret,
            previous_expire_time: Some(crate::proto_time::ms_to_timestamp(
                rotation.previous_expire_ms,
            )),
        }))
    }

    async fn list_circuit_breakers(
        &self,
        _request: Request<ListCircuitBreakersRequest>,
    ) -> Result<Response<ListCircuitBreakersResponse>, Status> {
        Ok(Response::new(ListCircuitBreakersResponse {
            breakers: self.breakers.list(),
        }))
    }

    async fn trip_circuit_breaker(
        &self,
        request: Request<TripCircuitBreakerRequest>,
    ) -> Result<Response<TripCircuitBreakerResponse>, Status> {
        let body = request.get_ref();
        let reason = if body.reason.is_empty() {
            "manual trip".to_string()
        } else {
            format!("manual trip: {}", body.reason)
        };
        let breaker = self
            .set_breaker(
                &request,
                (&body.exchange, &body.account),
                CircuitBreakerState::Open,
                &reason,
                actions::BREAKER_TRIP,
            )
            .await?;
        Ok(Response::new(TripCircuitBreakerResponse {
            breaker: Some(breaker),
        }))
    }

    async fn reset_circuit_breaker(
        &self,
        request: Request<ResetCircuitBreakerRequest>,
    ) -> Result<Response<ResetCircuitBreakerResponse>, Status> {
        let body = request.get_ref();
        let breaker = self
            .set_breaker(
                &request,
                (&body.exchange, &body.account),
                CircuitBreakerState::Closed,
                "manual reset",
                actions::BREAKER_RESET,
            )
            .await?;
        Ok(Response::new(ResetCircuitBreakerResponse {
            breaker: Some(breaker),
        }))
    }

    async fn halt_trading(
        &self,
        request: Request<HaltTradingRequest>,
    ) -> Result<Response<HaltTradingResponse>, Status> {
        let reason = request.get_ref().reason.clone();
        let status = self.set_halt(&request, true, reason).await?;
        Ok(Response::new(HaltTradingResponse {
            status: Some(status),
        }))
    }

    async fn resume_trading(
        &self,
        request: Request<ResumeTradingRequest>,
    ) -> Result<Response<ResumeTradingResponse>, Status> {
        let reason = request.get_ref().reason.clone();
        let status = self.set_halt(&request, false, reason).await?;
        Ok(Response::new(ResumeTradingResponse {
            status: Some(status),
        }))
    }

    async fn get_trading_status(
        &self,
        _request: Request<GetTradingStatusRequest>,
    ) -> Result<Response<GetTradingStatusResponse>, Status> {
        Ok(Response::new(GetTradingStatusResponse {
            status: Some(self.security.halt.state().into()),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let page_size = page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut query = audit_query(&request.filter.unwrap_or_default())?;
        if !request.page_token.is_empty() {
            query.before_sequence = Some(
                request
                    .page_token
                    .parse::<i64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(invalid_page_token)?,
            );
        }
        query.limit = page_size + 1;
        let mut rows = self
            .security
            .store
            .list_audit(&query)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = next_page(&mut rows, page_size, |r| r.sequence.to_string());
        Ok(Response::new(ListAuditEventsResponse {
            events: rows.iter().map(audit::to_proto).collect(),
            next_page_token,
        }))
    }

    type WatchAuditEventsStream = BoxStream<WatchAuditEventsResponse>;

    async fn watch_audit_events(
        &self,
        request: Request<WatchAuditEventsRequest>,
    ) -> Result<Response<Self::WatchAuditEventsStream>, Status> {
        let filter = audit_query(&request.into_inner().filter.unwrap_or_default())?;
        Ok(Response::new(watch(
            self.security.audit.watch_feed(),
            move |event| audit_matches(&filter, event),
            |event, missed| WatchAuditEventsResponse {
                event: Some(event),
                missed,
            },
            self.streams_end.clone(),
        )))
    }

    async fn verify_audit_log(
        &self,
        _request: Request<VerifyAuditLogRequest>,
    ) -> Result<Response<VerifyAuditLogResponse>, Status> {
        let verification = self.security.audit.verify().await.map_err(ApiError::from)?;
        let (first_broken_sequence, detail) = match verification.first_broken {
            Some((sequence, detail)) => (u64::try_from(sequence).unwrap_or_default(), detail),
            None => (0, String::new()),
        };
        Ok(Response::new(VerifyAuditLogResponse {
            intact: first_broken_sequence == 0,
            events_checked: verification.events_checked,
            first_broken_sequence,
            detail,
        }))
    }
}

impl SecurityAdminGrpc {
    /// Moves the breaker of `account` (empty: `default`) at `exchange`
    /// to `state`.
    async fn set_breaker<T>(
        &self,
        request: &Request<T>,
        (exchange, account): (&str, &str),
        state: CircuitBreakerState,
        reason: &str,
        action: &'static str,
    ) -> Result<CircuitBreaker, ApiError> {
        if exchange.is_empty() {
            return Err(ApiError::invalid_field(
                "MISSING_EXCHANGE",
                "exchange",
                "name the exchange, e.g. `paper`",
            ));
        }
        let key = account::key(exchange, account);
        let exchange = key.as_str();
        let record = self
            .breakers
            .transition(exchange, state, reason, now_ms())?;
        let mut entry = audit_entry(request, action, exchange);
        entry.detail = reason.to_string();
        let setting = Setting::new(breakers::setting_key(exchange));
        Ok(self
            .security
            .settings
            .change(&setting, record, entry, |record| {
                self.breakers.apply(exchange, record)
            })
            .await?)
    }

    async fn set_halt<T>(
        &self,
        request: &Request<T>,
        halted: bool,
        reason: String,
    ) -> Result<TradingStatus, ApiError> {
        let action = if halted {
            actions::TRADING_HALT
        } else {
            actions::TRADING_RESUME
        };
        let entry = audit_entry(request, action, "trading");
        Ok(self.security.set_halt(halted, reason, entry).await?.into())
    }
}

//! Security administration. The contract is served now; the bodies arrive
//! with the security work and answer UNIMPLEMENTED until then.

use tradeplane_api::*;

use crate::unimplemented::unimplemented_service;

/// `tradeplane.v1.SecurityAdminService`.
pub struct SecurityAdminGrpc;

unimplemented_service! {
    SecurityAdminGrpc, security_admin_service_server::SecurityAdminService, "tradeplane.v1.SecurityAdminService",
    unary {
        create_api_key(CreateApiKeyRequest) -> CreateApiKeyResponse = "CreateApiKey";
        list_api_keys(ListApiKeysRequest) -> ListApiKeysResponse = "ListApiKeys";
        revoke_api_key(RevokeApiKeyRequest) -> RevokeApiKeyResponse = "RevokeApiKey";
        get_rate_limits(GetRateLimitsRequest) -> GetRateLimitsResponse = "GetRateLimits";
        update_rate_limits(UpdateRateLimitsRequest) -> UpdateRateLimitsResponse = "UpdateRateLimits";
        list_rate_limited(ListRateLimitedRequest) -> ListRateLimitedResponse = "ListRateLimited";
        get_allowlist(GetAllowlistRequest) -> GetAllowlistResponse = "GetAllowlist";
        update_allowlist(UpdateAllowlistRequest) -> UpdateAllowlistResponse = "UpdateAllowlist";
        rotate_webhook_secret(RotateWebhookSecretRequest) -> RotateWebhookSecretResponse = "RotateWebhookSecret";
        list_circuit_breakers(ListCircuitBreakersRequest) -> ListCircuitBreakersResponse = "ListCircuitBreakers";
        trip_circuit_breaker(TripCircuitBreakerRequest) -> TripCircuitBreakerResponse = "TripCircuitBreaker";
        reset_circuit_breaker(ResetCircuitBreakerRequest) -> ResetCircuitBreakerResponse = "ResetCircuitBreaker";
        halt_trading(HaltTradingRequest) -> HaltTradingResponse = "HaltTrading";
        resume_trading(ResumeTradingRequest) -> ResumeTradingResponse = "ResumeTrading";
        get_trading_status(GetTradingStatusRequest) -> GetTradingStatusResponse = "GetTradingStatus";
        list_audit_events(ListAuditEventsRequest) -> ListAuditEventsResponse = "ListAuditEvents";
        verify_audit_log(VerifyAuditLogRequest) -> VerifyAuditLogResponse = "VerifyAuditLog";
    }
    streaming {
        watch_audit_events, WatchAuditEventsStream(WatchAuditEventsRequest) -> WatchAuditEventsResponse = "WatchAuditEvents";
    }
}

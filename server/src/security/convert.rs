//! Conversions between the admin API's messages and the security
//! domain's types, with the API's field errors.

use std::{net::IpAddr, time::Duration};

use ipnet::IpNet;
use tradeplane_api::*;

use super::rate_limit::{Limit, Limits};
use crate::{
    api_error::{ApiError, FieldError},
    listing::filter_time,
    proto_time::{checked_duration, timestamp_ms},
    store::AuditQuery,
};

/// `value`, unless it is empty.
pub fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// A positive duration from the request field `field`.
pub fn duration_field(value: &prost_types::Duration, field: &str) -> Result<Duration, ApiError> {
    match checked_duration(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err(ApiError::invalid_field(
            "INVALID_DURATION",
            field,
            "must be positive",
        )),
        Err(why) => Err(ApiError::invalid_field("INVALID_DURATION", field, why)),
    }
}

/// The limit given in `field`, validated; `current` when none is given.
pub fn limit_from_proto(
    limit: Option<&RateLimit>,
    field: &str,
    current: Limit,
) -> Result<Limit, ApiError> {
    let Some(limit) = limit else {
        return Ok(current);
    };
    let limit = Limit {
        rate_per_second: limit.rate_per_second,
        burst: limit.burst,
    };
    limit
        .validate()
        .map_err(|message| ApiError::invalid_field("INVALID_RATE_LIMIT", field, message))?;
    Ok(limit)
}

/// The API form of `limits`.
pub fn limits_to_proto(limits: Limits) -> RateLimits {
    let proto = |l: Limit| RateLimit {
        rate_per_second: l.rate_per_second,
        burst: l.burst,
    };
    RateLimits {
        per_api_key: Some(proto(limits.per_api_key)),
        per_client_ip: Some(proto(limits.per_client_ip)),
    }
}

/// The surface an allowlist request names (webhook or gRPC).
pub fn surface_of(value: i32) -> Result<Surface, ApiError> {
    match Surface::try_from(value) {
        Ok(surface @ (Surface::Webhook | Surface::Grpc)) => Ok(surface),
        _ => Err(ApiError::invalid_field(
            "INVALID_SURFACE",
            "surface",
            "choose SURFACE_WEBHOOK or SURFACE_GRPC",
        )),
    }
}

/// Parses CIDRs (a bare address counts as a single-address network).
pub fn parse_cidrs(cidrs: &[String], field: &str) -> Result<Vec<IpNet>, ApiError> {
    let mut nets = Vec::with_capacity(cidrs.len());
    let mut fields = Vec::new();
    for (i, cidr) in cidrs.iter().enumerate() {
        let text = cidr.trim();
        match text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => fields.push(FieldError {
                field: format!("{field}[{i}]"),
                description: format!("`{cidr}` is not a CIDR such as 10.0.0.0/8 or an address"),
            }),
        }
    }
    if fields.is_empty() {
        nets.sort();
        nets.dedup();
        Ok(nets)
    } else {
        Err(ApiError::InvalidArgument {
            reason: "INVALID_CIDR".into(),
            message: format!("{}: {}", fields[0].field, fields[0].description),
            fields,
        })
    }
}

/// The store query of an audit filter (without its page).
pub fn audit_query(filter: &AuditFilter) -> Result<AuditQuery, ApiError> {
    AuditOutcome::known(filter.outcome, "filter.outcome")?;
    Ok(AuditQuery {
        actor: non_empty(&filter.actor),
        action_prefix: non_empty(&filter.action),
        outcome: (filter.outcome != AuditOutcome::Unspecified as i32).then_some(filter.outcome),
        start_ms: filter_time(filter.start_time.as_ref(), "filter.start_time")?,
        end_ms: filter_time(filter.end_time.as_ref(), "filter.end_time")?,
        ..Default::default()
    })
}

/// Whether a live event passes the filter `filter`.
pub fn audit_matches(filter: &AuditQuery, event: &AuditEvent) -> bool {
    let time_ms = event.time.as_ref().map(timestamp_ms).unwrap_or_default();
    filter.actor.as_ref().is_none_or(|a| *a == event.actor)
        && filter
            .action_prefix
            .as_ref()
            .is_none_or(|p| event.action.starts_with(p.as_str()))
        && filter.outcome.is_none_or(|o| o == event.outcome)
        && filter.start_ms.is_none_or(|s| time_ms >= s)
        && filter.end_ms.is_none_or(|e| time_ms < e)
}

//! `tpctl admin …`: every SecurityAdminService RPC from the command line.

use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use futures::StreamExt;
use serde_json::{Value, json};
use tonic::Status;
use tradeplane_api::*;
use tradeplane_client::{
    Client, describe_status,
    format::{enum_name, object_table, print, rows, time_text},
};

/// Admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// API keys: create, list, revoke.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Rate limits: get, set, and the most-limited clients.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// IP allowlists of the webhook and gRPC surfaces.
    #[command(subcommand)]
    Allowlist(AllowlistCommand),
    /// Replaces the webhook passphrase; the old one works for `--grace`.
    RotateWebhookSecret {
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
        grace: Duration,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Circuit breakers: list, trip, reset.
    #[command(subcommand)]
    Breaker(BreakerCommand),
    /// Halts trading: no order leaves the process until `resume`.
    Halt {
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resumes trading after a halt.
    Resume {
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Whether trading is halted, since when and by whom.
    Status,
    /// The audit log: list, watch, verify.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Creates a key and prints its token (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Lifetime, e.g. `90d`; none means no expiry.
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<Duration>,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Lists keys (never their tokens).
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revokes a key at once.
    Revoke { id: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Submitter,
    Trader,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Submitter => Role::Submitter,
            RoleArg::Trader => Role::Trader,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
pub enum LimitsCommand {
    /// Shows the limits in force.
    Get,
    /// Changes limits; a rate of 0 disables a limit.
    Set {
        #[arg(long)]
        key_rate: Option<f64>,
        #[arg(long)]
        key_burst: Option<u32>,
        #[arg(long)]
        ip_rate: Option<f64>,
        #[arg(long)]
        ip_burst: Option<u32>,
    },
    /// The most rate-limited clients.
    Top {
        #[arg(long, default_value_t = 10)]
        limit: i32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SurfaceArg {
    Webhook,
    Grpc,
}

impl From<SurfaceArg> for Surface {
    fn from(surface: SurfaceArg) -> Self {
        match surface {
            SurfaceArg::Webhook => Surface::Webhook,
            SurfaceArg::Grpc => Surface::Grpc,
        }
    }
}

#[derive(Subcommand)]
pub enum AllowlistCommand {
    /// Shows a surface's allowlist (empty: every address).
    Get {
        #[arg(value_enum)]
        surface: SurfaceArg,
    },
    /// Replaces a surface's allowlist; no CIDRs allows every address.
    Set {
        #[arg(value_enum)]
        surface: SurfaceArg,
        cidrs: Vec<String>,
        /// Adds TradingView's webhook addresses.
        #[arg(long)]
        tradingview: bool,
    },
}

#[derive(Subcommand)]
pub enum BreakerCommand {
    List,
    /// Opens an exchange's breaker: its orders fail fast.
    Trip {
        exchange: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Closes an exchange's breaker.
    Reset {
        exchange: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Lists events, newest first.
    List {
        #[arg(long, default_value = "")]
        actor: String,
        /// Action prefix, e.g. `trading.` or `api_key.create`.
        #[arg(long, default_value = "")]
        action: String,
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Streams new events as they are recorded.
    Watch {
        #[arg(long, default_value = "")]
        action: String,
    },
    /// Walks the hash chain; exits non-zero if it is broken.
    Verify,
}

fn status_error(status: Status) -> String {
    describe_status(&status)
}

fn role_word(role: i32) -> String {
    enum_name::<Role>(role, |r| r.as_str_name())
        .trim_start_matches("ROLE_")
        .to_lowercase()
}

fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id, "name": key.name, "role": role_word(key.role), "prefix": key.prefix,
        "create_time": time_text(key.create_time.as_ref()),
        "expire_time": time_text(key.expire_time.as_ref()),
        "last_used_time": time_text(key.last_used_time.as_ref()),
        "revoked": key.revoked,
    })
}

fn limits_json(limits: &RateLimits) -> Value {
    let one = |l: &Option<RateLimit>| {
        l.as_ref()
            .map(|l| json!({"rate_per_second": l.rate_per_second, "burst": l.burst}))
    };
    json!({ "per_api_key": one(&limits.per_api_key), "per_client_ip": one(&limits.per_client_ip) })
}

fn breaker_json(breaker: &CircuitBreaker) -> Value {
    json!({
        "exchange": breaker.exchange,
        "state": enum_name::<CircuitBreakerState>(breaker.state, |s| s.as_str_name())
            .trim_start_matches("CIRCUIT_BREAKER_STATE_").to_lowercase(),
        "consecutive_failures": breaker.consecutive_failures,
        "change_time": time_text(breaker.change_time.as_ref()),
        "reason": breaker.reason,
    })
}

fn trading_json(status: &TradingStatus) -> Value {
    json!({
        "halted": status.halted, "reason": status.reason, "actor": status.actor,
        "change_time": time_text(status.change_time.as_ref()),
    })
}

fn audit_json(event: &AuditEvent) -> Value {
    json!({
        "sequence": event.sequence, "time": time_text(event.time.as_ref()), "actor": event.actor,
        "source_address": event.source_address, "action": event.action, "target": event.target,
        "outcome": enum_name::<AuditOutcome>(event.outcome, |o| o.as_str_name())
            .trim_start_matches("AUDIT_OUTCOME_").to_lowercase(),
        "detail": event.detail, "trace_id": event.trace_id,
        "previous_hash": event.previous_hash, "hash": event.hash,
    })
}

/// Runs one admin command; `Err` is the message to print.
pub async fn run(client: &Client, command: AdminCommand, json_output: bool) -> Result<(), String> {
    let mut admin = client.security();
    match command {
        AdminCommand::Key(KeyCommand::Create {
            name,
            role,
            ttl,
            request_id,
        }) => {
            let response = admin
                .create_api_key(CreateApiKeyRequest {
                    request_id,
                    name,
                    role: Role::from(role) as i32,
                    ttl: ttl.and_then(|t| prost_types::Duration::try_from(t).ok()),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let key = response.api_key.unwrap_or_default();
            print(
                json_output,
                json!({ "api_key": key_json(&key), "token": response.token }),
                || {
                    format!(
                        "{}\n(key {} `{}`; the token is shown only once)",
                        response.token, key.id, key.name
                    )
                },
            );
        }
        AdminCommand::Key(KeyCommand::List { all }) => {
            let keys: Vec<Value> = admin
                .list_api_keys(ListApiKeysRequest {
                    include_revoked: all,
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .api_keys
                .iter()
                .map(key_json)
                .collect();
            print(json_output, json!({ "api_keys": keys }), || {
                object_table(
                    &keys,
                    &[
                        "id",
                        "name",
                        "role",
                        "prefix",
                        "last_used_time",
                        "expire_time",
                        "revoked",
                    ],
                )
            });
        }
        AdminCommand::Key(KeyCommand::Revoke { id }) => {
            let key = admin
                .revoke_api_key(RevokeApiKeyRequest {
                    id,
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .api_key
                .unwrap_or_default();
            print(json_output, key_json(&key), || {
                format!("revoked {} `{}`", key.id, key.name)
            });
        }
        AdminCommand::Limits(LimitsCommand::Get) => {
            let limits = admin
                .get_rate_limits(GetRateLimitsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .limits
                .unwrap_or_default();
            let value = limits_json(&limits);
            print(json_output, value.clone(), || value.to_string());
        }
        AdminCommand::Limits(LimitsCommand::Set {
            key_rate,
            key_burst,
            ip_rate,
            ip_burst,
        }) => {
            let current = admin
                .get_rate_limits(GetRateLimitsRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .limits
                .unwrap_or_default();
            let merge = |limit: Option<RateLimit>, rate: Option<f64>, burst: Option<u32>| {
                let limit = limit.unwrap_or_default();
                RateLimit {
                    rate_per_second: rate.unwrap_or(limit.rate_per_second),
                    burst: burst.unwrap_or(limit.burst),
                }
            };
            let limits = RateLimits {
                per_api_key: Some(merge(current.per_api_key, key_rate, key_burst)),
                per_client_ip: Some(merge(current.per_client_ip, ip_rate, ip_burst)),
            };
            let limits = admin
                .update_rate_limits(UpdateRateLimitsRequest {
                    limits: Some(limits),
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .limits
                .unwrap_or_default();
            let value = limits_json(&limits);
            print(json_output, value.clone(), || value.to_string());
        }
        AdminCommand::Limits(LimitsCommand::Top { limit }) => {
            let clients: Vec<Value> = admin
                .list_rate_limited(ListRateLimitedRequest { limit })
                .await
                .map_err(status_error)?
                .into_inner()
                .clients
                .iter()
                .map(|c| {
                    json!({"scope": c.scope, "client": c.client, "rejected": c.rejected,
                           "last_time": time_text(c.last_time.as_ref())})
                })
                .collect();
            print(json_output, json!({ "clients": clients }), || {
                object_table(&clients, &["scope", "client", "rejected", "last_time"])
            });
        }
        AdminCommand::Allowlist(AllowlistCommand::Get { surface }) => {
            let list = admin
                .get_allowlist(GetAllowlistRequest {
                    surface: Surface::from(surface) as i32,
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .allowlist
                .unwrap_or_default();
            print_allowlist(json_output, &list);
        }
        AdminCommand::Allowlist(AllowlistCommand::Set {
            surface,
            cidrs,
            tradingview,
        }) => {
            let list = admin
                .update_allowlist(UpdateAllowlistRequest {
                    allowlist: Some(Allowlist {
                        surface: Surface::from(surface) as i32,
                        cidrs,
                    }),
                    include_tradingview_preset: tradingview,
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .allowlist
                .unwrap_or_default();
            print_allowlist(json_output, &list);
        }
        AdminCommand::RotateWebhookSecret { grace, request_id } => {
            let response = admin
                .rotate_webhook_secret(RotateWebhookSecretRequest {
                    request_id,
                    grace: prost_types::Duration::try_from(grace).ok(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let until = time_text(response.previous_expire_time.as_ref());
            print(
                json_output,
                json!({ "secret": response.secret, "previous_expire_time": until }),
                || {
                    format!(
                        "{}\n(the previous passphrase works until {until})",
                        response.secret
                    )
                },
            );
        }
        AdminCommand::Breaker(command) => {
            let breakers = match command {
                BreakerCommand::List => {
                    admin
                        .list_circuit_breakers(ListCircuitBreakersRequest {})
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .breakers
                }
                BreakerCommand::Trip { exchange, reason } => admin
                    .trip_circuit_breaker(TripCircuitBreakerRequest {
                        exchange,
                        reason,
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner()
                    .breaker
                    .into_iter()
                    .collect(),
                BreakerCommand::Reset { exchange } => admin
                    .reset_circuit_breaker(ResetCircuitBreakerRequest {
                        exchange,
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner()
                    .breaker
                    .into_iter()
                    .collect(),
            };
            let values: Vec<Value> = breakers.iter().map(breaker_json).collect();
            print(json_output, json!({ "breakers": values }), || {
                object_table(
                    &values,
                    &[
                        "exchange",
                        "state",
                        "consecutive_failures",
                        "change_time",
                        "reason",
                    ],
                )
            });
        }
        AdminCommand::Halt { reason } => {
            let status = admin
                .halt_trading(HaltTradingRequest {
                    reason,
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .status
                .unwrap_or_default();
            print_trading(json_output, &status);
        }
        AdminCommand::Resume { reason } => {
            let status = admin
                .resume_trading(ResumeTradingRequest {
                    reason,
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .status
                .unwrap_or_default();
            print_trading(json_output, &status);
        }
        AdminCommand::Status => {
            let status = admin
                .get_trading_status(GetTradingStatusRequest {})
                .await
                .map_err(status_error)?
                .into_inner()
                .status
                .unwrap_or_default();
            print_trading(json_output, &status);
        }
        AdminCommand::Audit(AuditCommand::List {
            actor,
            action,
            limit,
        }) => {
            let events: Vec<Value> = admin
                .list_audit_events(ListAuditEventsRequest {
                    page_size: limit,
                    filter: Some(AuditFilter {
                        actor,
                        action,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .events
                .iter()
                .map(audit_json)
                .collect();
            print(json_output, json!({ "events": events }), || {
                object_table(
                    &events,
                    &[
                        "sequence",
                        "time",
                        "actor",
                        "source_address",
                        "action",
                        "target",
                        "outcome",
                        "detail",
                    ],
                )
            });
        }
        AdminCommand::Audit(AuditCommand::Watch { action }) => {
            let mut stream = admin
                .watch_audit_events(WatchAuditEventsRequest {
                    filter: Some(AuditFilter {
                        action,
                        ..Default::default()
                    }),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            while let Some(item) = stream.next().await {
                let item = item.map_err(status_error)?;
                if item.missed > 0 {
                    eprintln!("({} events missed: this watcher fell behind)", item.missed);
                }
                if let Some(event) = item.event {
                    let value = audit_json(&event);
                    print(json_output, value.clone(), || {
                        rows(
                            &[value],
                            &[
                                "sequence", "time", "actor", "action", "target", "outcome",
                                "detail",
                            ],
                        )
                        .concat()
                        .join("  ")
                    });
                }
            }
        }
        AdminCommand::Audit(AuditCommand::Verify) => {
            let result = admin
                .verify_audit_log(VerifyAuditLogRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            print(
                json_output,
                json!({
                    "intact": result.intact, "events_checked": result.events_checked,
                    "first_broken_sequence": result.first_broken_sequence, "detail": result.detail,
                }),
                || {
                    if result.intact {
                        format!("intact: {} events checked", result.events_checked)
                    } else {
                        format!(
                            "BROKEN at sequence {}: {}",
                            result.first_broken_sequence, result.detail
                        )
                    }
                },
            );
            if !result.intact {
                return Err(format!(
                    "the audit log is broken at sequence {}",
                    result.first_broken_sequence
                ));
            }
        }
    }
    Ok(())
}

fn print_allowlist(json_output: bool, list: &Allowlist) {
    print(json_output, json!({ "cidrs": list.cidrs }), || {
        if list.cidrs.is_empty() {
            "(empty: every address is allowed)".into()
        } else {
            list.cidrs.join("\n")
        }
    });
}

fn print_trading(json_output: bool, status: &TradingStatus) {
    let value = trading_json(status);
    print(json_output, value, || {
        let state = if status.halted { "HALTED" } else { "trading" };
        format!(
            "{state} (since {} by {}: {})",
            time_text(status.change_time.as_ref()),
            if status.actor.is_empty() {
                "-"
            } else {
                &status.actor
            },
            if status.reason.is_empty() {
                "-"
            } else {
                &status.reason
            },
        )
    });
}

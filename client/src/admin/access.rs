//! `tpctl admin limits …` and `allowlist …`: who may call, and how often.

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    AuthChannel, Client,
    format::{Output, object_table, print, table, time_text},
};

use crate::cli_error::CliError;

/// `tpctl admin limits …`.
#[derive(Subcommand)]
pub enum LimitsCommand {
    /// Shows the limits in force.
    Get,
    /// Changes limits; a rate of 0 disables a limit.
    Set {
        /// Sustained gRPC calls per second per API key; 0 turns the limit off.
        #[arg(long)]
        key_rate: Option<f64>,
        /// Calls per API key allowed in one burst above the rate (the bucket size).
        #[arg(long)]
        key_burst: Option<u32>,
        /// Sustained webhook requests per second per client address; 0 turns it off.
        #[arg(long)]
        ip_rate: Option<f64>,
        /// Requests per client address allowed in one burst above the rate.
        #[arg(long)]
        ip_burst: Option<u32>,
    },
    /// The most rate-limited clients.
    Top {
        /// How many clients to show, most rejected first.
        #[arg(long, default_value_t = 10)]
        limit: i32,
    },
}

/// A surface as a command-line word.
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

/// `tpctl admin allowlist …`.
#[derive(Subcommand)]
pub enum AllowlistCommand {
    /// Shows a surface's allowlist (empty: every address).
    Get {
        /// webhook (the HTTP webhook) or grpc (the gRPC API).
        #[arg(value_enum)]
        surface: SurfaceArg,
    },
    /// Replaces a surface's allowlist; no CIDRs allows every address.
    Set {
        /// webhook (the HTTP webhook) or grpc (the gRPC API).
        #[arg(value_enum)]
        surface: SurfaceArg,
        /// Networks to allow, e.g. 203.0.113.0/24, or single addresses.
        cidrs: Vec<String>,
        /// Adds TradingView's webhook addresses.
        #[arg(long)]
        tradingview: bool,
    },
}

fn limits_json(limits: &RateLimits) -> Value {
    let one = |l: &Option<RateLimit>| {
        l.as_ref()
            .map(|l| json!({"rate_per_second": l.rate_per_second, "burst": l.burst}))
    };
    json!({ "per_api_key": one(&limits.per_api_key), "per_client_ip": one(&limits.per_client_ip) })
}

/// The rate limits as a table: one row per scope (0 = unlimited).
fn limits_table(limits: &RateLimits) -> String {
    let row = |scope: &str, limit: Option<RateLimit>| {
        let limit = limit.unwrap_or_default();
        vec![
            scope.to_string(),
            limit.rate_per_second.to_string(),
            limit.burst.to_string(),
        ]
    };
    table(
        &["SCOPE", "RATE_PER_SECOND", "BURST"],
        &[
            row("per_api_key", limits.per_api_key),
            row("per_client_ip", limits.per_client_ip),
        ],
    )
}

/// The rate limits in force.
async fn current_limits(
    admin: &mut security_admin_service_client::SecurityAdminServiceClient<AuthChannel>,
) -> Result<RateLimits, CliError> {
    Ok(admin
        .get_rate_limits(GetRateLimitsRequest {})
        .await?
        .into_inner()
        .limits
        .unwrap_or_default())
}

/// Runs one `admin limits` command.
pub(super) async fn run_limits(
    client: &Client,
    command: LimitsCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    match command {
        LimitsCommand::Get => {
            let limits = current_limits(&mut admin).await?;
            print_limits(output, limits);
        }
        LimitsCommand::Set {
            key_rate,
            key_burst,
            ip_rate,
            ip_burst,
        } => {
            let current = current_limits(&mut admin).await?;
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
                .await?
                .into_inner()
                .limits
                .unwrap_or_default();
            print_limits(output, limits);
        }
        LimitsCommand::Top { limit } => {
            let response = admin
                .list_rate_limited(ListRateLimitedRequest { limit })
                .await?
                .into_inner();
            let clients: Vec<Value> = response
                .clients
                .iter()
                .map(|c| {
                    json!({"scope": c.scope, "client": c.client, "rejected": c.rejected,
                           "last_time": time_text(c.last_time.as_ref())})
                })
                .collect();
            print(output, &response, json!({ "clients": clients }), || {
                object_table(&clients, &["scope", "client", "rejected", "last_time"])
            });
        }
    }
    Ok(())
}

/// Runs one `admin allowlist` command and prints the allowlist.
pub(super) async fn run_allowlist(
    client: &Client,
    command: AllowlistCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    let list = match command {
        AllowlistCommand::Get { surface } => admin
            .get_allowlist(GetAllowlistRequest {
                surface: Surface::from(surface) as i32,
            })
            .await
            .map(|r| r.into_inner().allowlist),
        AllowlistCommand::Set {
            surface,
            cidrs,
            tradingview,
        } => admin
            .update_allowlist(UpdateAllowlistRequest {
                allowlist: Some(Allowlist {
                    surface: Surface::from(surface) as i32,
                    cidrs,
                }),
                include_tradingview_preset: tradingview,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().allowlist),
    }?
    .unwrap_or_default();
    print_allowlist(output, list);
    Ok(())
}

/// Prints the rate limits (get and update answer with the same shape).
fn print_limits(output: Output, limits: RateLimits) {
    let value = limits_json(&limits);
    let text = limits_table(&limits);
    let answer = GetRateLimitsResponse {
        limits: Some(limits),
    };
    print(output, &answer, value, || text);
}

/// Prints an allowlist (get and update answer with the same shape).
fn print_allowlist(output: Output, list: Allowlist) {
    let value = json!({ "cidrs": list.cidrs });
    let answer = GetAllowlistResponse {
        allowlist: Some(list.clone()),
    };
    print(output, &answer, value, || {
        if list.cidrs.is_empty() {
            "(empty: every address is allowed)".into()
        } else {
            list.cidrs.join("\n")
        }
    });
}

//! `tpctl admin …`: every SecurityAdminService RPC from the command line.

mod access;
mod audit;
mod keys;
mod trading;

use std::time::Duration;

use clap::Subcommand;
use tradeplane_client::{Client, format::Output};

use crate::cli_error::CliError;

use self::trading::TradingChange;
pub use self::{
    access::{AllowlistCommand, LimitsCommand},
    audit::AuditCommand,
    keys::KeyCommand,
    trading::BreakerCommand,
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
        /// How long the old passphrase keeps working, e.g. 30m or 2h (at most 7d).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
        grace: Duration,
        /// Idempotency key: a repeat with the same id fails (ALREADY_EXISTS) instead of
        /// rotating again.
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Circuit breakers: list, trip, reset.
    #[command(subcommand)]
    Breaker(BreakerCommand),
    /// Halts trading: no order leaves the process until `resume`.
    Halt {
        /// Why trading stops; shown by `admin status` and kept in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Resumes trading after a halt.
    Resume {
        /// Why trading resumes; shown by `admin status` and kept in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Whether trading is halted, since when and by whom.
    Status,
    /// The audit log: list, watch, verify.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// Runs one admin command; `Err` is the message to print.
pub async fn run(client: &Client, command: AdminCommand, output: Output) -> Result<(), CliError> {
    match command {
        AdminCommand::Key(command) => keys::run(client, command, output).await,
        AdminCommand::Limits(command) => access::run_limits(client, command, output).await,
        AdminCommand::Allowlist(command) => access::run_allowlist(client, command, output).await,
        AdminCommand::RotateWebhookSecret { grace, request_id } => {
            keys::rotate_webhook_secret(client, grace, request_id, output).await
        }
        AdminCommand::Breaker(command) => trading::run_breaker(client, command, output).await,
        AdminCommand::Halt { reason } => {
            trading::run_trading(client, TradingChange::Halt(reason), output).await
        }
        AdminCommand::Resume { reason } => {
            trading::run_trading(client, TradingChange::Resume(reason), output).await
        }
        AdminCommand::Status => trading::run_trading(client, TradingChange::Status, output).await,
        AdminCommand::Audit(command) => audit::run(client, command, output).await,
    }
}

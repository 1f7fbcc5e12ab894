//! `tpctl admin breaker …`, `halt`, `resume` and `status`: whether orders
//! may leave the process.

use clap::Subcommand;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, object_table, print, time_text},
};

use crate::cli_error::CliError;

/// `tpctl admin breaker …`.
#[derive(Subcommand)]
pub enum BreakerCommand {
    /// Lists every exchange's breaker.
    List,
    /// Opens an exchange's breaker: its orders fail fast.
    Trip {
        /// Exchange name, as `tpctl exchanges` lists it.
        exchange: String,
        /// Account at the exchange, as `tpctl exchanges` lists it.
        #[arg(long, default_value = "default")]
        account: String,
        /// Why; recorded as "manual trip: REASON" on the breaker and in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Closes an exchange's breaker.
    Reset {
        /// Exchange name, as `tpctl exchanges` lists it.
        exchange: String,
        /// Account at the exchange, as `tpctl exchanges` lists it.
        #[arg(long, default_value = "default")]
        account: String,
    },
}

fn breaker_json(breaker: &CircuitBreaker) -> Value {
    json!({
        "exchange": breaker.exchange,
        "account": breaker.account,
        "state": CircuitBreakerState::word_of(breaker.state),
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

/// Runs one `admin breaker` command.
pub(super) async fn run_breaker(
    client: &Client,
    command: BreakerCommand,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    let breakers = match command {
        BreakerCommand::List => admin
            .list_circuit_breakers(ListCircuitBreakersRequest {})
            .await
            .map(|r| r.into_inner().breakers),
        BreakerCommand::Trip {
            exchange,
            account,
            reason,
        } => admin
            .trip_circuit_breaker(TripCircuitBreakerRequest {
                exchange,
                account,
                reason,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().breaker.into_iter().collect()),
        BreakerCommand::Reset { exchange, account } => admin
            .reset_circuit_breaker(ResetCircuitBreakerRequest {
                exchange,
                account,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().breaker.into_iter().collect()),
    }?;
    let values: Vec<Value> = breakers.iter().map(breaker_json).collect();
    let answer = ListCircuitBreakersResponse { breakers };
    print(output, &answer, json!({ "breakers": values }), || {
        object_table(
            &values,
            &[
                "exchange",
                "account",
                "state",
                "consecutive_failures",
                "change_time",
                "reason",
            ],
        )
    });
    Ok(())
}

/// A change of the trading switch, or none (`Status`).
pub(super) enum TradingChange {
    /// Halts trading.
    Halt(String),
    /// Resumes trading.
    Resume(String),
    /// Reads the switch only.
    Status,
}

/// Halts, resumes or reads the trading switch and prints it.
pub(super) async fn run_trading(
    client: &Client,
    change: TradingChange,
    output: Output,
) -> Result<(), CliError> {
    let mut admin = client.security();
    let status = match change {
        TradingChange::Halt(reason) => admin
            .halt_trading(HaltTradingRequest {
                reason,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().status),
        TradingChange::Resume(reason) => admin
            .resume_trading(ResumeTradingRequest {
                reason,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().status),
        TradingChange::Status => admin
            .get_trading_status(GetTradingStatusRequest {})
            .await
            .map(|r| r.into_inner().status),
    }?
    .unwrap_or_default();
    print_trading(output, status);
    Ok(())
}

/// Prints the trading switch (every trading answer has this shape).
fn print_trading(output: Output, status: TradingStatus) {
    let value = trading_json(&status);
    let answer = GetTradingStatusResponse {
        status: Some(status.clone()),
    };
    print(output, &answer, value, || {
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

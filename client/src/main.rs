//! `tpctl`: the tradeplane command-line client.

mod admin;
mod approvals_cli;
mod bench_cli;
mod cli_error;
mod config_file;
mod notify_cli;
mod orders_cli;
mod overrides_cli;
mod pipelines_cli;

use std::{collections::HashMap, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use serde_json::json;
use tonic_health::pb::health_check_response::ServingStatus;
use tradeplane_api::{
    GetSignalRequest, ListSignalsRequest, ProtoEnum, SignalFilter, SignalOutcome,
    SubmitSignalRequest, WatchSignalsRequest,
};
use tradeplane_client::{
    Client, ConnectOptions, TlsOptions,
    format::{
        Output, SIGNAL_COLUMNS, StreamTable, print, print_value, signal_json, signal_row, table,
        write_out,
    },
};

use crate::{
    cli_error::{CliError, EXIT_CODES},
    config_file::{DEFAULT_SERVER, load_file_config},
};

#[derive(Parser)]
#[command(
    name = "tpctl",
    version,
    about = "Command-line client for tradeplane",
    after_help = EXIT_CODES
)]
struct Cli {
    /// gRPC server address: `host:port` (as grpcurl takes it), or an
    /// `http://` or `https://` URL.
    #[arg(long, global = true, env = "TRADEPLANE_SERVER")]
    server: Option<String>,
    /// Speak plaintext HTTP/2 (the default for a `host:port` address).
    #[arg(long, global = true, conflicts_with = "tls")]
    plaintext: bool,
    /// Speak TLS (a `host:port` address becomes `https://host:port`).
    #[arg(long, global = true)]
    tls: bool,
    /// How long one call may wait for its answer (watches are not cut).
    #[arg(long, global = true, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// How long connecting to the server may take.
    #[arg(long, global = true, default_value = "5s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
    /// API key; else TRADEPLANE_API_KEY, else `api_key` in the config file.
    #[arg(long, global = true)]
    api_key: Option<String>,
    /// CA certificate (PEM) that signed the server's, for `https://` servers.
    #[arg(long, global = true, env = "TRADEPLANE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require mTLS.
    #[arg(
        long,
        global = true,
        env = "TRADEPLANE_CLIENT_CERT",
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(
        long,
        global = true,
        env = "TRADEPLANE_CLIENT_KEY",
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
    /// tpctl config file (TOML with `server` and `api_key`).
    #[arg(long, global = true, env = "TPCTL_CONFIG")]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Print only the ids of what a command shows, one a line (`-o quiet`).
    #[arg(long, short, global = true, conflicts_with = "output")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks server health (`""` = process, `readiness`, or a service name);
    /// exits 1 unless SERVING.
    Health {
        /// Empty for the whole process, `readiness`, or a gRPC service name
        /// such as tradeplane.v1.OrderService.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Signals: submit, get, list, watch.
    #[command(subcommand)]
    Signal(SignalCommand),
    /// Orders: place, cancel, get, list, watch.
    #[command(subcommand)]
    Order(orders_cli::OrderCommand),
    /// Pipelines and their executions.
    #[command(subcommand)]
    Pipeline(pipelines_cli::PipelineCommand),
    /// Orders waiting for approval: list (--watch), approve, reject.
    #[command(subcommand)]
    Approvals(approvals_cli::ApprovalCommand),
    /// Notification subscriptions and their deliveries.
    #[command(subcommand)]
    Notify(notify_cli::NotifyCommand),
    /// The configured exchange accounts, their breakers and rate-limit use.
    Exchanges,
    /// Balances of an account on an exchange.
    Balances {
        /// Exchange name from the server's configuration (see `tpctl exchanges`).
        #[arg(long, default_value = "paper")]
        exchange: String,
        /// Account at the exchange (see `tpctl exchanges`).
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Open perpetual positions on an exchange, with margin, profit and
    /// liquidation price.
    Positions {
        /// Exchange name from the server's configuration (see `tpctl exchanges`).
        #[arg(long, default_value = "paper")]
        exchange: String,
        /// Account at the exchange (see `tpctl exchanges`).
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Security administration: keys, limits, allowlists, the webhook
    /// secret, breakers, the trading halt and the audit log.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Load-generates against the running service and prints throughput and
    /// latency percentiles.
    Bench(bench_cli::BenchArgs),
    /// Prints a shell completion script, e.g.
    /// `tpctl completion bash > /etc/bash_completion.d/tpctl`.
    Completion {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum SignalCommand {
    /// Submits one signal.
    Submit(Box<SubmitArgs>),
    /// Shows one signal.
    Get {
        /// Signal id, as `signal list` or `signal submit` prints it.
        id: String,
    },
    /// Lists signals, newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Most signals to show.
        #[arg(long, default_value_t = 20)]
        limit: i32,
        /// Continue from this token, printed after the previous page as `next page:`.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Streams signals as they are recorded, until Ctrl-C.
    Watch {
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(clap::Args)]
struct SubmitArgs {
    /// Symbol in any common spelling: BINANCE:BTCUSDT, BTCUSDT, BTC/USDT, BTCUSDT.P, NQ1!.
    #[arg(long)]
    symbol: String,
    /// buy, sell, exit/flat/close, target, cancel, add, reverse,
    /// close_long or close_short.
    #[arg(long)]
    action: String,
    /// Quantity (decimal > 0); on buy, sell or add without --market-position it
    /// replaces the pipeline's sizing.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    quantity: String,
    /// The strategy's reference price (decimal > 0).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    price: String,
    /// Strategy or alert name.
    #[arg(long, default_value = "")]
    strategy: String,
    /// Producer name, e.g. my-bot; the server records "grpc" when empty.
    #[arg(long, default_value = "")]
    source: String,
    /// Venue, e.g. BINANCE, for a symbol given without one.
    #[arg(long, default_value = "")]
    exchange: String,
    /// Confidence in [0, 1]; below the server's minimum the signal is rejected.
    #[arg(long, default_value = "")]
    confidence: String,
    /// long, short or flat: the strategy's position after this signal.
    #[arg(long, default_value = "")]
    market_position: String,
    /// The strategy's position size after this signal (decimal); with
    /// --market-position it sets the target position.
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    position_size: String,
    /// For exit, close_long and close_short: the percent of the position
    /// to close, in (0, 100].
    #[arg(long, default_value = "")]
    exit_percent: String,
    #[command(flatten)]
    overrides: overrides_cli::OverrideArgs,
    /// The strategy's own order id (TradingView's {{strategy.order.id}}).
    #[arg(long, default_value = "")]
    order_id: String,
    /// Free text, at most 1024 characters.
    #[arg(long, default_value = "")]
    comment: String,
    /// Idempotency key; generated when empty (and reused by retries).
    #[arg(long, default_value = "")]
    request_id: String,
    /// Tag as key=value; repeatable.
    #[arg(long = "tag")]
    tags: Vec<String>,
}

#[derive(clap::Args)]
struct FilterArgs {
    /// Only signals from this producer, e.g. tradingview or grpc.
    #[arg(long, default_value = "")]
    source: String,
    /// Only signals in this symbol, in any spelling (BTCUSDT matches BTC/USDT).
    #[arg(long, default_value = "")]
    symbol: String,
    /// Only signals of this strategy or alert name.
    #[arg(long, default_value = "")]
    strategy: String,
    /// accepted or rejected.
    #[arg(long)]
    outcome: Option<OutcomeArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutcomeArg {
    Accepted,
    Rejected,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completion { shell } = cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "tpctl", &mut script);
        write_out(&String::from_utf8_lossy(&script));
        return ExitCode::SUCCESS;
    }
    let plaintext = !cli.tls;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", err.describe(plaintext));
            err.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let file = load_file_config(cli.config.as_ref())?;
    let tls_mode = match (cli.tls, cli.plaintext) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let address = cli
        .server
        .or(file.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let server = tradeplane_client::server_url(&address, tls_mode)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let api_key = cli
        .api_key
        .or_else(|| std::env::var("TRADEPLANE_API_KEY").ok())
        .or(file.api_key);
    let output = if cli.quiet { Output::Quiet } else { cli.output };
    if let Command::Bench(args) = cli.command {
        return bench_cli::run(args, server, api_key, output).await;
    }
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let tls = TlsOptions {
        ca_cert: cli.ca_cert.as_ref().map(read).transpose()?,
        identity: match (&cli.client_cert, &cli.client_key) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            _ => None,
        },
    };
    let options = ConnectOptions {
        tls,
        connect_timeout: cli.connect_timeout,
        call_timeout: Some(cli.timeout),
    };
    let client = Client::connect_with(&server, api_key.as_deref(), &options)
        .await
        .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Health { service } => {
            let response = client.check(&service).await?;
            let status = response.status().as_str_name();
            // tonic-health's messages carry no type names: plain JSON.
            print_value(
                output,
                json!({ "service": service, "status": status }),
                || status.to_string(),
            );
            // A probe (Docker's HEALTHCHECK, a script) reads the exit code.
            if response.status() != ServingStatus::Serving {
                return Err(format!("`{service}` is {status}").into());
            }
        }
        Command::Signal(SignalCommand::Submit(args)) => {
            let tags = parse_tags(&args.tags)?;
            let request = SubmitSignalRequest {
                request_id: args.request_id,
                source: args.source,
                strategy: args.strategy,
                symbol: args.symbol,
                exchange: args.exchange,
                action: args.action,
                quantity: args.quantity,
                price: args.price,
                confidence: args.confidence,
                market_position: args.market_position,
                position_size: args.position_size,
                exit_percent: args.exit_percent,
                overrides: args.overrides.to_proto(),
                order_id: args.order_id,
                comment: args.comment,
                tags,
                ..Default::default()
            };
            let response = client.submit_signal(request, 3).await?;
            let outcome = SignalOutcome::word_of(response.outcome);
            let signal = response.signal.clone().unwrap_or_default();
            let value = json!({ "outcome": outcome, "signal": signal_json(&signal) });
            print(output, &response, value, || {
                format!("{outcome} {}", signal.id)
            });
        }
        Command::Signal(SignalCommand::Get { id }) => {
            let response = client.signals().get_signal(GetSignalRequest { id }).await?;
            let response = response.into_inner();
            let signal = response.signal.clone().unwrap_or_default();
            print(output, &response, signal_json(&signal), || {
                table(&SIGNAL_COLUMNS, &[signal_row(&signal)])
            });
        }
        Command::Signal(SignalCommand::List {
            filter,
            limit,
            page_token,
        }) => {
            let request = ListSignalsRequest {
                page_size: limit,
                page_token,
                filter: Some(filter.into_filter()),
            };
            let response = client.signals().list_signals(request).await?.into_inner();
            let signals: Vec<_> = response.signals.iter().map(signal_json).collect();
            let value = json!({ "signals": signals, "next_page_token": response.next_page_token });
            print(output, &response, value, || {
                let rows: Vec<_> = response.signals.iter().map(signal_row).collect();
                let mut text = table(&SIGNAL_COLUMNS, &rows);
                if !response.next_page_token.is_empty() {
                    text.push_str(&format!(
                        "\nnext page: --page-token {}",
                        response.next_page_token
                    ));
                }
                text
            });
        }
        Command::Signal(SignalCommand::Watch { filter }) => {
            let request = WatchSignalsRequest {
                filter: Some(filter.into_filter()),
            };
            let mut stream = client.signals().watch_signals(request).await?.into_inner();
            let mut lines = StreamTable::new(&SIGNAL_COLUMNS);
            while let Some(event) = stream.next().await {
                let event = event?;
                if event.missed > 0 {
                    eprintln!(
                        "(missed {} signals: this watcher fell behind)",
                        event.missed
                    );
                }
                let signal = event.signal.clone().unwrap_or_default();
                print(output, &event, signal_json(&signal), || {
                    lines.line(signal_row(&signal))
                });
            }
        }
        Command::Admin(command) => admin::run(&client, command, output).await?,
        Command::Order(command) => orders_cli::run(&client, command, output).await?,
        Command::Pipeline(command) => pipelines_cli::run(&client, command, output).await?,
        Command::Approvals(command) => approvals_cli::run(&client, command, output).await?,
        Command::Notify(command) => notify_cli::run(&client, command, output).await?,
        Command::Exchanges => orders_cli::exchanges(&client, output).await?,
        Command::Balances { exchange, account } => {
            orders_cli::balances(&client, exchange, account, output).await?
        }
        Command::Positions { exchange, account } => {
            orders_cli::positions(&client, exchange, account, output).await?
        }
        Command::Bench(_) | Command::Completion { .. } => unreachable!("handled above"),
    }
    Ok(())
}

impl FilterArgs {
    fn into_filter(self) -> SignalFilter {
        let outcome = match self.outcome {
            None => SignalOutcome::Unspecified,
            Some(OutcomeArg::Accepted) => SignalOutcome::Accepted,
            Some(OutcomeArg::Rejected) => SignalOutcome::Rejected,
        };
        SignalFilter {
            source: self.source,
            symbol: self.symbol,
            strategy: self.strategy,
            outcome: outcome as i32,
            ..Default::default()
        }
    }
}

fn parse_tags(tags: &[String]) -> Result<HashMap<String, String>, String> {
    tags.iter()
        .map(|tag| {
            tag.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--tag `{tag}` must be key=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every option and argument of `command` and its subcommands that
    /// has no help text, by path.
    fn without_help(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            without_help(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_option_has_help_text() {
        let mut missing = Vec::new();
        without_help(&Cli::command(), "tpctl", &mut missing);
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }
}

//! `tradeplane`: the server binary.

use std::{collections::HashMap, io::Write, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use tradeplane_server::{
    app,
    config::{Config, FlagOverrides},
    seed::{self, SeedPlan},
    store, telemetry,
};

#[derive(Parser)]
#[command(
    name = "tradeplane",
    version,
    about = "The control plane for automated trading"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (gRPC, webhooks, /metrics) until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Prints the effective configuration as TOML and exits.
    Config(ServeArgs),
    /// Writes finished history (signals, executions, paper orders) into
    /// the store, for measuring lists at a given size; run it while no
    /// server uses the data directory.
    Seed(SeedArgs),
}

#[derive(clap::Args)]
struct SeedArgs {
    /// TOML configuration file [env: TRADEPLANE_CONFIG].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long)]
    data_dir: Option<String>,
    /// Database URL [default: SQLite in the data directory].
    #[arg(long)]
    database_url: Option<String>,
    /// Signals to write.
    #[arg(long, default_value_t = 0)]
    signals: u64,
    /// Executions to write (execution i is of signal i).
    #[arg(long, default_value_t = 0)]
    executions: u64,
    /// Orders to write (order i is placed by execution i).
    #[arg(long, default_value_t = 0)]
    orders: u64,
    /// The history spans this many days up to now.
    #[arg(long, default_value_t = 30)]
    days: u32,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file [env: TRADEPLANE_CONFIG].
    #[arg(long)]
    config: Option<PathBuf>,
    /// gRPC listen address; port 0 picks one [default: 127.0.0.1:50051].
    #[arg(long)]
    grpc_listen: Option<String>,
    /// HTTP listen address; port 0 picks one [default: 127.0.0.1:8080].
    #[arg(long)]
    http_listen: Option<String>,
    /// Data directory [default: ./data].
    #[arg(long)]
    data_dir: Option<String>,
    /// Database URL [default: SQLite in the data directory].
    #[arg(long)]
    database_url: Option<String>,
    /// `pretty` or `json`.
    #[arg(long)]
    log_format: Option<String>,
    /// Log filter, e.g. `info` or `tradeplane_server=debug`.
    #[arg(long)]
    log_level: Option<String>,
}

impl ServeArgs {
    fn load(self) -> Result<Config, String> {
        let flags = FlagOverrides {
            config: self.config,
            grpc_listen: self.grpc_listen,
            http_listen: self.http_listen,
            data_dir: self.data_dir,
            database_url: self.database_url,
            log_format: self.log_format,
            log_level: self.log_level,
        };
        let env: HashMap<String, String> = std::env::vars().collect();
        Config::load(&flags, &env).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, print_only) = match cli.command {
        Command::Serve(args) => (args, false),
        Command::Config(args) => (args, true),
        Command::Seed(args) => return run(seed(args)),
    };
    let config = match args.load() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("tradeplane: {message}");
            return ExitCode::from(2);
        }
    };
    if print_only {
        return match toml::to_string_pretty(&config.redacted()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("tradeplane: {err}");
                ExitCode::FAILURE
            }
        };
    }
    run(serve(config))
}

/// Runs `task` on a new runtime and turns its outcome into the exit code.
fn run(task: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tradeplane: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tradeplane: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        config: args.config,
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..Default::default()
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(&flags, &env)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let meter = opentelemetry::global::meter("tradeplane-seed");
    let store = store::open(&config.store_url(), &config.store, &meter).await?;
    let plan = SeedPlan {
        signals: args.signals,
        executions: args.executions,
        orders: args.orders,
        days: args.days,
    };
    let written = seed::seed(store.clone(), plan, chrono::Utc::now().timestamp_millis()).await;
    store.close().await;
    let report = written?;
    println!(
        "seeded {} rows in {:.1} s ({:.0} rows/s)",
        report.rows,
        report.seconds,
        report.rows as f64 / report.seconds.max(1e-9)
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let tracing_guard = telemetry::init_tracing(&config.log, &config.telemetry)?;
    let server = app::start(config).await?;
    println!(
        "listening grpc={} http={}",
        server.grpc_addr, server.http_addr
    );
    std::io::stdout().flush()?;
    tracing::info!(grpc = %server.grpc_addr, http = %server.http_addr, "tradeplane serving");

    wait_for_termination().await;
    tracing::info!("shutting down: readiness off, draining in-flight calls");
    server.shutdown().await;
    tracing_guard.shutdown();
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

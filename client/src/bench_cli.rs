//! `tpctl bench`: its options, and the run of each target with its
//! summary.

use std::{path::PathBuf, time::Duration};

use serde_json::json;
use tradeplane_client::{
    Client,
    bench::{self, BenchOptions, Target},
    bench_lists::{self, ListOptions},
    format::{Output, print_value},
};

use crate::cli_error::CliError;

/// `tpctl bench`'s options.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// What to load; repeat or comma-separate to run several in one go.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Target::Health, Target::Submit, Target::Webhook])]
    target: Vec<Target>,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// gRPC connections shared by the workers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured time per target (for the list target: most time per
    /// case), e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up per target.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Webhook URL for the webhook target.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/tradingview")]
    webhook_url: String,
    /// Webhook passphrase [env: TRADEPLANE_WEBHOOK_PASSPHRASE].
    #[arg(long, env = "TRADEPLANE_WEBHOOK_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<String>,
    /// File holding the webhook passphrase (e.g. ./data/webhook.secret).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Enabled pipelines for the pipeline target (created if missing).
    #[arg(long, default_value_t = 100)]
    pipelines: usize,
    /// Calls per case of the list target.
    #[arg(long, default_value_t = 200)]
    list_requests: usize,
    /// Page size the list target asks for.
    #[arg(long, default_value_t = 50)]
    page_size: i32,
}

/// Runs the targets one after another and prints each one's summary.
pub async fn run(
    args: BenchArgs,
    server: String,
    api_key: Option<String>,
    output: Output,
) -> Result<(), CliError> {
    let passphrase = match (args.passphrase, args.passphrase_file) {
        (Some(passphrase), _) => passphrase,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("--passphrase-file {}: {e}", path.display()))?,
        (None, None) => std::fs::read_to_string("data/webhook.secret")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    };
    if args.target.contains(&Target::Webhook) && passphrase.is_empty() {
        return Err("the webhook target needs --passphrase, --passphrase-file or TRADEPLANE_WEBHOOK_PASSPHRASE".into());
    }
    let options = BenchOptions {
        server,
        api_key,
        webhook_url: args.webhook_url,
        passphrase,
        concurrency: args.concurrency.max(1),
        connections: args.connections.max(1),
        duration: args.duration,
        warmup: args.warmup,
        progress: !args.no_progress && output == Output::Table,
        pipelines: args.pipelines,
    };
    let mut reports = Vec::new();
    let mut list_reports = Vec::new();
    for target in args.target {
        if target == Target::List {
            let list = ListOptions {
                requests: args.list_requests,
                budget: args.duration,
                page_size: args.page_size,
            };
            let client = Client::connect(&options.server, options.api_key.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let cases = bench_lists::run(&client, &list)
                .await
                .map_err(|e| format!("List bench: {e:#}"))?;
            if output == Output::Table {
                for case in &cases {
                    println!("{}", case.summary());
                    if let Some(error) = &case.first_error {
                        println!("         first error: {error}");
                    }
                }
            }
            list_reports.extend(cases);
            continue;
        }
        let report = bench::run(target, &options)
            .await
            .map_err(|e| format!("{target:?} bench: {e:#}"))?;
        if output == Output::Table {
            println!("{}", report.summary());
            if let Some(error) = &report.first_error {
                println!("         first error: {error}");
            }
        }
        reports.push(report);
    }
    let throughput = |t: Target| {
        reports
            .iter()
            .find(|r| r.target == t)
            .map(|r| r.throughput_per_second)
    };
    let ratio = |numerator: Target, denominator: Target| match (
        throughput(numerator),
        throughput(denominator),
    ) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let submit_ratio = ratio(Target::Submit, Target::Health);
    let pipeline_ratio = ratio(Target::Pipeline, Target::Submit);
    match output {
        Output::Json | Output::ProtoJson | Output::Yaml | Output::Quiet => print_value(
            output,
            json!({ "reports": reports, "lists": list_reports, "submit_to_health_ratio": submit_ratio, "pipeline_to_submit_ratio": pipeline_ratio }),
            String::new,
        ),
        Output::Table => {
            if let Some(ratio) = submit_ratio {
                println!("submit/health throughput ratio: {ratio:.2}");
            }
            if let Some(ratio) = pipeline_ratio {
                println!("signal-to-fill/submit throughput ratio: {ratio:.2}");
            }
        }
    }
    Ok(())
}

//! `warren perf`: a load generator for any AMQP 0-9-1 broker, modeled on
//! RabbitMQ's PerfTest. It prints rates every second and a summary at the end
//! (`--json` for machines), and stops by itself after `--duration`.

mod client;
mod throughput;

use clap::{Args, Subcommand};

/// `warren perf` arguments.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Publishers and consumers on one or more queues: msg/s and end-to-end latency.
    Throughput(throughput::ThroughputArgs),
}

/// Runs the chosen scenario.
pub async fn run(args: PerfArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Throughput(a) => throughput::run(a).await,
    }
}

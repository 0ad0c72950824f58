//! `warren perf`: a load generator for any AMQP 0-9-1 broker, modeled on
//! RabbitMQ's PerfTest and lavinmqperf. Every scenario prints rates every second
//! and a summary at the end (`--json` for machines), and stops by itself after
//! `--duration` or its count. With `--broker-pid` it adds the broker's CPU time
//! per message and RSS, read from /proc.

mod backlog;
mod client;
mod connections;
mod consumer;
mod fanout;
mod probe;
mod publisher;
mod queues;
mod report;
mod routed;
mod rpc;
mod throughput;
mod topic;

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
    /// One fanout exchange bound to N queues, a consumer each: deliveries/s.
    Fanout(fanout::FanoutArgs),
    /// Random routing keys over many wildcard bindings of a topic exchange: routed msg/s.
    Topic(topic::TopicArgs),
    /// Declare N queues and hold them idle: declare rate and RSS per queue.
    QueueCount(queues::QueueCountArgs),
    /// Open N idle connections and hold them: open rate and RSS per connection.
    ConnectionCount(connections::ConnectionCountArgs),
    /// Publish N messages with no consumer, then drain them: both rates and RSS.
    Backlog(backlog::BacklogArgs),
    /// Request/reply round trips over a reply queue or direct reply-to.
    Rpc(rpc::RpcArgs),
}

/// Runs the chosen scenario.
pub async fn run(args: PerfArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Throughput(a) => throughput::run(a).await,
        Scenario::Fanout(a) => fanout::run(a).await,
        Scenario::Topic(a) => topic::run(a).await,
        Scenario::QueueCount(a) => queues::run(a).await,
        Scenario::ConnectionCount(a) => connections::run(a).await,
        Scenario::Backlog(a) => backlog::run(a).await,
        Scenario::Rpc(a) => rpc::run(a).await,
    }
}

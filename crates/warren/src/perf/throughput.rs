//! The throughput scenario: P publishers and C consumers on one or more queues,
//! with optional confirms, prefetch, manual acks (multiple every N), persistence
//! and a fixed publish rate. Bodies carry a timestamp for end-to-end latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::client::{Client, Target};
use super::consumer::{consume, ConsumeSpec};
use super::probe::{report_opt, sample_opt, BrokerProbe, Sample};
use super::publisher::{publish, PublishSpec, Routes};
use super::report::{rates_every_second, Common, Counters, Summary, Totals};

/// Options of the throughput scenario (names follow PerfTest where it has one).
#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of publishing connections.
    #[arg(short = 'x', long, default_value_t = 1)]
    pub publishers: usize,
    /// Number of consuming connections.
    #[arg(short = 'y', long, default_value_t = 1)]
    pub consumers: usize,
    /// Message body size in bytes (at least 8 carry a latency timestamp).
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,
    /// Queue name (with --queues N > 1: NAME-0 … NAME-(N-1)).
    #[arg(short = 'u', long, default_value = "warren-perf")]
    pub queue: String,
    /// Number of queues; publishers send batches to each in turn, consumer i
    /// consumes the queues i, i+C, i+2C, …
    #[arg(long, default_value_t = 1)]
    pub queues: usize,
    /// Consumer prefetch (0 = unlimited).
    #[arg(short = 'q', long, default_value_t = 0)]
    pub prefetch: u16,
    /// Consumers acknowledge automatically (no-ack).
    #[arg(short = 'a', long)]
    pub auto_ack: bool,
    /// With manual acks, acknowledge every N deliveries with multiple=true.
    #[arg(short = 'A', long, default_value_t = 1)]
    pub multi_ack: u64,
    /// Publisher confirm window (0 = no confirms).
    #[arg(short = 'c', long, default_value_t = 0)]
    pub confirm: u64,
    /// Persistent messages (delivery_mode 2) on durable queues.
    #[arg(long)]
    pub persistent: bool,
    /// Publish rate limit per publisher in msg/s (0 = as fast as possible).
    #[arg(short = 'r', long, default_value_t = 0)]
    pub rate: u64,
}

/// The queue names of the run.
fn queue_names(args: &ThroughputArgs) -> Vec<String> {
    match args.queues {
        0 | 1 => vec![args.queue.clone()],
        n => (0..n).map(|i| format!("{}-{i}", args.queue)).collect(),
    }
}

/// The queues consumer `i` of `consumers` consumes from.
fn queues_of_consumer(queues: &[String], i: usize, consumers: usize) -> Vec<String> {
    if consumers >= queues.len() {
        return vec![queues[i % queues.len()].clone()];
    }
    queues.iter().skip(i).step_by(consumers).cloned().collect()
}

/// Runs the scenario and prints its report.
pub async fn run(args: ThroughputArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.common.uri)?;
    let queues = queue_names(&args);
    let mut setup = Client::connect(&target).await?;
    for q in &queues {
        setup.fresh_queue(q, args.persistent).await?;
    }
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let epoch = Instant::now();
    let deadline = args.common.deadline();
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    for i in 0..args.consumers {
        let spec = ConsumeSpec {
            queues: queues_of_consumer(&queues, i, args.consumers),
            prefetch: args.prefetch,
            auto_ack: args.auto_ack,
            multi_ack: args.multi_ack,
            total: 0,
        };
        let client = Client::connect(&target).await?;
        let (c, l) = (counters.clone(), latencies.clone());
        tasks.push(tokio::spawn(consume(client, spec, c, l, epoch, deadline)));
    }
    let probe = args.common.probe();
    let before = sample_opt(probe.as_ref());
    for i in 0..args.publishers {
        let mut keys: Vec<Vec<u8>> = queues.iter().map(|q| q.as_bytes().to_vec()).collect();
        let turn = i % keys.len();
        keys.rotate_left(turn);
        let spec = PublishSpec {
            exchange: String::new(),
            routes: Routes::RoundRobin(keys),
            size: args.size,
            persistent: args.persistent,
            confirm: args.confirm,
            rate: args.rate,
            count: 0,
        };
        let client = Client::connect(&target).await?;
        let c = counters.clone();
        tasks.push(tokio::spawn(async move {
            publish(client, spec, c, epoch, deadline).await.map(|_| ())
        }));
    }
    let Finished {
        totals,
        after,
        latencies: lat,
    } = finish_run(
        &counters,
        deadline,
        args.common.json,
        probe.as_ref(),
        tasks,
        &latencies,
    )
    .await;
    let mut s = Summary::new("throughput");
    s.int("publishers", args.publishers as u64)
        .int("consumers", args.consumers as u64)
        .int("queues", queues.len() as u64)
        .int("size", args.size as u64)
        .num("seconds", totals.seconds, 3)
        .int("published", totals.sent)
        .int("confirmed", totals.confirmed)
        .int("consumed", totals.received)
        .num("publish_rate", totals.sent as f64 / totals.seconds, 0)
        .num("consume_rate", totals.received as f64 / totals.seconds, 0)
        .latency("latency_us", &lat);
    report_opt(
        probe.as_ref(),
        &mut s,
        before,
        after,
        totals.sent.max(totals.received),
    );
    s.print(args.common.json);
    setup.clean_up(&queues).await;
    Ok(())
}

/// The end of a timed run: its totals, the broker sampled right after it, and
/// the sorted latencies.
pub struct Finished {
    /// Messages counted over the run.
    pub totals: Totals,
    /// The broker's CPU and memory just after the run.
    pub after: Sample,
    /// End-to-end latencies in microseconds, sorted.
    pub latencies: Vec<u64>,
}

/// Reports rates until `deadline`, samples the broker, stops the counters,
/// waits for the workers and collects their latencies: how every timed
/// scenario ends.
pub async fn finish_run<T>(
    counters: &Counters,
    deadline: tokio::time::Instant,
    quiet: bool,
    probe: Option<&BrokerProbe>,
    tasks: Vec<JoinHandle<anyhow::Result<T>>>,
    latencies: &Mutex<Vec<u64>>,
) -> Finished {
    let totals = rates_every_second(counters, deadline, quiet, "").await;
    let after = sample_opt(probe);
    counters.halt();
    join_all(tasks).await;
    let mut latencies = std::mem::take(&mut *latencies.lock());
    latencies.sort_unstable();
    Finished {
        totals,
        after,
        latencies,
    }
}

/// Waits (at most 5 s each) for the workers and reports their failures.
pub async fn join_all<T>(tasks: Vec<JoinHandle<anyhow::Result<T>>>) {
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => eprintln!("worker failed: {e:#}"),
            Ok(Err(e)) => eprintln!("worker panicked: {e}"),
            _ => {}
        }
    }
}

//! The queue-count scenario: declare N queues (a window of declares in flight),
//! time it, hold them idle, then delete them; with --broker-pid it reports the
//! broker's RSS per idle queue.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use warren_codec::spec::{queue, AMQPClass};

use super::client::{Client, Target};
use super::probe::sample_opt;
use super::report::{Common, Summary};

/// Options of the queue-count scenario.
#[derive(Debug, Clone, Args)]
pub struct QueueCountArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of queues to declare.
    #[arg(short = 'C', long, default_value_t = 10_000)]
    pub count: usize,
    /// Declares in flight at once (1 = one round trip per queue).
    #[arg(short = 'w', long, default_value_t = 100)]
    pub window: usize,
    /// Queue name prefix (queues are PREFIX-0 … PREFIX-(N-1)).
    #[arg(short = 'u', long, default_value = "warren-perf-q")]
    pub prefix: String,
    /// Seconds to hold the queues idle before deleting them.
    #[arg(long, default_value_t = 2)]
    pub hold: u64,
    /// Leave the queues in place.
    #[arg(long)]
    pub keep: bool,
}

/// Sends `methods` with at most `window` unanswered; returns how long it took.
async fn pipelined(
    client: &mut Client,
    methods: impl Iterator<Item = AMQPClass>,
    window: usize,
    deadline: tokio::time::Instant,
    quiet: bool,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let (mut sent, mut answered, mut last_print) = (0u64, 0u64, Instant::now());
    let mut methods = methods.peekable();
    while methods.peek().is_some() || answered < sent {
        while sent - answered < window.max(1) as u64 {
            let Some(m) = methods.next() else { break };
            client.send(1, m);
            sent += 1;
        }
        client.flush().await?;
        client.next_method(1).await?;
        answered += 1;
        if tokio::time::Instant::now() >= deadline {
            bail!("{answered} of the methods answered at the deadline");
        }
        if !quiet && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            println!(
                "time: {:.0}s, done: {answered}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok((answered, started.elapsed()))
}

/// Runs the scenario and prints its report.
pub async fn run(args: QueueCountArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.common.uri)?;
    let mut client = Client::connect(&target).await?;
    let probe = args.common.probe();
    let deadline = args.common.deadline();
    let quiet = args.common.json;
    let name = |i: usize| format!("{}-{i}", args.prefix);
    let s0 = sample_opt(probe.as_ref());
    let declares = (0..args.count).map(|i| {
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: name(i).into(),
            ..Default::default()
        }))
    });
    let (declared, took) = pipelined(&mut client, declares, args.window, deadline, quiet).await?;
    // Let the broker settle (RabbitMQ finishes queue processes asynchronously).
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let s1 = sample_opt(probe.as_ref());
    let mut s = Summary::new("queue-count");
    s.int("queues", declared)
        .int("window", args.window as u64)
        .num("declare_seconds", took.as_secs_f64(), 3)
        .num("declare_rate", declared as f64 / took.as_secs_f64(), 0);
    if let Some(p) = probe.as_ref() {
        let per_queue =
            s1.rss_kb.saturating_sub(s0.rss_kb) as f64 * 1024.0 / declared.max(1) as f64;
        s.int("broker_rss_kb_before", s0.rss_kb)
            .int("broker_rss_kb_with_queues", s1.rss_kb)
            .num("broker_rss_bytes_per_queue", per_queue, 0)
            .num("broker_declare_cpu_s", p.cpu_seconds(s0, s1), 2);
    }
    if !args.keep {
        let deletes = (0..args.count).map(|i| {
            AMQPClass::Queue(queue::AMQPMethod::Delete(queue::Delete {
                queue: name(i).into(),
                ..Default::default()
            }))
        });
        let (_, took) = pipelined(&mut client, deletes, args.window, deadline, quiet).await?;
        s.num("delete_seconds", took.as_secs_f64(), 3);
    }
    s.print(quiet);
    Ok(())
}

//! The backlog scenario: publish N messages with no consumer, wait until the
//! queue holds them all, then drain it with one consumer; reports both rates and
//! (with --broker-pid) the broker's RSS at full backlog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use parking_lot::Mutex;
use warren_codec::spec::queue;

use super::client::{Client, Target};
use super::consumer::{consume, ConsumeSpec};
use super::probe::{report_opt, sample_opt};
use super::publisher::{publish, PublishSpec, Routes};
use super::report::{rates_every_second, Common, Counters, Summary};

/// Options of the backlog scenario.
#[derive(Debug, Clone, Args)]
pub struct BacklogArgs {
    #[command(flatten)]
    pub common: Common,
    /// Messages to publish before draining.
    #[arg(short = 'C', long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Message body size in bytes.
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,
    /// Queue name.
    #[arg(short = 'u', long, default_value = "warren-perf-backlog")]
    pub queue: String,
    /// Publisher confirm window while filling (0 = no confirms).
    #[arg(short = 'c', long, default_value_t = 0)]
    pub confirm: u64,
    /// Drain with manual acks and this prefetch (0 = no-ack consumer).
    #[arg(short = 'q', long, default_value_t = 0)]
    pub prefetch: u16,
    /// With manual acks, acknowledge every N deliveries with multiple=true.
    #[arg(short = 'A', long, default_value_t = 100)]
    pub multi_ack: u64,
    /// Persistent messages (delivery_mode 2) on a durable queue.
    #[arg(long)]
    pub persistent: bool,
    /// Only fill the queue and leave it there (e.g. to time a broker restart);
    /// a later run with --drain-only takes it out.
    #[arg(long, conflicts_with = "drain_only")]
    pub fill_only: bool,
    /// Only drain a queue filled earlier (with --fill-only), then delete it.
    #[arg(long)]
    pub drain_only: bool,
}

/// Polls (passive declare) until the queue holds `count` messages; returns when.
async fn wait_for_depth(
    client: &mut Client,
    name: &str,
    count: u64,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Instant> {
    loop {
        let declare = queue::Declare {
            queue: name.into(),
            passive: true,
            ..Default::default()
        };
        let (_, depth) = client.declare(declare).await?;
        if depth as u64 >= count {
            return Ok(Instant::now());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("queue holds {depth} of {count} messages at the deadline");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the scenario and prints its report.
pub async fn run(args: BacklogArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.common.uri)?;
    let mut setup = Client::connect(&target).await?;
    if args.drain_only {
        setup.declare_queue(&args.queue, args.persistent).await?;
    } else {
        setup.fresh_queue(&args.queue, args.persistent).await?;
    }
    let probe = args.common.probe();
    let deadline = args.common.deadline();
    let epoch = Instant::now();
    let quiet = args.common.json;

    let fill = Arc::new(Counters::default());
    let spec = PublishSpec {
        exchange: String::new(),
        routes: Routes::Fixed(args.queue.as_bytes().to_vec()),
        size: args.size,
        persistent: args.persistent,
        confirm: args.confirm,
        rate: 0,
        count: args.count,
    };
    let s0 = sample_opt(probe.as_ref());
    let started = Instant::now();
    let (written, publish_s) = if args.drain_only {
        (0, 0.0)
    } else {
        let publisher = Client::connect(&target).await?;
        let (c, d) = (fill.clone(), deadline);
        let task = tokio::spawn(async move {
            let r = publish(publisher, spec, c.clone(), epoch, d).await;
            c.halt();
            r
        });
        rates_every_second(&fill, deadline, quiet, "publish ").await;
        let written = task.await??;
        let full_at = wait_for_depth(&mut setup, &args.queue, args.count, deadline).await?;
        (written, full_at.duration_since(started).as_secs_f64())
    };
    let s1 = sample_opt(probe.as_ref());
    if args.fill_only {
        let mut s = Summary::new("backlog");
        s.int("count", args.count)
            .int("published", written)
            .num("publish_seconds", publish_s, 3);
        s.num("publish_rate", written as f64 / publish_s.max(1e-9), 0);
        if probe.is_some() {
            s.int("broker_rss_kb_at_full_backlog", s1.rss_kb);
        }
        s.print(quiet);
        return Ok(());
    }

    let drain = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let spec = ConsumeSpec {
        queues: vec![args.queue.clone()],
        prefetch: args.prefetch,
        auto_ack: args.prefetch == 0,
        multi_ack: args.multi_ack,
        total: args.count,
    };
    let consumer = Client::connect(&target).await?;
    let started = Instant::now();
    let (c, l) = (drain.clone(), latencies.clone());
    let task = tokio::spawn(consume(consumer, spec, c, l, epoch, deadline));
    let t = rates_every_second(&drain, deadline, quiet, "drain ").await;
    drain.halt();
    task.await??;
    let drain_s = started.elapsed().as_secs_f64();
    let s2 = sample_opt(probe.as_ref());

    let mut s = Summary::new("backlog");
    s.int("count", args.count)
        .int("size", args.size as u64)
        .int("published", written)
        .num("publish_seconds", publish_s, 3)
        .num("publish_rate", written as f64 / publish_s.max(1e-9), 0)
        .int("drained", t.received)
        .num("drain_seconds", drain_s, 3)
        .num("drain_rate", t.received as f64 / drain_s, 0);
    if let Some(p) = probe.as_ref() {
        s.int("broker_rss_kb_before", s0.rss_kb)
            .int("broker_rss_kb_at_full_backlog", s1.rss_kb)
            .num(
                "broker_publish_cpu_us_per_msg",
                p.cpu_seconds(s0, s1) * 1e6 / args.count.max(1) as f64,
                2,
            )
            .num(
                "broker_drain_cpu_us_per_msg",
                p.cpu_seconds(s1, s2) * 1e6 / args.count.max(1) as f64,
                2,
            );
    }
    report_opt(probe.as_ref(), &mut s, s0, s2, args.count * 2);
    s.print(quiet);
    setup.clean_up(std::slice::from_ref(&args.queue)).await;
    Ok(())
}

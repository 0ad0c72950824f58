//! The run shared by the fanout and topic scenarios: one exchange, queues bound
//! to it, one consuming connection per queue, publishers on the exchange.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::client::{Client, Target};
use super::consumer::{consume, ConsumeSpec};
use super::probe::{report_opt, sample_opt};
use super::publisher::{publish, PublishSpec, Routes};
use super::report::{Common, Counters, Summary};
use super::throughput::{finish_run, Finished};

/// Options shared by the exchange-routing scenarios.
#[derive(Debug, Clone, Args)]
pub struct RoutedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of publishing connections.
    #[arg(short = 'x', long, default_value_t = 1)]
    pub publishers: usize,
    /// Message body size in bytes.
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,
    /// Consumer prefetch (0 = unlimited).
    #[arg(short = 'q', long, default_value_t = 0)]
    pub prefetch: u16,
    /// Manual acks (default: no-ack consumers).
    #[arg(long)]
    pub manual_ack: bool,
    /// With manual acks, acknowledge every N deliveries with multiple=true.
    #[arg(short = 'A', long, default_value_t = 100)]
    pub multi_ack: u64,
    /// Publish rate limit per publisher in msg/s (0 = as fast as possible).
    #[arg(short = 'r', long, default_value_t = 0)]
    pub rate: u64,
}

/// The topology and routing of one run.
pub struct Plan {
    /// Scenario name for the report.
    pub scenario: &'static str,
    /// Exchange name and type.
    pub exchange: (String, &'static str),
    /// (queue, binding key) pairs; queues in order of first appearance get consumers.
    pub bindings: Vec<(String, String)>,
    /// Routing keys of published messages.
    pub routes: Routes,
}

/// Declares the topology, runs publishers and consumers, prints the report.
pub async fn run(args: RoutedArgs, plan: Plan) -> anyhow::Result<()> {
    let target = Target::parse(&args.common.uri)?;
    let mut setup = Client::connect(&target).await?;
    let (exchange, kind) = plan.exchange.clone();
    setup.declare_exchange(&exchange, kind).await?;
    let mut queues: Vec<String> = Vec::new();
    for (q, key) in &plan.bindings {
        if !queues.contains(q) {
            setup.fresh_queue(q, false).await?;
            queues.push(q.clone());
        }
        setup.bind(q, &exchange, key).await?;
    }
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let epoch = Instant::now();
    let deadline = args.common.deadline();
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    for q in &queues {
        let spec = ConsumeSpec {
            queues: vec![q.clone()],
            prefetch: args.prefetch,
            auto_ack: !args.manual_ack,
            multi_ack: args.multi_ack,
            total: 0,
        };
        let client = Client::connect(&target).await?;
        let (c, l) = (counters.clone(), latencies.clone());
        tasks.push(tokio::spawn(consume(client, spec, c, l, epoch, deadline)));
    }
    let probe = args.common.probe();
    let before = sample_opt(probe.as_ref());
    for _ in 0..args.publishers {
        let spec = PublishSpec {
            exchange: exchange.clone(),
            routes: plan.routes.clone(),
            size: args.size,
            persistent: false,
            confirm: 0,
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
    let mut s = Summary::new(plan.scenario);
    s.int("publishers", args.publishers as u64)
        .int("queues", queues.len() as u64)
        .int("bindings", plan.bindings.len() as u64)
        .int("size", args.size as u64)
        .num("seconds", totals.seconds, 3)
        .int("published", totals.sent)
        .int("delivered", totals.received)
        .num("publish_rate", totals.sent as f64 / totals.seconds, 0)
        .num("delivery_rate", totals.received as f64 / totals.seconds, 0)
        .latency("latency_us", &lat);
    report_opt(probe.as_ref(), &mut s, before, after, totals.received);
    s.print(args.common.json);
    setup.clean_up(&queues).await;
    Ok(())
}

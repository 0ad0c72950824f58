//! The fanout scenario: publishers → a fanout exchange bound to N queues, one
//! consumer per queue; reports deliveries per second.

use clap::Args;

use super::publisher::Routes;
use super::routed::{self, Plan, RoutedArgs};

/// Options of the fanout scenario.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub routed: RoutedArgs,
    /// Number of queues bound to the exchange (each gets one consumer).
    #[arg(long, default_value_t = 10)]
    pub queues: usize,
    /// Exchange name (queues are NAME-0 … NAME-(N-1)).
    #[arg(short = 'e', long, default_value = "warren-perf-fanout")]
    pub exchange: String,
}

/// Runs the scenario and prints its report.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let bindings = (0..args.queues.max(1))
        .map(|i| (format!("{}-{i}", args.exchange), String::new()))
        .collect();
    let plan = Plan {
        scenario: "fanout",
        exchange: (args.exchange.clone(), "fanout"),
        bindings,
        routes: Routes::Fixed(Vec::new()),
    };
    routed::run(args.routed, plan).await
}

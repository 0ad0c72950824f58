//! The topic scenario: many wildcard bindings (`*` and `#`) on a topic exchange
//! spread over a few queues; each message's routing key is picked at random and
//! matches exactly one binding, so deliveries per second are routed msg/s.

use clap::Args;

use super::publisher::{Routes, XorShift};
use super::routed::{self, Plan, RoutedArgs};

/// Options of the topic scenario.
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    #[command(flatten)]
    pub routed: RoutedArgs,
    /// Number of wildcard bindings.
    #[arg(long, default_value_t = 1000)]
    pub bindings: usize,
    /// Number of queues the bindings are spread over (each gets one consumer).
    #[arg(long, default_value_t = 10)]
    pub queues: usize,
    /// Exchange name (queues are NAME-0 … NAME-(N-1)).
    #[arg(short = 'e', long, default_value = "warren-perf-topic")]
    pub exchange: String,
    /// Distinct routing keys to pick from at random.
    #[arg(long, default_value_t = 4096)]
    pub keys: usize,
}

/// Binding `i`: even ones end in `*`, odd ones in `#`.
fn binding_key(i: usize) -> String {
    let tail = if i.is_multiple_of(2) { "*" } else { "#" };
    format!("stock.s{i}.{tail}")
}

/// A routing key that matches binding `i` (and no other).
fn routing_key(i: usize, r: u64) -> String {
    format!("stock.s{i}.r{}", r % 100)
}

/// Runs the scenario and prints its report.
pub async fn run(args: TopicArgs) -> anyhow::Result<()> {
    let (n, q) = (args.bindings.max(1), args.queues.max(1));
    let bindings = (0..n)
        .map(|i| (format!("{}-{}", args.exchange, i % q), binding_key(i)))
        .collect();
    let mut rng = XorShift::new(0x5eed);
    let keys = (0..args.keys.max(1))
        .map(|_| {
            let r = rng.next_u64();
            routing_key((r % n as u64) as usize, r >> 32).into_bytes()
        })
        .collect();
    let plan = Plan {
        scenario: "topic",
        exchange: (args.exchange.clone(), "topic"),
        bindings,
        routes: Routes::Random(keys),
    };
    routed::run(args.routed, plan).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_names_its_own_binding() {
        assert_eq!(binding_key(4), "stock.s4.*");
        assert_eq!(binding_key(5), "stock.s5.#");
        assert_eq!(routing_key(5, 1234), "stock.s5.r34");
    }
}

//! What every scenario shares for reporting: counters, the once-a-second rate
//! line, latency percentiles, and the summary (human lines or one JSON object).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::probe::BrokerProbe;

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Broker to load.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub uri: String,
    /// Run time in seconds (count-driven scenarios: the most they may take).
    #[arg(short = 'z', long, default_value_t = 10)]
    pub duration: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// PID of the broker process on this host: adds its CPU time and RSS to the report.
    #[arg(long)]
    pub broker_pid: Option<u32>,
}

impl Common {
    /// When the scenario must stop.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(self.duration)
    }

    /// A probe on the broker process, if `--broker-pid` was given.
    pub fn probe(&self) -> Option<BrokerProbe> {
        self.broker_pid.map(BrokerProbe::new)
    }
}

/// Message counters shared by a scenario's workers.
#[derive(Default)]
pub struct Counters {
    /// Messages published.
    pub sent: AtomicU64,
    /// Publisher confirms received.
    pub confirmed: AtomicU64,
    /// Deliveries received.
    pub received: AtomicU64,
    /// Set to stop every worker.
    pub stop: AtomicBool,
}

impl Counters {
    /// Whether the workers were told to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Tells every worker to stop.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Counter totals at the end of a timed phase.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    /// Wall-clock length of the phase.
    pub seconds: f64,
    /// Messages published.
    pub sent: u64,
    /// Confirms received.
    pub confirmed: u64,
    /// Deliveries received.
    pub received: u64,
}

/// Prints "sent/received per second" once a second until `deadline` or until the
/// counters are stopped; returns the totals. `label` names the phase.
pub async fn rates_every_second(
    c: &Counters,
    deadline: tokio::time::Instant,
    quiet: bool,
    label: &str,
) -> Totals {
    let start = Instant::now();
    // Poll often so a phase that ends on a stop is timed to within 10 ms.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut last_sent, mut last_received, mut last_print) = (0, 0, Instant::now());
    while tokio::time::Instant::now() < deadline && !c.stopped() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
        if last_print.elapsed() < Duration::from_secs(1) {
            continue;
        }
        last_print = Instant::now();
        let (s, r) = (
            c.sent.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed),
        );
        if !quiet {
            println!(
                "{label}time: {:.0}s, sent: {} msg/s, received: {} msg/s",
                start.elapsed().as_secs_f64(),
                s - last_sent,
                r - last_received
            );
        }
        (last_sent, last_received) = (s, r);
    }
    Totals {
        seconds: start.elapsed().as_secs_f64(),
        sent: c.sent.load(Ordering::Relaxed),
        confirmed: c.confirmed.load(Ordering::Relaxed),
        received: c.received.load(Ordering::Relaxed),
    }
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A scenario's summary: ordered key/value pairs printed as lines or as JSON.
#[derive(Debug, Default)]
pub struct Summary {
    fields: Vec<(String, String, String)>,
}

impl Summary {
    /// A summary for `scenario`.
    pub fn new(scenario: &str) -> Summary {
        let mut s = Summary::default();
        s.text("scenario", scenario);
        s
    }

    /// Adds a whole number.
    pub fn int(&mut self, key: &str, value: u64) -> &mut Self {
        self.push(key, value.to_string(), value.to_string())
    }

    /// Adds a real number, shown with `decimals` digits.
    pub fn num(&mut self, key: &str, value: f64, decimals: usize) -> &mut Self {
        let v = if value.is_finite() { value } else { 0.0 };
        self.push(key, format!("{v:.decimals$}"), format!("{v:.decimals$}"))
    }

    /// Adds a string.
    pub fn text(&mut self, key: &str, value: &str) -> &mut Self {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        self.push(key, format!("\"{escaped}\""), value.to_string())
    }

    /// Adds latency percentiles (in µs) of sorted nanosecond samples.
    pub fn latency(&mut self, key: &str, sorted_ns: &[u64]) -> &mut Self {
        let us = |p: f64| percentile(sorted_ns, p) as f64 / 1000.0;
        let json = format!(
            "{{\"samples\":{},\"p50\":{:.1},\"p95\":{:.1},\"p99\":{:.1},\"p999\":{:.1},\"max\":{:.1}}}",
            sorted_ns.len(),
            us(0.5),
            us(0.95),
            us(0.99),
            us(0.999),
            us(1.0)
        );
        let human = format!(
            "p50 {:.1}, p95 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1} µs ({} samples)",
            us(0.5),
            us(0.95),
            us(0.99),
            us(0.999),
            us(1.0),
            sorted_ns.len()
        );
        self.push(key, json, human)
    }

    fn push(&mut self, key: &str, json: String, human: String) -> &mut Self {
        self.fields.push((key.to_string(), json, human));
        self
    }

    /// Prints the summary: one JSON object, or "key: value" lines.
    pub fn print(&self, json: bool) {
        if json {
            let mut out = String::from("{");
            for (i, (k, v, _)) in self.fields.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}\"{k}\":{v}");
            }
            out.push('}');
            println!("{out}");
        } else {
            println!("summary:");
            for (k, _, v) in &self.fields {
                println!("  {k}: {v}");
            }
        }
    }
}

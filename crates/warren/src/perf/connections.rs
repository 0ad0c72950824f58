//! The connection-count scenario: open N connections (handshake + one channel
//! each, no heartbeats), hold them idle, then close them; with --broker-pid it
//! reports the broker's RSS per idle connection. Raises this process's open-file
//! limit to its hard limit first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::Semaphore;

use super::client::{Client, Target};
use super::probe::sample_opt;
use super::report::{Common, Summary};

/// Options of the connection-count scenario.
#[derive(Debug, Clone, Args)]
pub struct ConnectionCountArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of connections to open.
    #[arg(short = 'C', long, default_value_t = 10_000)]
    pub count: usize,
    /// Handshakes in flight at once.
    #[arg(short = 'w', long, default_value_t = 50)]
    pub window: usize,
    /// Seconds to hold the connections idle before closing them.
    #[arg(long, default_value_t = 2)]
    pub hold: u64,
}

/// Raises RLIMIT_NOFILE to its hard limit; returns the soft limit now in force.
pub fn raise_file_limit() -> u64 {
    let hard = warren_core::sys::file_limits().map_or(0, |(_, hard)| hard);
    warren_core::sys::raise_file_limit(hard)
}

/// Runs the scenario and prints its report.
pub async fn run(args: ConnectionCountArgs) -> anyhow::Result<()> {
    let limit = raise_file_limit();
    if (limit as usize) < args.count + 64 {
        eprintln!(
            "warning: open-file limit {limit} is below {} connections",
            args.count
        );
    }
    let target = Arc::new(Target::parse(&args.common.uri)?);
    let probe = args.common.probe();
    let quiet = args.common.json;
    let s0 = sample_opt(probe.as_ref());
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.window.max(1)));
    let opened = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(args.count);
    for _ in 0..args.count {
        let (gate, target, opened) = (gate.clone(), target.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let client = Client::connect_with(&target, 512).await?;
            opened.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(client)
        }));
    }
    let printer = (!quiet).then(|| {
        let opened = opened.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = opened.load(Ordering::Relaxed);
                println!("time: {:.0}s, open: {n}", started.elapsed().as_secs_f64());
            }
        })
    });
    let deadline = args.common.deadline();
    let mut clients = Vec::with_capacity(args.count);
    let mut failures = 0u64;
    let mut first_error = None;
    for t in tasks {
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(Ok(c))) => clients.push(c),
            Ok(Ok(Err(e))) => {
                failures += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            _ => failures += 1,
        }
    }
    let took = started.elapsed();
    if let Some(p) = printer {
        p.abort();
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let s1 = sample_opt(probe.as_ref());
    let held = clients.len() as u64;
    let mut s = Summary::new("connection-count");
    s.int("requested", args.count as u64)
        .int("held", held)
        .int("failed", failures)
        .num("open_seconds", took.as_secs_f64(), 3)
        .num("open_rate", held as f64 / took.as_secs_f64(), 0)
        .int("file_limit", limit);
    if let Some(e) = first_error {
        s.text("first_error", &e);
    }
    if let Some(p) = probe.as_ref() {
        let per = s1.rss_kb.saturating_sub(s0.rss_kb) as f64 * 1024.0 / held.max(1) as f64;
        s.int("broker_rss_kb_before", s0.rss_kb)
            .int("broker_rss_kb_with_connections", s1.rss_kb)
            .num("broker_rss_bytes_per_connection", per, 0)
            .num("broker_open_cpu_s", p.cpu_seconds(s0, s1), 2);
    }
    drop(clients);
    s.print(quiet);
    Ok(())
}

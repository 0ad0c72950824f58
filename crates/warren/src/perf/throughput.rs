//! The throughput scenario: P publishers and C consumers on one queue, with
//! optional confirms, prefetch, manual acks (multiple every N), persistence and a
//! fixed publish rate. Bodies carry a timestamp for end-to-end latency.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use clap::Args;
use parking_lot::Mutex;
use warren_codec::encode::write_confirm;
use warren_codec::frame::FRAME_END;
use warren_codec::properties::encode_properties;
use warren_codec::spec::basic::{self, AMQPProperties};
use warren_codec::spec::{confirm, AMQPClass};
use warren_codec::FrameKind;

use super::client::{Client, Target};

/// Options of the throughput scenario (names follow PerfTest where it has one).
#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// Broker to load.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub uri: String,
    /// Number of publishing connections.
    #[arg(short = 'x', long, default_value_t = 1)]
    pub publishers: usize,
    /// Number of consuming connections.
    #[arg(short = 'y', long, default_value_t = 1)]
    pub consumers: usize,
    /// Message body size in bytes (at least 8 carry a latency timestamp).
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,
    /// Run time in seconds.
    #[arg(short = 'z', long, default_value_t = 10)]
    pub duration: u64,
    /// Queue name.
    #[arg(short = 'u', long, default_value = "warren-perf")]
    pub queue: String,
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
    /// Persistent messages (delivery_mode 2) on a durable queue.
    #[arg(long)]
    pub persistent: bool,
    /// Publish rate limit per publisher in msg/s (0 = as fast as possible).
    #[arg(short = 'r', long, default_value_t = 0)]
    pub rate: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    confirmed: AtomicU64,
    consumed: AtomicU64,
    stop: AtomicBool,
}

/// Runs the scenario and prints its report.
pub async fn run(args: ThroughputArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.uri)?;
    let mut setup = Client::connect(&target).await?;
    setup.declare_queue(&args.queue, args.persistent).await?;
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let epoch = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for _ in 0..args.consumers {
        let client = Client::connect(&target).await?;
        tasks.push(tokio::spawn(consume(
            client,
            args.clone(),
            counters.clone(),
            latencies.clone(),
            epoch,
            deadline,
        )));
    }
    for _ in 0..args.publishers {
        let client = Client::connect(&target).await?;
        tasks.push(tokio::spawn(publish(
            client,
            args.clone(),
            counters.clone(),
            epoch,
            deadline,
        )));
    }
    let report = report_every_second(&counters, deadline, args.json).await;
    counters.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => eprintln!("worker failed: {e:#}"),
            Ok(Err(e)) => eprintln!("worker panicked: {e}"),
            _ => {}
        }
    }
    let mut lat = std::mem::take(&mut *latencies.lock());
    lat.sort_unstable();
    print_summary(&args, report, &lat);
    Ok(())
}

struct Totals {
    seconds: f64,
    published: u64,
    confirmed: u64,
    consumed: u64,
}

async fn report_every_second(c: &Counters, deadline: tokio::time::Instant, quiet: bool) -> Totals {
    let start = Instant::now();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let (mut last_pub, mut last_con) = (0, 0);
    let mut second = 0;
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
        second += 1;
        let (p, k) = (
            c.published.load(Ordering::Relaxed),
            c.consumed.load(Ordering::Relaxed),
        );
        if !quiet {
            println!(
                "time: {second}s, sent: {} msg/s, received: {} msg/s",
                p - last_pub,
                k - last_con
            );
        }
        (last_pub, last_con) = (p, k);
    }
    Totals {
        seconds: start.elapsed().as_secs_f64(),
        published: c.published.load(Ordering::Relaxed),
        confirmed: c.confirmed.load(Ordering::Relaxed),
        consumed: c.consumed.load(Ordering::Relaxed),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn print_summary(args: &ThroughputArgs, t: Totals, lat: &[u64]) {
    let us = |p: f64| percentile(lat, p) as f64 / 1000.0;
    let pub_rate = t.published as f64 / t.seconds;
    let con_rate = t.consumed as f64 / t.seconds;
    if args.json {
        println!(
            "{{\"scenario\":\"throughput\",\"publishers\":{},\"consumers\":{},\"size\":{},\"seconds\":{:.3},\"published\":{},\"confirmed\":{},\"consumed\":{},\"publish_rate\":{:.0},\"consume_rate\":{:.0},\"latency_us\":{{\"p50\":{:.1},\"p95\":{:.1},\"p99\":{:.1},\"p999\":{:.1},\"max\":{:.1}}}}}",
            args.publishers, args.consumers, args.size, t.seconds, t.published, t.confirmed, t.consumed,
            pub_rate, con_rate, us(0.5), us(0.95), us(0.99), us(0.999), us(1.0)
        );
    } else {
        println!(
            "summary: {:.1}s, published {} ({:.0} msg/s), confirmed {}, consumed {} ({:.0} msg/s)",
            t.seconds, t.published, pub_rate, t.confirmed, t.consumed, con_rate
        );
        println!(
            "latency (µs): p50 {:.1}, p95 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1} ({} samples)",
            us(0.5),
            us(0.95),
            us(0.99),
            us(0.999),
            us(1.0),
            lat.len()
        );
    }
}

/// Pre-encoded publish method + content header for one message shape.
fn message_prefix(args: &ThroughputArgs) -> BytesMut {
    let mut buf = BytesMut::new();
    let publish = basic::Publish {
        exchange: "".into(),
        routing_key: args.queue.as_str().into(),
        mandatory: false,
        immediate: false,
    };
    warren_codec::encode::write_method(
        &mut buf,
        1,
        &AMQPClass::Basic(basic::AMQPMethod::Publish(publish)),
    );
    let props = if args.persistent {
        AMQPProperties::default().with_delivery_mode(2)
    } else {
        AMQPProperties::default()
    };
    let props = encode_properties(&props);
    let start = buf.len();
    buf.put_u8(FrameKind::Header as u8);
    buf.put_u16(1);
    buf.put_u32((12 + props.len()) as u32);
    buf.put_u16(60);
    buf.put_u16(0);
    buf.put_u64(args.size as u64);
    buf.put_slice(&props);
    buf.put_u8(FRAME_END);
    debug_assert!(buf.len() > start);
    buf
}

fn put_body(out: &mut BytesMut, size: usize, now_ns: u64, frame_max: usize) {
    let mut body = vec![0u8; size];
    if size >= 8 {
        body[..8].copy_from_slice(&now_ns.to_be_bytes());
    }
    for chunk in body.chunks(frame_max.saturating_sub(8).max(1)) {
        out.put_u8(FrameKind::Body as u8);
        out.put_u16(1);
        out.put_u32(chunk.len() as u32);
        out.put_slice(chunk);
        out.put_u8(FRAME_END);
    }
}

async fn publish(
    mut client: Client,
    args: ThroughputArgs,
    c: Arc<Counters>,
    epoch: Instant,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    if args.confirm > 0 {
        client
            .call(AMQPClass::Confirm(confirm::AMQPMethod::Select(
                confirm::Select { nowait: false },
            )))
            .await?;
    }
    let prefix = message_prefix(&args);
    let batch = if args.rate > 0 {
        (args.rate / 100).clamp(1, 100)
    } else {
        100
    };
    let (mut sent, mut confirmed) = (0u64, 0u64);
    let started = tokio::time::Instant::now();
    while !c.stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
        let room = if args.confirm > 0 {
            (args.confirm - (sent - confirmed)).min(batch)
        } else {
            batch
        };
        for _ in 0..room {
            client.out.extend_from_slice(&prefix);
            put_body(
                &mut client.out,
                args.size,
                epoch.elapsed().as_nanos() as u64,
                client.frame_max,
            );
        }
        sent += room;
        client.flush().await?;
        c.published.fetch_add(room, Ordering::Relaxed);
        if args.confirm > 0 && sent - confirmed >= args.confirm {
            let acked = read_confirms(&mut client, confirmed, deadline).await?;
            c.confirmed.fetch_add(acked - confirmed, Ordering::Relaxed);
            confirmed = acked;
        }
        if args.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / args.rate as f64);
            tokio::time::sleep_until(due.min(deadline)).await;
        }
    }
    Ok(())
}

/// Reads until at least one confirm arrives; returns the highest confirmed tag.
async fn read_confirms(
    client: &mut Client,
    mut confirmed: u64,
    deadline: tokio::time::Instant,
) -> anyhow::Result<u64> {
    let start = confirmed;
    while confirmed == start {
        tokio::select! {
            r = client.fill() => r?,
            _ = tokio::time::sleep_until(deadline) => return Ok(confirmed),
        }
        while let Some(frame) = client.buffered_frame()? {
            let p = &frame.payload;
            if frame.kind == FrameKind::Method && p.len() >= 13 && p[..4] == [0, 60, 0, 80] {
                let tag = u64::from_be_bytes([p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]]);
                confirmed = if p[12] & 1 != 0 {
                    tag
                } else {
                    confirmed.max(tag)
                };
            } else if frame.kind == FrameKind::Method && p.len() >= 4 && p[..4] == [0, 60, 0, 120] {
                anyhow::bail!("broker nacked a publish");
            }
        }
    }
    Ok(confirmed)
}

async fn consume(
    mut client: Client,
    args: ThroughputArgs,
    c: Arc<Counters>,
    latencies: Arc<Mutex<Vec<u64>>>,
    epoch: Instant,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    if args.prefetch > 0 {
        client.qos(args.prefetch).await?;
    }
    let consume = basic::Consume {
        queue: args.queue.as_str().into(),
        no_ack: args.auto_ack,
        ..Default::default()
    };
    client
        .call(AMQPClass::Basic(basic::AMQPMethod::Consume(consume)))
        .await?;
    let mut samples = Vec::with_capacity(1 << 16);
    let (mut last_tag, mut unacked) = (0u64, 0u64);
    let mut expect_body = false;
    while !c.stop.load(Ordering::Relaxed) {
        tokio::select! {
            r = client.fill() => r?,
            _ = tokio::time::sleep_until(deadline) => break,
        }
        let mut consumed = 0;
        while let Some(frame) = client.buffered_frame()? {
            let p = &frame.payload;
            match frame.kind {
                FrameKind::Method if p.len() >= 5 && p[..4] == [0, 60, 0, 60] => {
                    let tag_at = 5 + p[4] as usize;
                    if let Some(t) = p.get(tag_at..tag_at + 8) {
                        last_tag =
                            u64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
                    }
                    consumed += 1;
                    expect_body = true;
                }
                FrameKind::Body if expect_body => {
                    expect_body = false;
                    if p.len() >= 8 && samples.len() < 5_000_000 {
                        let sent =
                            u64::from_be_bytes([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]]);
                        samples.push((epoch.elapsed().as_nanos() as u64).saturating_sub(sent));
                    }
                }
                _ => {}
            }
        }
        c.consumed.fetch_add(consumed, Ordering::Relaxed);
        if !args.auto_ack {
            unacked += consumed;
            if unacked >= args.multi_ack.max(1) {
                write_confirm(&mut client.out, 1, last_tag, true, true);
                unacked = 0;
            }
            if !client.out.is_empty() {
                client.flush().await?;
            }
        }
    }
    latencies.lock().extend(samples);
    Ok(())
}

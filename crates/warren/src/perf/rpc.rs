//! The rpc scenario: clients publish requests carrying reply_to to a request
//! queue, one server consumes them and publishes each body back to its reply_to;
//! replies come back on an exclusive reply queue or through direct reply-to
//! (amq.rabbitmq.reply-to). Reports round trips per second and their latency.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use warren_codec::content::decode_content_header;
use warren_codec::properties::RawProperties;
use warren_codec::spec::queue;
use warren_codec::FrameKind;

use super::client::{Client, Target};
use super::consumer::{body_stamp, DeliveryScan};
use super::probe::{report_opt, sample_opt};
use super::publisher::{properties, put_publish, stamp};
use super::report::{Common, Counters, Summary};
use super::throughput::{finish_run, Finished};

const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Options of the rpc scenario.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    #[command(flatten)]
    pub common: Common,
    /// Number of client connections.
    #[arg(short = 'x', long, default_value_t = 1)]
    pub clients: usize,
    /// Requests each client keeps outstanding.
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Request and reply body size in bytes (at least 8).
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,
    /// Request queue name.
    #[arg(short = 'u', long, default_value = "warren-perf-rpc")]
    pub queue: String,
    /// Replies through direct reply-to instead of an exclusive reply queue.
    #[arg(long)]
    pub direct_reply_to: bool,
}

/// Runs the scenario and prints its report.
pub async fn run(args: RpcArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.common.uri)?;
    let mut setup = Client::connect(&target).await?;
    setup.fresh_queue(&args.queue, false).await?;
    let mut server = Client::connect(&target).await?;
    server.consume(&args.queue, true).await?;
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let epoch = Instant::now();
    let deadline = args.common.deadline();
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> =
        vec![tokio::spawn(serve(server, counters.clone(), deadline))];
    let probe = args.common.probe();
    let before = sample_opt(probe.as_ref());
    for _ in 0..args.clients {
        let client = Client::connect(&target).await?;
        let (c, l, a) = (counters.clone(), latencies.clone(), args.clone());
        tasks.push(tokio::spawn(call(client, a, c, l, epoch, deadline)));
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
    let mut s = Summary::new("rpc");
    s.text(
        "reply",
        if args.direct_reply_to {
            "direct-reply-to"
        } else {
            "reply-queue"
        },
    )
    .int("clients", args.clients as u64)
    .int("in_flight", args.in_flight as u64)
    .num("seconds", totals.seconds, 3)
    .int("round_trips", totals.received)
    .num(
        "round_trip_rate",
        totals.received as f64 / totals.seconds,
        0,
    )
    .latency("latency_us", &lat);
    // Each round trip is two messages through the broker.
    report_opt(probe.as_ref(), &mut s, before, after, totals.received * 2);
    s.print(args.common.json);
    setup.clean_up(std::slice::from_ref(&args.queue)).await;
    Ok(())
}

/// The server: answers every request with its body, published to its reply_to.
async fn serve(
    mut client: Client,
    c: Arc<Counters>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    let (mut scan, mut reply_to) = (DeliveryScan::default(), None::<Vec<u8>>);
    let empty = properties(false, None);
    while !c.stopped() {
        tokio::select! {
            r = client.fill() => r?,
            _ = tokio::time::sleep_until(deadline) => break,
        }
        while let Some(frame) = client.buffered_frame()? {
            if frame.kind == FrameKind::Header {
                let h = decode_content_header(frame.payload.clone())?;
                reply_to = RawProperties::new(&h.properties)
                    .reply_to()
                    .map(<[u8]>::to_vec);
                continue;
            }
            let mut body = None;
            scan.frame(&frame, &mut |b| body = Some(b.to_vec()));
            if let (Some(body), Some(to)) = (body, reply_to.take()) {
                put_publish(&mut client.out, b"", &to, &empty, &body, client.frame_max);
            }
        }
        if !client.out.is_empty() {
            client.flush().await?;
        }
    }
    Ok(())
}

/// A client: keeps `in_flight` requests outstanding until the deadline.
async fn call(
    mut client: Client,
    args: RpcArgs,
    c: Arc<Counters>,
    latencies: Arc<Mutex<Vec<u64>>>,
    epoch: Instant,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    let reply_to = if args.direct_reply_to {
        DIRECT_REPLY_TO.to_string()
    } else {
        let declare = queue::Declare {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        client.declare(declare).await?.0
    };
    client.consume(&reply_to, true).await?;
    let props = properties(false, Some(&reply_to));
    let mut body = vec![0u8; args.size.max(8)];
    let mut request = |out: &mut bytes::BytesMut, frame_max| {
        body[..8].copy_from_slice(&stamp(epoch).to_be_bytes());
        put_publish(out, b"", args.queue.as_bytes(), &props, &body, frame_max);
    };
    for _ in 0..args.in_flight.max(1) {
        request(&mut client.out, client.frame_max);
    }
    client.flush().await?;
    let mut samples = Vec::with_capacity(1 << 16);
    let mut scan = DeliveryScan::default();
    while !c.stopped() {
        tokio::select! {
            r = client.fill() => r?,
            _ = tokio::time::sleep_until(deadline) => break,
        }
        let mut replies = 0u64;
        while let Some(frame) = client.buffered_frame()? {
            scan.frame(&frame, &mut |b| {
                if let Some(sent) = body_stamp(b) {
                    samples.push(stamp(epoch).saturating_sub(sent));
                    replies += 1;
                }
            });
        }
        for _ in 0..replies {
            request(&mut client.out, client.frame_max);
        }
        c.received.fetch_add(replies, Ordering::Relaxed);
        c.sent.fetch_add(replies, Ordering::Relaxed);
        if !client.out.is_empty() {
            client.flush().await?;
        }
    }
    latencies.lock().extend(samples);
    Ok(())
}

//! The publishing worker shared by the scenarios: it writes batches of
//! publish+header+body frames with one write each, keeps a confirm window,
//! holds a fixed rate, and stamps each body with its send time for latency.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use warren_codec::encode::write_content;
use warren_codec::frame::FRAME_END;
use warren_codec::properties::encode_properties;
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::spec::{confirm, AMQPClass};
use warren_codec::FrameKind;

use super::client::Client;
use super::report::Counters;

/// Where each message goes.
#[derive(Debug, Clone)]
pub enum Routes {
    /// Every message with this routing key.
    Fixed(Vec<u8>),
    /// One batch per key, in turn (several queues through the default exchange).
    RoundRobin(Vec<Vec<u8>>),
    /// A pseudo-random key per message from this list.
    Random(Vec<Vec<u8>>),
}

/// What and how to publish.
#[derive(Debug, Clone)]
pub struct PublishSpec {
    /// Exchange to publish to ("" is the default exchange).
    pub exchange: String,
    /// Routing keys.
    pub routes: Routes,
    /// Body size in bytes (bodies of 8 or more carry a send timestamp).
    pub size: usize,
    /// delivery_mode 2.
    pub persistent: bool,
    /// Confirm window (0 = no confirms).
    pub confirm: u64,
    /// Messages per second for this publisher (0 = as fast as possible).
    pub rate: u64,
    /// Stop after this many messages (0 = until the deadline).
    pub count: u64,
}

/// Nanoseconds since the scenario's epoch, the clock of body timestamps.
pub fn stamp(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// Appends basic.publish (channel 1) with its content to `out`.
pub fn put_publish(
    out: &mut BytesMut,
    exchange: &[u8],
    routing_key: &[u8],
    properties: &[u8],
    body: &[u8],
    frame_max: usize,
) {
    let size = 4 + 2 + 1 + exchange.len() + 1 + routing_key.len() + 1;
    out.reserve(size + 8 + 30 + properties.len() + body.len());
    out.put_u8(FrameKind::Method as u8);
    out.put_u16(1);
    out.put_u32(size as u32);
    out.put_u16(60);
    out.put_u16(40);
    out.put_u16(0);
    out.put_u8(exchange.len() as u8);
    out.put_slice(exchange);
    out.put_u8(routing_key.len() as u8);
    out.put_slice(routing_key);
    out.put_u8(0);
    out.put_u8(FRAME_END);
    write_content(out, 1, properties, body, frame_max);
}

/// Encoded properties for the spec's messages.
pub fn properties(persistent: bool, reply_to: Option<&str>) -> Bytes {
    let mut props = AMQPProperties::default();
    if persistent {
        props = props.with_delivery_mode(2);
    }
    if let Some(r) = reply_to {
        props = props.with_reply_to(r.into());
    }
    encode_properties(&props)
}

/// A small xorshift generator: cheap per message, good enough to pick keys.
pub struct XorShift(u64);

impl XorShift {
    /// Seeded generator (seed 0 is replaced).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Publishes until the deadline, the count, or a stop; returns messages sent.
pub async fn publish(
    mut client: Client,
    spec: PublishSpec,
    c: Arc<Counters>,
    epoch: Instant,
    deadline: tokio::time::Instant,
) -> anyhow::Result<u64> {
    if spec.confirm > 0 {
        client
            .call(AMQPClass::Confirm(confirm::AMQPMethod::Select(
                confirm::Select { nowait: false },
            )))
            .await?;
    }
    let props = properties(spec.persistent, None);
    let mut body = vec![0u8; spec.size];
    let mut rng = XorShift::new(epoch.elapsed().as_nanos() as u64 | 1);
    // At a fixed rate, send about one batch per millisecond (the timer's
    // resolution) so messages are spread evenly rather than sent in bursts.
    let batch = if spec.rate > 0 {
        (spec.rate / 1000).clamp(1, 100)
    } else {
        100
    };
    let (mut sent, mut confirmed, mut turn) = (0u64, 0u64, 0usize);
    let started = tokio::time::Instant::now();
    while !c.stopped() && tokio::time::Instant::now() < deadline {
        let mut room = batch;
        if spec.confirm > 0 {
            room = room.min(spec.confirm - (sent - confirmed));
        }
        if spec.count > 0 {
            room = room.min(spec.count - sent);
        }
        for _ in 0..room {
            if body.len() >= 8 {
                body[..8].copy_from_slice(&stamp(epoch).to_be_bytes());
            }
            let key: &[u8] = match &spec.routes {
                Routes::Fixed(k) => k,
                Routes::RoundRobin(keys) => &keys[turn % keys.len()],
                Routes::Random(keys) => &keys[(rng.next_u64() % keys.len() as u64) as usize],
            };
            put_publish(
                &mut client.out,
                spec.exchange.as_bytes(),
                key,
                &props,
                &body,
                client.frame_max,
            );
        }
        turn += 1;
        sent += room;
        client.flush().await?;
        c.sent.fetch_add(room, Ordering::Relaxed);
        if spec.confirm > 0 && (sent - confirmed >= spec.confirm || sent == spec.count) {
            let acked = read_confirms(&mut client, confirmed, deadline).await?;
            c.confirmed.fetch_add(acked - confirmed, Ordering::Relaxed);
            confirmed = acked;
        }
        if spec.count > 0 && sent >= spec.count {
            break;
        }
        if spec.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / spec.rate as f64);
            tokio::time::sleep_until(due.min(deadline)).await;
        }
    }
    Ok(sent)
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

//! The consuming worker shared by the scenarios: it reads whatever the socket
//! has, counts deliveries, samples end-to-end latency from the body timestamp,
//! and acknowledges with `multiple` every N deliveries.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use warren_codec::encode::write_confirm;
use warren_codec::{Frame, FrameKind};

use super::client::Client;
use super::publisher::stamp;
use super::report::Counters;

/// How to consume.
#[derive(Debug, Clone)]
pub struct ConsumeSpec {
    /// Queues to consume from (one consumer each, on channel 1).
    pub queues: Vec<String>,
    /// basic.qos prefetch (0 = unlimited).
    pub prefetch: u16,
    /// no-ack consumers.
    pub auto_ack: bool,
    /// With manual acks, ack with multiple=true every N deliveries.
    pub multi_ack: u64,
    /// Stop every worker once the scenario's total deliveries reach this (0 = never).
    pub total: u64,
}

/// Recognises deliveries in a frame stream.
#[derive(Debug, Default)]
pub struct DeliveryScan {
    expect_body: bool,
    /// Delivery tag of the last basic.deliver.
    pub last_tag: u64,
}

impl DeliveryScan {
    /// Looks at one frame; returns true for a basic.deliver. `on_body` sees the
    /// first body frame of each delivery.
    pub fn frame(&mut self, frame: &Frame, on_body: &mut impl FnMut(&[u8])) -> bool {
        let p = &frame.payload;
        match frame.kind {
            FrameKind::Method if p.len() >= 5 && p[..4] == [0, 60, 0, 60] => {
                let tag_at = 5 + p[4] as usize;
                if let Some(t) = p.get(tag_at..tag_at + 8) {
                    self.last_tag =
                        u64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
                }
                self.expect_body = true;
                true
            }
            FrameKind::Body if self.expect_body => {
                self.expect_body = false;
                on_body(p);
                false
            }
            _ => false,
        }
    }
}

/// Reads the send timestamp at the start of a body.
pub fn body_stamp(body: &[u8]) -> Option<u64> {
    let b: [u8; 8] = body.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Consumes until the deadline, a stop, or the scenario's total.
pub async fn consume(
    mut client: Client,
    spec: ConsumeSpec,
    c: Arc<Counters>,
    latencies: Arc<Mutex<Vec<u64>>>,
    epoch: Instant,
    deadline: tokio::time::Instant,
) -> anyhow::Result<()> {
    if spec.prefetch > 0 {
        client.qos(spec.prefetch).await?;
    }
    for q in &spec.queues {
        client.consume(q, spec.auto_ack).await?;
    }
    let mut samples = Vec::with_capacity(1 << 16);
    let mut scan = DeliveryScan::default();
    let mut unacked = 0u64;
    // Never wait for more unacked deliveries than the prefetch lets through.
    let ack_every = match spec.prefetch {
        0 => spec.multi_ack.max(1),
        p => spec.multi_ack.clamp(1, (p as u64 / 2).max(1)),
    };
    while !c.stopped() {
        tokio::select! {
            r = client.fill() => r?,
            _ = tokio::time::sleep_until(deadline) => break,
        }
        let mut consumed = 0;
        let mut on_body = |b: &[u8]| {
            if let (Some(sent), true) = (body_stamp(b), samples.len() < 5_000_000) {
                samples.push(stamp(epoch).saturating_sub(sent));
            }
        };
        while let Some(frame) = client.buffered_frame()? {
            consumed += scan.frame(&frame, &mut on_body) as u64;
        }
        let total = c.received.fetch_add(consumed, Ordering::Relaxed) + consumed;
        if spec.total > 0 && total >= spec.total {
            c.halt();
        }
        if !spec.auto_ack {
            unacked += consumed;
            if unacked >= ack_every {
                write_confirm(&mut client.out, 1, scan.last_tag, true, true);
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

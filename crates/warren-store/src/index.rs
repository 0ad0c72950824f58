//! Queue index logs: `queues/<hash>.idx`, one per durable queue, recording which
//! messages the queue holds (enqueue), which were delivered, and which were
//! acknowledged. Replaying it gives the queue's live messages in order.
//!
//! Record types (the first payload byte): 0 header (queue name), 1 enqueue
//! without an expiry (written before expiries were recorded: such a message's
//! expiry is unknown, see [`Expiry::Unrecorded`]), 2 deliver, 3 ack, 4 enqueue
//! with the message's expiry in this queue (Unix milliseconds, 0 = never).
//! Readers accept both enqueue types, so data directories written before type
//! 4 existed stay readable; type 1 is only written again when such an old
//! entry is compacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::record::{self, Read};

const HEADER_RECORD: u8 = 0;
const ENQUEUE: u8 = 1;
const DELIVER: u8 = 2;
const ACK: u8 = 3;
const ENQUEUE_WITH_EXPIRY: u8 = 4;

/// When a queue's copy of a message expires, as its index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// Written by a version that did not record expiries: the queue works it
    /// out again from its settings when the message is recovered.
    #[default]
    Unrecorded,
    /// The message does not expire in this queue.
    Never,
    /// It expires at this wall-clock time (milliseconds since the Unix epoch).
    At(u64),
}

impl Expiry {
    /// A recorded expiry from an optional deadline (Unix milliseconds).
    pub fn recorded(deadline_unix_ms: Option<u64>) -> Self {
        match deadline_unix_ms {
            Some(at) => Expiry::At(at.max(1)),
            None => Expiry::Never,
        }
    }

    fn encoded(self) -> Option<u64> {
        match self {
            Expiry::Unrecorded => None,
            Expiry::Never => Some(0),
            Expiry::At(at) => Some(at),
        }
    }

    fn decoded(raw: u64) -> Self {
        match raw {
            0 => Expiry::Never,
            at => Expiry::At(at),
        }
    }
}

/// Where a message record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// Segment id.
    pub segment: u32,
    /// Byte offset of the framed record.
    pub offset: u32,
    /// Framed length.
    pub len: u32,
}

/// One index operation, as queued for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOp {
    /// The queue holds message `id` stored at `location`.
    Enqueue {
        /// Message id.
        id: u64,
        /// Where its record is.
        location: Location,
        /// When the queue's copy expires.
        expiry: Expiry,
    },
    /// Message `id` was delivered (it comes back redelivered after a restart).
    Deliver {
        /// Message id.
        id: u64,
    },
    /// Message `id` left the queue (acked, rejected, expired, purged).
    Ack {
        /// Message id.
        id: u64,
        /// Segment of its record (for reference counting).
        segment: u32,
    },
}

/// Appends the framed record for `op` to `out`.
pub fn encode_op(out: &mut Vec<u8>, op: &IndexOp) {
    match *op {
        IndexOp::Enqueue {
            id,
            location,
            expiry,
        } => {
            let (kind, expiry) = match expiry.encoded() {
                Some(raw) => (ENQUEUE_WITH_EXPIRY, raw.to_le_bytes()),
                None => (ENQUEUE, [0; 8]),
            };
            let tail: &[u8] = if kind == ENQUEUE { &[] } else { &expiry };
            record::encode(
                out,
                &[
                    &[kind],
                    &id.to_le_bytes(),
                    &location.segment.to_le_bytes(),
                    &location.offset.to_le_bytes(),
                    &location.len.to_le_bytes(),
                    tail,
                ],
            )
        }
        IndexOp::Deliver { id } => record::encode(out, &[&[DELIVER], &id.to_le_bytes()]),
        IndexOp::Ack { id, segment } => {
            record::encode(out, &[&[ACK], &id.to_le_bytes(), &segment.to_le_bytes()])
        }
    }
}

/// Appends the header record naming the queue.
pub fn encode_header(out: &mut Vec<u8>, queue: &str) {
    record::encode(out, &[&[HEADER_RECORD], queue.as_bytes()]);
}

/// File name of a queue's index (a hash: queue names can be 255 bytes of anything).
pub fn index_path(dir: &Path, queue: &str) -> PathBuf {
    let digest = Sha256::digest(queue.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}.idx"))
}

/// A live message found by replaying an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveEntry {
    /// Message id.
    pub id: u64,
    /// Where its record is.
    pub location: Location,
    /// Whether it was delivered before.
    pub delivered: bool,
    /// When it expires in this queue.
    pub expiry: Expiry,
}

/// Problems met while replaying an index (reported, never fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProblem {
    /// A record with a bad checksum at this offset was skipped.
    Corrupt(u64),
    /// The file ends inside a record at this offset (torn final write); ignored.
    Torn(u64),
}

/// The result of replaying one index file.
#[derive(Debug, Default)]
pub struct Replay {
    /// Queue name from the header, if present.
    pub queue: Option<String>,
    /// Live entries in queue order.
    pub live: Vec<LiveEntry>,
    /// Records read (to decide on compaction).
    pub records: usize,
    /// Problems found.
    pub problems: Vec<IndexProblem>,
}

/// Replays an index file's bytes.
pub fn replay(data: &[u8]) -> Replay {
    let mut out = Replay::default();
    let mut live: BTreeMap<u64, LiveEntry> = BTreeMap::new();
    let mut order: Vec<u64> = Vec::new();
    let mut offset = 0;
    while let Some(read) = record::read_at(data, offset) {
        match read {
            Read::Record(payload, next) => {
                out.records += 1;
                apply(payload, &mut out, &mut live, &mut order);
                offset = next;
            }
            Read::Corrupt(next) => {
                out.problems.push(IndexProblem::Corrupt(offset as u64));
                offset = next;
            }
            Read::Torn => {
                out.problems.push(IndexProblem::Torn(offset as u64));
                break;
            }
        }
    }
    out.live = order
        .into_iter()
        .filter_map(|id| live.remove(&id))
        .collect();
    out
}

fn apply(
    payload: &[u8],
    out: &mut Replay,
    live: &mut BTreeMap<u64, LiveEntry>,
    order: &mut Vec<u64>,
) {
    let u64_at = |at: usize| {
        payload
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let u32_at = |at: usize| {
        payload
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    };
    match payload.first() {
        Some(&HEADER_RECORD) => {
            out.queue = Some(String::from_utf8_lossy(&payload[1..]).into_owned())
        }
        Some(&kind @ (ENQUEUE | ENQUEUE_WITH_EXPIRY)) => {
            let expiry = if kind == ENQUEUE {
                Some(Expiry::Unrecorded)
            } else {
                u64_at(21).map(Expiry::decoded)
            };
            if let (Some(id), Some(segment), Some(offset), Some(len), Some(expiry)) =
                (u64_at(1), u32_at(9), u32_at(13), u32_at(17), expiry)
            {
                if live
                    .insert(
                        id,
                        LiveEntry {
                            id,
                            location: Location {
                                segment,
                                offset,
                                len,
                            },
                            delivered: false,
                            expiry,
                        },
                    )
                    .is_none()
                {
                    order.push(id);
                }
            }
        }
        Some(&DELIVER) => {
            if let Some(entry) = u64_at(1).and_then(|id| live.get_mut(&id)) {
                entry.delivered = true;
            }
        }
        Some(&ACK) => {
            if let Some(id) = u64_at(1) {
                live.remove(&id);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(segment: u32, offset: u32) -> Location {
        Location {
            segment,
            offset,
            len: 10,
        }
    }

    #[test]
    fn replay_keeps_order_delivered_flags_and_drops_acked() {
        let mut buf = Vec::new();
        encode_header(&mut buf, "q1");
        for id in 1..=4 {
            encode_op(
                &mut buf,
                &IndexOp::Enqueue {
                    id,
                    location: loc(1, id as u32 * 10),
                    expiry: Expiry::Never,
                },
            );
        }
        encode_op(&mut buf, &IndexOp::Deliver { id: 2 });
        encode_op(&mut buf, &IndexOp::Ack { id: 3, segment: 1 });
        let r = replay(&buf);
        assert_eq!(r.queue.as_deref(), Some("q1"));
        let ids: Vec<(u64, bool)> = r.live.iter().map(|e| (e.id, e.delivered)).collect();
        assert_eq!(ids, vec![(1, false), (2, true), (4, false)]);
        assert!(r.problems.is_empty());
    }

    #[test]
    fn torn_tail_is_ignored_and_corrupt_middle_reported() {
        let mut buf = Vec::new();
        encode_header(&mut buf, "q");
        encode_op(
            &mut buf,
            &IndexOp::Enqueue {
                id: 1,
                location: loc(1, 0),
                expiry: Expiry::Never,
            },
        );
        let second = buf.len();
        encode_op(
            &mut buf,
            &IndexOp::Enqueue {
                id: 2,
                location: loc(1, 10),
                expiry: Expiry::Never,
            },
        );
        encode_op(
            &mut buf,
            &IndexOp::Enqueue {
                id: 3,
                location: loc(1, 20),
                expiry: Expiry::Never,
            },
        );
        let r = replay(&buf[..buf.len() - 3]);
        assert_eq!(r.live.len(), 2);
        assert!(matches!(r.problems[..], [IndexProblem::Torn(_)]));
        let mut flipped = buf.clone();
        flipped[second + 9] ^= 0x55;
        let r = replay(&flipped);
        assert_eq!(r.live.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(r.problems, vec![IndexProblem::Corrupt(second as u64)]);
    }

    #[test]
    fn expiries_round_trip_and_old_enqueue_records_stay_readable() {
        // An enqueue record as written before expiries were recorded: type 1,
        // id, segment, offset, length.
        let mut legacy = Vec::new();
        encode_header(&mut legacy, "q");
        let mut payload = vec![ENQUEUE];
        payload.extend_from_slice(&7u64.to_le_bytes());
        for v in [1u32, 0, 10] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        record::encode(&mut legacy, &[&payload]);
        let mut rewritten = Vec::new();
        encode_op(
            &mut rewritten,
            &IndexOp::Enqueue {
                id: 7,
                location: loc(1, 0),
                expiry: Expiry::Unrecorded,
            },
        );
        assert!(legacy.ends_with(&rewritten), "type 1 is written unchanged");
        for (id, expiry) in [(8, Expiry::Never), (9, Expiry::At(1_700_000_060_000))] {
            encode_op(
                &mut legacy,
                &IndexOp::Enqueue {
                    id,
                    location: loc(1, 10 * id as u32),
                    expiry,
                },
            );
        }
        let r = replay(&legacy);
        let got: Vec<(u64, Expiry)> = r.live.iter().map(|e| (e.id, e.expiry)).collect();
        assert_eq!(
            got,
            [
                (7, Expiry::Unrecorded),
                (8, Expiry::Never),
                (9, Expiry::At(1_700_000_060_000))
            ]
        );
        assert!(r.problems.is_empty());
    }
}

//! [`SegmentStore`], the message store of one vhost on disk: the pending batch
//! publishers and queues fill (under one short-held lock: an append cursor and
//! a buffer copy, no I/O), the writer thread that writes it, and recovery on
//! open.
//!
//! The writer publishes how far it has written the segments (an atomic
//! watermark, set right after it writes a batch's records and before it
//! syncs them), so [`MessageStore::is_written`] is one atomic load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{Result, StoreError};
pub use crate::index::Location;
use crate::index::{self, Expiry, IndexOp, IndexProblem};
pub use crate::message_store::{MessageStore, StoreConfig, SyncListener, Waiter};
pub use crate::segment::StoredMessage;
use crate::segment::{list_segments, SegmentReader};
use crate::writer::{write_index, Writer};

/// A writer-thread operation, kept in order with the others.
#[derive(Debug)]
pub(crate) enum Op {
    /// An index record for a queue.
    Index(Arc<str>, IndexOp),
    /// A queue was deleted: drop its index, release these segment references.
    DeleteQueue(Arc<str>, Vec<u32>),
}

/// What the writer takes in one go.
#[derive(Default)]
pub(crate) struct Batch {
    pub chunks: Vec<(u32, Vec<u8>)>,
    pub ops: Vec<Op>,
    pub waiters: Vec<(Arc<dyn SyncListener>, u64)>,
    pub shutdown: bool,
    pub generation: u64,
    /// The append cursor when the batch was taken ([`position`]): every
    /// record before it is in this batch or an earlier one.
    pub end: u64,
}

/// A point in the segments as one number, ordered as records are appended.
fn position(segment: u32, offset: u64) -> u64 {
    (u64::from(segment) << 32) | offset.min(u64::from(u32::MAX))
}

struct Pending {
    segment: u32,
    offset: u32,
    batch: Batch,
    /// Batches handed out so far.
    taken: u64,
    /// Batches fully written and synced as the writer required.
    written: u64,
}

/// State shared by the store handle and its writer thread.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub config: StoreConfig,
    pub reader: SegmentReader,
    pending: Mutex<Pending>,
    work: Condvar,
    done: Condvar,
    next_id: AtomicU64,
    /// How far the segments are written ([`position`]): a record ending at or
    /// before it can be read back.
    written_to: AtomicU64,
}

impl Shared {
    /// Waits for work (or `timeout`), then takes everything pending.
    pub fn take_batch(&self, timeout: Duration) -> Batch {
        let mut p = self.pending.lock();
        let idle = |p: &Pending| {
            p.batch.chunks.is_empty()
                && p.batch.ops.is_empty()
                && p.batch.waiters.is_empty()
                && !p.batch.shutdown
        };
        if idle(&p) {
            self.work.wait_for(&mut p, timeout);
        }
        p.taken += 1;
        let mut batch = std::mem::take(&mut p.batch);
        batch.generation = p.taken;
        batch.end = position(p.segment, u64::from(p.offset));
        batch
    }

    /// Moves appends on from `segment` if nothing is waiting to be written to it,
    /// so that the writer may delete it; returns whether it did.
    pub fn roll_if_idle(&self, segment: u32) -> bool {
        let mut p = self.pending.lock();
        if p.segment != segment || p.batch.chunks.iter().any(|(s, _)| *s == segment) {
            return false;
        }
        p.segment += 1;
        p.offset = 0;
        true
    }

    /// Records that a batch's message records are written (not yet synced):
    /// readers may read everything before `end`.
    pub fn mark_readable(&self, end: u64) {
        self.written_to.fetch_max(end, Ordering::Release);
    }

    /// Records that a batch is done (for [`MessageStore::flush`]).
    pub fn mark_written(&self, generation: u64) {
        let mut p = self.pending.lock();
        p.written = p.written.max(generation);
        self.done.notify_all();
    }

    fn push(&self, f: impl FnOnce(&mut Pending)) {
        let mut p = self.pending.lock();
        let was_idle =
            p.batch.chunks.is_empty() && p.batch.ops.is_empty() && p.batch.waiters.is_empty();
        f(&mut p);
        drop(p);
        if was_idle {
            self.work.notify_one();
        }
    }
}

/// A message found in a queue's index on recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredEntry {
    /// Message id.
    pub id: u64,
    /// Where its record is (read it with [`MessageStore::read`]).
    pub location: Location,
    /// It had been delivered before the restart (deliver it as redelivered).
    pub delivered: bool,
    /// When it expires in this queue, as recorded at enqueue.
    pub expiry: Expiry,
}

/// What [`SegmentStore::open`] found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Live messages per durable queue, in queue order.
    pub queues: HashMap<String, Vec<RecoveredEntry>>,
    /// Human-readable reports of torn or corrupt records (never fatal).
    pub problems: Vec<String>,
}

/// The message store of one vhost, in segment files with a writer thread.
pub struct SegmentStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SegmentStore {
    /// Opens (creating if needed) the store in `dir`, recovers the indexes of the
    /// queues for which `keep` is true, deletes the others, and starts the writer.
    pub fn open(
        dir: &Path,
        config: StoreConfig,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(SegmentStore, Recovered)> {
        let msgs = dir.join("msgs");
        let queues_dir = dir.join("queues");
        for d in [&msgs, &queues_dir] {
            std::fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
        }
        let segments = list_segments(&msgs)?;
        let (recovered, refs, live, max_id) = recover_indexes(&queues_dir, &segments, keep)?;
        let next_segment = segments.last().map_or(1, |s| s + 1);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            config,
            reader: SegmentReader::new(&msgs),
            pending: Mutex::new(Pending {
                segment: next_segment,
                offset: 0,
                batch: Batch::default(),
                taken: 0,
                written: 0,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            next_id: AtomicU64::new(max_id + 1),
            // Every existing segment is complete; new records go to a new one.
            written_to: AtomicU64::new(position(next_segment, 0)),
        });
        let mut writer = Writer::new(shared.clone(), refs, live);
        writer.sweep(&segments, next_segment);
        let handle = std::thread::Builder::new()
            .name("warren-store".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::io(dir, e))?;
        Ok((
            SegmentStore {
                shared,
                writer: Mutex::new(Some(handle)),
            },
            recovered,
        ))
    }
}

impl MessageStore for SegmentStore {
    fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// [`MessageStore::persist`] recording when the message expires in each
    /// queue: `expiries[i]` (Unix milliseconds) for `queues[i]`, none for a
    /// queue without an entry. A recovered message keeps that deadline.
    fn persist_expiring(
        &self,
        message: &StoredMessage,
        queues: &[Arc<str>],
        expiries: &[Option<u64>],
        waiter: Option<Waiter>,
    ) -> Location {
        let len = message.encoded_len() as u32;
        let segment_size = self.shared.config.segment_size;
        let mut location = Location {
            segment: 0,
            offset: 0,
            len,
        };
        self.shared.push(|p| {
            if p.offset > 0 && p.offset.saturating_add(len) > segment_size {
                p.segment += 1;
                p.offset = 0;
            }
            location.segment = p.segment;
            location.offset = p.offset;
            p.offset += len;
            let chunk = match p.batch.chunks.last_mut() {
                Some((s, buf)) if *s == p.segment => buf,
                _ => {
                    p.batch
                        .chunks
                        .push((p.segment, Vec::with_capacity(64 * 1024)));
                    &mut p.batch.chunks.last_mut().expect("just pushed").1
                }
            };
            message.encode(chunk);
            for (i, q) in queues.iter().enumerate() {
                let deadline = expiries.get(i).copied().flatten();
                p.batch.ops.push(Op::Index(
                    q.clone(),
                    IndexOp::Enqueue {
                        id: message.id,
                        location,
                        expiry: Expiry::recorded(deadline),
                    },
                ));
            }
            if let Some(w) = waiter {
                p.batch.waiters.push(w);
            }
        });
        location
    }

    /// Records that the queue delivered message `id` (it comes back redelivered).
    fn delivered(&self, queue: &Arc<str>, id: u64) {
        self.shared.push(|p| {
            p.batch
                .ops
                .push(Op::Index(queue.clone(), IndexOp::Deliver { id }))
        });
    }

    /// Records that message `id` left the queue for good.
    fn ack(&self, queue: &Arc<str>, id: u64, location: Location) {
        self.shared.push(|p| {
            p.batch.ops.push(Op::Index(
                queue.clone(),
                IndexOp::Ack {
                    id,
                    segment: location.segment,
                },
            ))
        });
    }

    /// Deletes a queue's index and releases every message it still held;
    /// `locations` are extra references to release (normally none).
    fn delete_queue(&self, queue: &Arc<str>, locations: &[Location]) {
        let segments: Vec<u32> = locations.iter().map(|l| l.segment).collect();
        self.shared
            .push(|p| p.batch.ops.push(Op::DeleteQueue(queue.clone(), segments)));
    }

    /// Asks for a sync as soon as possible and tells `listener` when done.
    fn sync(&self, listener: Arc<dyn SyncListener>, token: u64) {
        self.shared
            .push(|p| p.batch.waiters.push((listener, token)));
    }

    /// Blocks until everything queued before this call is written (and synced
    /// if anyone waited for it).
    fn flush(&self) {
        let mut p = self.shared.pending.lock();
        let target = p.taken + 1;
        self.shared.work.notify_one();
        while p.written < target {
            self.shared.done.wait_for(&mut p, Duration::from_millis(50));
            self.shared.work.notify_one();
        }
    }

    fn is_written(&self, location: Location) -> bool {
        let end = u64::from(location.offset) + u64::from(location.len);
        position(location.segment, end) <= self.shared.written_to.load(Ordering::Acquire)
    }

    fn read(&self, location: Location) -> Result<StoredMessage> {
        self.shared
            .reader
            .read(location.segment, location.offset, location.len)
    }

    /// Writes and syncs everything pending and stops the writer thread.
    fn close(&self) {
        self.shared.push(|p| p.batch.shutdown = true);
        self.shared.work.notify_one();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for SegmentStore {
    fn drop(&mut self) {
        self.close();
    }
}

type RecoveredState = (Recovered, HashMap<u32, u64>, HashMap<Arc<str>, u64>, u64);

/// Replays every queue index, reports problems, compacts what it keeps and
/// deletes the indexes of queues that no longer exist.
fn recover_indexes(
    dir: &Path,
    segments: &[u32],
    keep: impl Fn(&str) -> bool,
) -> Result<RecoveredState> {
    let mut recovered = Recovered::default();
    let mut refs: HashMap<u32, u64> = HashMap::new();
    let mut live_counts = HashMap::new();
    let mut max_id = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("idx") {
            let _ = std::fs::remove_file(&path); // leftover temporary files
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let replay = index::replay(&data);
        let Some(queue) = replay.queue.clone() else {
            recovered.problems.push(format!(
                "queue index {} has no header; removed",
                path.display()
            ));
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if !keep(&queue) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        for problem in &replay.problems {
            recovered.problems.push(match problem {
                IndexProblem::Corrupt(at) => {
                    format!("queue '{queue}': corrupt index record at offset {at} skipped")
                }
                IndexProblem::Torn(at) => {
                    format!("queue '{queue}': torn index record at offset {at} ignored")
                }
            });
        }
        let mut kept = Vec::with_capacity(replay.live.len());
        let mut kept_live = Vec::with_capacity(replay.live.len());
        for e in &replay.live {
            if segments.binary_search(&e.location.segment).is_err() {
                recovered.problems.push(format!(
                    "queue '{queue}': message {} refers to missing segment {}; dropped",
                    e.id, e.location.segment
                ));
                continue;
            }
            max_id = max_id.max(e.id);
            *refs.entry(e.location.segment).or_default() += 1;
            kept.push(RecoveredEntry {
                id: e.id,
                location: e.location,
                delivered: e.delivered,
                expiry: e.expiry,
            });
            kept_live.push(*e);
        }
        let dropped = kept.len() != replay.live.len();
        if dropped || !replay.problems.is_empty() || replay.records > kept.len() * 2 + 1 {
            write_index(&path, &queue, &kept_live).map_err(|e| StoreError::io(&path, e))?;
        }
        live_counts.insert(Arc::from(queue.as_str()), kept.len() as u64);
        recovered.queues.insert(queue, kept);
    }
    Ok((recovered, refs, live_counts, max_id))
}

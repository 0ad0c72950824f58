//! The writer thread: takes what publishers and consumers queued up, writes it
//! to segment and index files, syncs when a publisher waits for a confirm (one
//! sync for the whole batch: group commit), and deletes segments no queue
//! references any more.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::index::{encode_header, encode_op, index_path, replay, IndexOp, LiveEntry};
use crate::segment::segment_path;
use crate::store::{Batch, Op, Shared};

/// Largest index (in records) compacted by replaying it in memory.
const MAX_REPLAYED_COMPACTION: u64 = 1_000_000;

/// Index files kept open at once; others are reopened on demand.
const OPEN_INDEX_FILES: usize = 256;

struct IndexFile {
    file: File,
    records: u64,
    live: u64,
    /// `live` is known exactly (the file was created by this writer, rewritten
    /// by it, or counted by recovery), not guessed after reopening an evicted file.
    exact: bool,
}

/// State owned by the writer thread.
pub struct Writer {
    shared: Arc<Shared>,
    msgs_dir: PathBuf,
    queues_dir: PathBuf,
    segments: HashMap<u32, File>,
    indexes: HashMap<Arc<str>, IndexFile>,
    refs: HashMap<u32, u64>,
    /// Highest segment written: every lower one is complete.
    active: u32,
    dirty_segments: HashSet<u32>,
    dirty_indexes: HashSet<Arc<str>>,
    last_sync: Instant,
    scratch: Vec<u8>,
}

impl Writer {
    /// A writer starting with recovered segment reference counts.
    pub fn new(
        shared: Arc<Shared>,
        refs: HashMap<u32, u64>,
        live: HashMap<Arc<str>, u64>,
    ) -> Writer {
        let msgs_dir = shared.dir.join("msgs");
        let queues_dir = shared.dir.join("queues");
        let mut writer = Writer {
            shared,
            msgs_dir,
            queues_dir,
            segments: HashMap::new(),
            indexes: HashMap::new(),
            refs,
            active: 0,
            dirty_segments: HashSet::new(),
            dirty_indexes: HashSet::new(),
            last_sync: Instant::now(),
            scratch: Vec::new(),
        };
        for (queue, count) in live {
            if let Some(f) = writer.index(&queue) {
                f.live = count;
                f.records = count + 1;
                f.exact = true;
            }
        }
        writer
    }

    /// Runs until the store shuts down, then writes and syncs what is left.
    pub fn run(mut self) {
        loop {
            let batch = self.shared.take_batch(self.shared.config.sync_interval);
            let shutdown = batch.shutdown;
            self.process(batch);
            if shutdown {
                self.sync_all();
                return;
            }
        }
    }

    fn process(&mut self, batch: Batch) {
        for (segment, bytes) in &batch.chunks {
            self.write_segment(*segment, bytes);
        }
        // Written (in the page cache): readers need not wait for the sync.
        self.shared.mark_readable(batch.end);
        let mut released = Vec::new();
        for op in &batch.ops {
            self.apply(op, &mut released);
        }
        let wants_sync = !batch.waiters.is_empty()
            || self.last_sync.elapsed() >= self.shared.config.sync_interval;
        if wants_sync {
            self.sync_all();
        }
        for (listener, token) in batch.waiters {
            listener.synced(token);
        }
        for segment in released {
            self.release(segment);
        }
        self.reclaim();
        self.shared.mark_written(batch.generation);
    }

    fn write_segment(&mut self, segment: u32, bytes: &[u8]) {
        let path = segment_path(&self.msgs_dir, segment);
        if let std::collections::hash_map::Entry::Vacant(slot) = self.segments.entry(segment) {
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => {
                    slot.insert(f);
                }
                Err(e) => {
                    tracing::error!("cannot open segment {}: {e}", path.display());
                    return;
                }
            }
            self.refs.entry(segment).or_insert(0);
            if segment > self.active {
                self.active = segment;
                self.close_older(segment);
            }
        }
        if let Some(file) = self.segments.get_mut(&segment) {
            if let Err(e) = file.write_all(bytes) {
                tracing::error!("write to segment {} failed: {e}", path.display());
            }
            self.dirty_segments.insert(segment);
        }
    }

    fn apply(&mut self, op: &Op, released: &mut Vec<u32>) {
        match op {
            Op::Index(queue, index_op) => {
                match index_op {
                    IndexOp::Enqueue { location, .. } => {
                        *self.refs.entry(location.segment).or_default() += 1
                    }
                    IndexOp::Ack { segment, .. } => released.push(*segment),
                    IndexOp::Deliver { .. } => {}
                }
                self.append_index(queue, index_op);
            }
            Op::DeleteQueue(queue, segments) => {
                self.indexes.remove(queue);
                self.dirty_indexes.remove(queue);
                let path = index_path(&self.queues_dir, queue);
                // The index knows every message the queue still held, ready or
                // unacknowledged: release them all.
                if let Ok(data) = std::fs::read(&path) {
                    released.extend(replay(&data).live.iter().map(|e| e.location.segment));
                }
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!("cannot remove queue index {}: {e}", path.display());
                    }
                }
                released.extend_from_slice(segments);
            }
        }
    }

    fn index(&mut self, queue: &Arc<str>) -> Option<&mut IndexFile> {
        if !self.indexes.contains_key(queue) {
            if self.indexes.len() >= OPEN_INDEX_FILES {
                self.close_some_indexes();
            }
            let path = index_path(&self.queues_dir, queue);
            let existed = path.exists();
            let mut file = match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("cannot open queue index {}: {e}", path.display());
                    return None;
                }
            };
            if !existed {
                let mut header = Vec::new();
                encode_header(&mut header, queue);
                let _ = file.write_all(&header);
            }
            self.indexes.insert(
                queue.clone(),
                IndexFile {
                    file,
                    records: 1,
                    live: 0,
                    exact: !existed,
                },
            );
        }
        self.indexes.get_mut(queue)
    }

    fn close_some_indexes(&mut self) {
        let victims: Vec<Arc<str>> = self
            .indexes
            .keys()
            .take(OPEN_INDEX_FILES / 4)
            .cloned()
            .collect();
        for q in victims {
            if let Some(f) = self.indexes.remove(&q) {
                if self.dirty_indexes.remove(&q) {
                    let _ = f.file.sync_data();
                }
            }
        }
    }

    fn append_index(&mut self, queue: &Arc<str>, op: &IndexOp) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        encode_op(&mut buf, op);
        if let Some(f) = self.index(queue) {
            if let Err(e) = f.file.write_all(&buf) {
                tracing::error!("write to queue index of '{queue}' failed: {e}");
            }
            f.records += 1;
            match op {
                IndexOp::Enqueue { .. } => f.live += 1,
                IndexOp::Ack { .. } => f.live = f.live.saturating_sub(1),
                IndexOp::Deliver { .. } => {}
            }
            // Drained: shrinks back to its header (nothing to read). Mostly dead:
            // rewritten with its live entries, but only while the file is small
            // enough to replay in memory (a huge backlog waits until it drains).
            let drained = f.exact && f.live == 0 && f.records > 1_000;
            let mostly_dead =
                f.records > 4 * f.live + 100_000 && f.records <= MAX_REPLAYED_COMPACTION;
            let compact = drained || mostly_dead;
            self.dirty_indexes.insert(queue.clone());
            if compact {
                self.compact(queue);
            }
        }
        self.scratch = buf;
    }

    /// Rewrites a queue index with only its live entries.
    fn compact(&mut self, queue: &Arc<str>) {
        let path = index_path(&self.queues_dir, queue);
        let live_before = self
            .indexes
            .get(queue)
            .filter(|f| f.exact)
            .map_or(u64::MAX, |f| f.live);
        if let Some(f) = self.indexes.remove(queue) {
            let _ = f.file.sync_data();
        }
        self.dirty_indexes.remove(queue);
        let result = if live_before == 0 {
            write_index(&path, queue, &[]).map(|_| 0)
        } else {
            rewrite_index(&path, queue)
        };
        match result {
            Ok(live) => {
                if let Some(f) = self.index(queue) {
                    f.live = live;
                    f.records = live + 1;
                    f.exact = true;
                }
            }
            Err(e) => tracing::error!("compacting queue index {} failed: {e}", path.display()),
        }
    }

    fn sync_all(&mut self) {
        for segment in self.dirty_segments.drain() {
            if let Some(f) = self.segments.get(&segment) {
                if let Err(e) = f.sync_data() {
                    tracing::error!("fdatasync of segment {segment} failed: {e}");
                }
            }
        }
        for queue in self.dirty_indexes.drain() {
            if let Some(f) = self.indexes.get(&queue) {
                if let Err(e) = f.file.sync_data() {
                    tracing::error!("fdatasync of queue index '{queue}' failed: {e}");
                }
            }
        }
        self.last_sync = Instant::now();
    }

    /// Older segments are complete: sync and close them.
    fn close_older(&mut self, active: u32) {
        let older: Vec<u32> = self
            .segments
            .keys()
            .copied()
            .filter(|s| *s < active)
            .collect();
        for old in older {
            if let Some(f) = self.segments.remove(&old) {
                let _ = f.sync_data();
            }
            self.dirty_segments.remove(&old);
        }
    }

    /// Deletes complete segments no queue references. Runs at the end of a batch,
    /// once the batch's enqueue records have been counted.
    fn reclaim(&mut self) {
        // A drained active segment is closed and deleted too (if no publisher
        // is about to write to it), so an idle, empty store holds no data.
        let active_drained =
            self.refs.get(&self.active) == Some(&0) && self.segments.contains_key(&self.active);
        if active_drained && self.shared.roll_if_idle(self.active) {
            self.active += 1;
            self.close_older(self.active);
        }
        let active = self.active;
        let unreferenced: Vec<u32> = self
            .refs
            .iter()
            .filter(|(s, n)| **s < active && **n == 0)
            .map(|(s, _)| *s)
            .collect();
        for segment in unreferenced {
            self.delete_segment(segment);
        }
    }

    /// Drops one reference to `segment` (deleted by [`Writer::reclaim`] at zero).
    fn release(&mut self, segment: u32) {
        if let Some(count) = self.refs.get_mut(&segment) {
            *count = count.saturating_sub(1);
        }
    }

    fn delete_segment(&mut self, segment: u32) {
        self.refs.remove(&segment);
        self.segments.remove(&segment);
        self.shared.reader.forget(segment);
        let path = segment_path(&self.msgs_dir, segment);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("cannot delete segment {}: {e}", path.display());
        }
    }

    /// After recovery: every existing segment is complete (new writes go to a
    /// fresh one); delete those no queue references.
    pub fn sweep(&mut self, existing: &[u32], next_segment: u32) {
        // New writes go to `next_segment`: every existing segment is complete.
        self.active = next_segment;
        for &segment in existing {
            self.refs.entry(segment).or_insert(0);
        }
        let unreferenced: Vec<u32> = self
            .refs
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(s, _)| *s)
            .collect();
        for segment in unreferenced {
            self.delete_segment(segment);
        }
    }
}

/// Replays an index file and writes back only its live entries. Returns the
/// number of live entries.
pub fn rewrite_index(path: &std::path::Path, queue: &str) -> std::io::Result<u64> {
    let data = std::fs::read(path)?;
    let live = replay(&data).live;
    write_index(path, queue, &live)?;
    Ok(live.len() as u64)
}

/// Atomically replaces a queue index (through a temporary file) with a header
/// and `entries`.
pub fn write_index(
    path: &std::path::Path,
    queue: &str,
    entries: &[LiveEntry],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(64 + entries.len() * 40);
    encode_header(&mut out, queue);
    for entry in entries {
        encode_op(
            &mut out,
            &IndexOp::Enqueue {
                id: entry.id,
                location: entry.location,
                expiry: entry.expiry,
            },
        );
        if entry.delivered {
            encode_op(&mut out, &IndexOp::Deliver { id: entry.id });
        }
    }
    let tmp = path.with_extension("idx.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&out)?;
    file.sync_data()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// How long the writer waits for work before syncing anyway.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(200);

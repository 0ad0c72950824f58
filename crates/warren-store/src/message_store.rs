//! The message store interface the broker core talks to, and its settings.
//!
//! [`MessageStore`] is what a vhost's queues need from storage: message ids,
//! writing a message once with an index entry per queue, the delivered and
//! ack records, deleting a queue, being told when writes are durable, and
//! reading a record back. [`crate::SegmentStore`] keeps it in segment files
//! (group commit on a writer thread); [`crate::MemStore`] keeps it in memory
//! (tests, and a broker without a data directory).
//!
//! Every call returns without waiting for I/O except [`MessageStore::flush`]
//! and [`MessageStore::close`], which wait for the writer, and
//! [`MessageStore::read`], which reads a record that
//! [`MessageStore::is_written`] reports written (a `pread` of data the writer
//! already wrote, never a wait for the writer).

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::index::Location;
use crate::segment::StoredMessage;
use crate::writer::DEFAULT_SYNC_INTERVAL;

/// Told when records it waited for are durable on disk.
pub trait SyncListener: Send + Sync {
    /// Everything queued with `token` is now synced.
    fn synced(&self, token: u64);
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Size at which a segment file is closed and a new one started.
    pub segment_size: u32,
    /// Longest time written data may stay unsynced when nobody waits for it.
    pub sync_interval: Duration,
    /// Message bodies a queue keeps in memory before paging further persistent
    /// messages out to the segments (count).
    pub queue_memory_messages: usize,
    /// The same budget in body bytes.
    pub queue_memory_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_size: 64 * 1024 * 1024,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            queue_memory_messages: 100_000,
            queue_memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A listener and the token it is told with.
pub type Waiter = (Arc<dyn SyncListener>, u64);

/// The message store of one vhost, as the broker core uses it.
///
/// The contract (tested against every implementation in this crate):
/// a persisted message can be read back at its [`Location`] once
/// [`MessageStore::is_written`] says so; it stays until every queue it was
/// persisted for has acked it or been deleted; a waiter is told once what it
/// waited for is durable.
pub trait MessageStore: Send + Sync {
    /// The settings the store was opened with.
    fn config(&self) -> &StoreConfig;

    /// A fresh message id (never handed out before by this store).
    fn next_id(&self) -> u64;

    /// Writes `message` once and an enqueue record for each of `queues` (the
    /// message does not expire in them). With a `waiter`, it is told (with its
    /// token) once all of it is durable.
    fn persist(
        &self,
        message: &StoredMessage,
        queues: &[Arc<str>],
        waiter: Option<Waiter>,
    ) -> Location {
        self.persist_expiring(message, queues, &[], waiter)
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
    ) -> Location;

    /// Records that `queue` delivered message `id` (it comes back redelivered).
    fn delivered(&self, queue: &Arc<str>, id: u64);

    /// Records that message `id` left `queue` for good.
    fn ack(&self, queue: &Arc<str>, id: u64, location: Location);

    /// Deletes a queue's index and releases every message it still held;
    /// `locations` are extra references to release (normally none).
    fn delete_queue(&self, queue: &Arc<str>, locations: &[Location]);

    /// Asks for a sync as soon as possible and tells `listener` when done.
    fn sync(&self, listener: Arc<dyn SyncListener>, token: u64);

    /// Blocks until everything queued before this call is written (and synced
    /// if anyone waited for it). Never call it under a lock a runtime worker
    /// may wait for.
    fn flush(&self);

    /// Whether the record at `location` is written, so that
    /// [`MessageStore::read`] finds it without waiting for the writer. Once
    /// true it stays true (until the message is freed). Never blocks.
    fn is_written(&self, location: Location) -> bool;

    /// Reads a stored message back (an error if it is not written yet, was
    /// freed, or is corrupt).
    fn read(&self, location: Location) -> Result<StoredMessage>;

    /// Writes and syncs everything pending and stops accepting work.
    fn close(&self);
}

//! Warren's storage engine. It knows nothing of AMQP.
//!
//! - **Messages** go to a [`MessageStore`], one per vhost: the interface the
//!   broker core uses. [`SegmentStore`] appends them once to segment files,
//!   whatever the number of durable queues they go to. Each durable queue
//!   keeps an index log of its messages (enqueue, delivered, ack records). A
//!   writer thread writes what publishers and consumers queued up and syncs it:
//!   one `fdatasync` covers every message that arrived meanwhile (group commit).
//!   Segments are deleted when no queue references them any more.
//!   [`MemStore`] keeps the same contract in memory.
//! - **Definitions** ([`Definitions`]) — vhosts, users, permissions, exchanges,
//!   queues, bindings, policies — live in a transactional redb database.
//! - Every record carries its length and a CRC32; recovery ignores a torn final
//!   record and reports (never panics on) a corrupt one.

pub mod definitions;
pub mod error;
pub mod index;
pub mod lock;
pub mod mem;
pub mod message_store;
pub mod record;
pub mod segment;
pub mod store;
mod writer;

#[cfg(test)]
mod contract;

pub use definitions::Definitions;
pub use error::StoreError;
pub use index::Expiry;
pub use lock::DataDirLock;
pub use mem::MemStore;
pub use message_store::{MessageStore, StoreConfig, SyncListener, Waiter};
pub use segment::LEGACY_FORMAT;
pub use store::{Location, Recovered, RecoveredEntry, SegmentStore, StoredMessage};

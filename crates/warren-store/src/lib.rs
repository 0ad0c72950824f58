//! Warren's storage engine. It knows nothing of AMQP.
//!
//! - **Messages** ([`MessageStore`], one per vhost) are appended once to segment
//!   files, whatever the number of durable queues they go to. Each durable queue
//!   keeps an index log of its messages (enqueue, delivered, ack records). A
//!   writer thread writes what publishers and consumers queued up and syncs it:
//!   one `fdatasync` covers every message that arrived meanwhile (group commit).
//!   Segments are deleted when no queue references them any more.
//! - **Definitions** ([`Definitions`]) — vhosts, users, permissions, exchanges,
//!   queues, bindings, policies — live in a transactional redb database.
//! - Every record carries its length and a CRC32; recovery ignores a torn final
//!   record and reports (never panics on) a corrupt one.

pub mod definitions;
pub mod error;
pub mod index;
pub mod lock;
pub mod record;
pub mod segment;
pub mod store;
mod writer;

pub use definitions::Definitions;
pub use error::StoreError;
pub use index::Expiry;
pub use lock::DataDirLock;
pub use segment::LEGACY_FORMAT;
pub use store::{
    Location, MessageStore, Recovered, RecoveredEntry, StoreConfig, StoredMessage, SyncListener,
};

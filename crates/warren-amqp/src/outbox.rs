//! The connection's outbox: where queues (running on other tasks) leave
//! deliveries and cancellations for the connection task to write.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use warren_core::registry::Closer;
use warren_core::{Consumer, Delivery, DeliverySink};

/// Deliveries buffered beyond this many make the outbox report itself full, so
/// queues stop dispatching to this connection until it catches up.
pub const OUTBOX_HIGH_WATER: usize = 4096;

/// Message bytes buffered beyond this make the outbox report itself full: a
/// consumer that stops reading its socket holds at most this much (plus the
/// connection's 1 MiB output buffer and the kernel's socket buffers) in
/// deliveries; the rest stays in its queues.
pub const OUTBOX_HIGH_BYTES: usize = 8 << 20;

/// Something a queue wants the connection to send.
pub enum Outgoing {
    /// A message for a consumer.
    Deliver(Delivery),
    /// The broker cancelled a consumer (its queue went away).
    Cancel(Arc<Consumer>),
    /// Persistent messages published on a channel are on disk up to this
    /// confirm sequence number: (channel, sequence number).
    Synced(u16, u64),
}

/// Packs a channel and a publish sequence number into a store sync token.
pub fn sync_token(channel: u16, seq: u64) -> u64 {
    ((channel as u64) << 48) | (seq & ((1 << 48) - 1))
}

impl warren_core::publish::ConfirmListener for Outbox {
    fn synced(&self, token: u64) {
        self.push(Outgoing::Synced(
            (token >> 48) as u16,
            token & ((1 << 48) - 1),
        ));
    }
}

/// A multi-producer, single-consumer mailbox with a wake-up for the connection.
#[derive(Default)]
pub struct Outbox {
    items: Mutex<Vec<Outgoing>>,
    pending: AtomicUsize,
    pending_bytes: AtomicUsize,
    notify: Notify,
    close_request: Mutex<Option<String>>,
}

impl Outbox {
    /// Waits until something has been put in the outbox.
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Takes everything queued so far, in order, into `into`.
    pub fn drain_into(&self, into: &mut Vec<Outgoing>) {
        let mut items = self.items.lock();
        std::mem::swap(&mut *items, into);
    }

    /// Marks `n` drained deliveries carrying `bytes` of message bodies as
    /// written to the socket buffer; returns true if the outbox went from full
    /// to having room (queues should dispatch again).
    pub fn written(&self, n: usize, bytes: usize) -> bool {
        let before = self.pending.fetch_sub(n, Ordering::AcqRel);
        let before_bytes = self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
        let was_full = before >= OUTBOX_HIGH_WATER || before_bytes >= OUTBOX_HIGH_BYTES;
        was_full && before - n < OUTBOX_HIGH_WATER && before_bytes - bytes < OUTBOX_HIGH_BYTES
    }

    /// Takes an operator's request to close the connection, if one came.
    pub fn take_close_request(&self) -> Option<String> {
        self.close_request.lock().take()
    }

    fn push(&self, item: Outgoing) {
        let mut items = self.items.lock();
        let was_empty = items.is_empty();
        items.push(item);
        drop(items);
        if was_empty {
            self.notify.notify_one();
        }
    }
}

/// Lets the registry (the management API, `warren ctl`) close the connection:
/// the request is left in the outbox and the connection task woken.
pub struct OutboxCloser(pub Arc<Outbox>);

impl Closer for OutboxCloser {
    fn close(&self, reason: String) {
        *self.0.close_request.lock() = Some(reason);
        self.0.notify.notify_one();
    }
}

impl DeliverySink for Outbox {
    fn deliver(&self, delivery: Delivery) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let size = delivery.message.message.body_size();
        self.pending_bytes.fetch_add(size, Ordering::AcqRel);
        self.push(Outgoing::Deliver(delivery));
    }

    fn cancel(&self, consumer: Arc<Consumer>) {
        self.push(Outgoing::Cancel(consumer));
    }

    fn is_writable(&self) -> bool {
        self.pending.load(Ordering::Acquire) < OUTBOX_HIGH_WATER
            && self.pending_bytes.load(Ordering::Acquire) < OUTBOX_HIGH_BYTES
    }
}

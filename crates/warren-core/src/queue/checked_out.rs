//! Messages a queue has handed out in manual-acknowledgement mode (to a
//! consumer, or by basic.get) and not yet had settled: RabbitMQ's
//! `checked_out` in rabbit_fifo. The queue owns them, so settling, requeueing
//! when a channel closes, and the unacked counts and bytes are queue logic; a
//! protocol adapter keeps only its own delivery tags mapped to the
//! [`DeliveryId`]s the queue gave out.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Dead, Queue, QueueState, QueuedMessage, Stored};
use crate::consumer::Consumer;
use crate::dead_letter::DeathReason;

/// A queue's name for one delivery awaiting settlement, unique in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub u64);

/// How checked-out deliveries are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Acknowledged: forgotten, with its copy on disk.
    Ack,
    /// Back at its original position, flagged redelivered (a nack or reject
    /// with requeue, basic.recover, its channel closing).
    Requeue,
    /// Rejected without requeue: dead-lettered, or dropped without a
    /// dead-letter exchange.
    Reject,
    /// Never reached its consumer (the connection went first): back as if it
    /// had not left, its redelivered flag unchanged.
    Return,
}

/// One checked-out delivery.
struct Entry {
    message: QueuedMessage,
    /// The consumer it went to (None for basic.get), whose prefetch window
    /// it holds a place in.
    consumer: Option<Arc<Consumer>>,
}

/// Multiplicative hashing of sequential ids (the default SipHash is slower,
/// and the ids are not attacker-chosen: the queue makes them).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A queue's checked-out deliveries.
#[derive(Default)]
pub(super) struct CheckedOut {
    next: u64,
    entries: HashMap<u64, Entry, BuildHasherDefault<IdHasher>>,
    bytes: usize,
}

impl CheckedOut {
    fn insert(&mut self, message: QueuedMessage, consumer: Option<Arc<Consumer>>) -> DeliveryId {
        let id = self.next;
        self.next += 1;
        self.bytes += message.message.body_size();
        self.entries.insert(id, Entry { message, consumer });
        DeliveryId(id)
    }

    fn take(&mut self, id: DeliveryId) -> Option<Entry> {
        let entry = self.entries.remove(&id.0)?;
        self.bytes -= entry.message.message.body_size();
        Some(entry)
    }

    /// Forgets everything (the queue is deleted).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

impl Queue {
    /// Records a manual-ack delivery as checked out (the lock is held).
    pub(super) fn check_out(
        &self,
        state: &mut QueueState,
        message: QueuedMessage,
        consumer: Option<Arc<Consumer>>,
    ) -> DeliveryId {
        let id = state.checked_out.insert(message, consumer);
        self.publish_unacked_gauges(state);
        id
    }

    fn publish_unacked_gauges(&self, state: &QueueState) {
        self.unacked
            .store(state.checked_out.entries.len(), Ordering::Relaxed);
        self.unacked_bytes
            .store(state.checked_out.bytes, Ordering::Relaxed);
    }

    /// Settles checked-out deliveries (unknown ids, e.g. of a deleted queue,
    /// are ignored). Returns true if a consumer's prefetch window was full
    /// before: its owner should ask its other queues to dispatch again.
    pub fn settle(self: &Arc<Self>, ids: &[DeliveryId], how: Settlement) -> bool {
        let mut state = self.state.lock();
        let mut unblocked = false;
        let mut taken = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(entry) = state.checked_out.take(*id) {
                if let Some(consumer) = &entry.consumer {
                    unblocked |= consumer.settle(1);
                }
                taken.push(entry.message);
            }
        }
        self.publish_unacked_gauges(&state);
        let mut forget: Vec<Stored> = Vec::new();
        match how {
            Settlement::Ack => {
                self.stats
                    .acked
                    .fetch_add(taken.len() as u64, Ordering::Relaxed);
                forget.extend(taken.iter().filter_map(|m| m.stored));
            }
            Settlement::Reject => state.dead.extend(taken.into_iter().map(|m| Dead {
                message: m.message,
                reason: DeathReason::Rejected,
                stored: m.stored,
            })),
            Settlement::Requeue | Settlement::Return => {
                self.put_back(&mut state, taken, how == Settlement::Requeue);
            }
        }
        self.finish(state);
        forget.into_iter().for_each(|s| self.forget(s));
        unblocked
    }

    /// Puts messages back at their original positions and dispatches them
    /// again (nothing if the queue is deleted).
    fn put_back(
        self: &Arc<Self>,
        state: &mut QueueState,
        messages: Vec<QueuedMessage>,
        redelivered: bool,
    ) {
        if state.deleted || messages.is_empty() {
            return;
        }
        if redelivered {
            self.stats
                .redelivered
                .fetch_add(messages.len() as u64, Ordering::Relaxed);
        }
        for mut message in messages.into_iter().rev() {
            message.redelivered |= redelivered;
            state.ready.insert_in_order(message);
        }
        self.expire_heads(state);
        self.dispatch_locked(state);
        self.arm_message_timer(state);
    }

    /// Body bytes of the checked-out deliveries.
    pub fn unacked_bytes(&self) -> usize {
        self.unacked_bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueOptions;
    use crate::Message;
    use bytes::Bytes;

    fn message(body: &'static [u8]) -> Arc<Message> {
        Arc::new(Message {
            exchange: Bytes::new(),
            routing_key: Bytes::from_static(b"q"),
            content: crate::message::Content::new(crate::message::FormatId(0), Bytes::new()),
            ann: Default::default(),
            body: Bytes::from_static(body),
        })
    }

    #[test]
    fn settlements_ack_requeue_and_reject() {
        let q = Queue::new("q", "/", QueueOptions::default());
        for body in [&b"a"[..], b"bb", b"ccc"] {
            q.publish(message(body));
        }
        let ids: Vec<DeliveryId> = (0..3)
            .map(|_| {
                q.get(false)
                    .and_then(|(_, _, id)| id)
                    .expect("a checked-out get")
            })
            .collect();
        assert_eq!(
            (q.unacked(), q.unacked_bytes(), q.message_count()),
            (3, 6, 0)
        );
        // Unknown and repeated ids are ignored.
        q.settle(&[ids[0], ids[0], DeliveryId(99)], Settlement::Ack);
        assert_eq!((q.unacked(), q.unacked_bytes()), (2, 5));
        assert_eq!(q.stats.acked.load(Ordering::Relaxed), 1);
        q.settle(&[ids[2], ids[1]], Settlement::Requeue);
        assert_eq!(
            (q.unacked(), q.unacked_bytes(), q.message_count()),
            (0, 0, 2)
        );
        // Back in their original order, flagged redelivered.
        let (first, _, id) = q.get(false).unwrap();
        assert_eq!(
            (&first.message.body[..], first.redelivered),
            (&b"bb"[..], true)
        );
        q.settle(&[id.unwrap()], Settlement::Reject);
        assert_eq!((q.unacked(), q.message_count()), (0, 1));
        let (last, _, id) = q.get(false).unwrap();
        assert_eq!(&last.message.body[..], b"ccc");
        q.settle(&[id.unwrap()], Settlement::Return);
        let (again, _, _) = q.get(true).unwrap();
        assert!(again.redelivered, "a returned message keeps its flag");
    }

    #[test]
    fn a_deleted_queue_forgets_its_checked_out_deliveries() {
        let q = Queue::new("q", "/", QueueOptions::default());
        q.publish(message(b"x"));
        let (_, _, id) = q.get(false).unwrap();
        q.delete(false, false).unwrap();
        assert_eq!(q.unacked(), 0);
        assert!(!q.settle(&[id.unwrap()], Settlement::Requeue));
        assert_eq!(q.message_count(), 0);
    }
}

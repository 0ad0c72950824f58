//! Messages a queue has handed out in manual-acknowledgement mode (to a
//! consumer, or by basic.get) and not yet had settled: RabbitMQ's
//! `checked_out` in rabbit_fifo. The queue owns them, so settling, requeueing
//! when a channel closes, and the unacked counts and bytes are queue logic; a
//! protocol adapter keeps only its own delivery tags mapped to the
//! [`DeliveryId`]s the queue gave out.

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

/// One place in the slab of checked-out deliveries.
#[derive(Default)]
struct Slot {
    /// Bumped each time the place is reused, so a stale id (of a delivery
    /// settled earlier in the same place) never matches a newer one.
    generation: u32,
    entry: Option<Entry>,
}

/// A queue's checked-out deliveries: a slab whose ids are (generation,
/// place), so checking out and settling cost no hashing and memory follows
/// the number outstanding, not the number ever delivered.
#[derive(Default)]
pub(super) struct CheckedOut {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    bytes: usize,
    /// Above every generation handed out, so places made after a clear
    /// never repeat an id given out before it.
    floor: u32,
}

impl CheckedOut {
    fn insert(&mut self, message: QueuedMessage, consumer: Option<Arc<Consumer>>) -> DeliveryId {
        self.bytes += message.message.body_size();
        self.live += 1;
        let entry = Some(Entry { message, consumer });
        let place = match self.free.pop() {
            Some(place) => place,
            None => {
                // Past u32::MAX places outstanding the ids would not fit;
                // no prefetch window or memory allows that many.
                let place = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: self.floor,
                    entry: None,
                });
                place
            }
        };
        let slot = &mut self.slots[place as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.entry = entry;
        self.floor = self.floor.max(slot.generation);
        DeliveryId((u64::from(slot.generation) << 32) | u64::from(place))
    }

    fn take(&mut self, id: DeliveryId) -> Option<Entry> {
        let place = (id.0 & u64::from(u32::MAX)) as u32;
        let generation = (id.0 >> 32) as u32;
        let slot = self.slots.get_mut(place as usize)?;
        if slot.generation != generation {
            return None;
        }
        let entry = slot.entry.take()?;
        self.free.push(place);
        self.live -= 1;
        self.bytes -= entry.message.message.body_size();
        if self.live == 0 && self.slots.len() > 4096 {
            // A burst is over: give its memory back.
            self.clear();
        }
        Some(entry)
    }

    /// Forgets everything (the queue is deleted, or nothing is outstanding).
    pub(super) fn clear(&mut self) {
        self.floor = self.floor.wrapping_add(1);
        self.slots = Vec::new();
        self.free = Vec::new();
        self.live = 0;
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
            .store(state.checked_out.live, Ordering::Relaxed);
        self.unacked_bytes
            .store(state.checked_out.bytes, Ordering::Relaxed);
    }

    /// Settles checked-out deliveries (unknown ids, e.g. of a deleted queue,
    /// are ignored). Returns true if a consumer's prefetch window was full
    /// before: its owner should ask its other queues to dispatch again.
    pub fn settle(self: &Arc<Self>, ids: &[DeliveryId], how: Settlement) -> bool {
        let mut state = self.state.lock();
        let mut unblocked = false;
        let mut settled = 0u64;
        let mut forget: Vec<Stored> = Vec::new();
        let mut taken: Vec<QueuedMessage> = Vec::new();
        for id in ids {
            let Some(entry) = state.checked_out.take(*id) else {
                continue;
            };
            if let Some(consumer) = &entry.consumer {
                unblocked |= consumer.settle(1);
            }
            settled += 1;
            match how {
                Settlement::Ack => forget.extend(entry.message.stored),
                _ => taken.push(entry.message),
            }
        }
        self.publish_unacked_gauges(&state);
        match how {
            Settlement::Ack => {
                self.stats.acked.fetch_add(settled, Ordering::Relaxed);
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
    fn stale_ids_never_match_a_reused_place() {
        let mut c = CheckedOut::default();
        let q = Queue::new("q", "/", QueueOptions::default());
        q.publish(message(b"a"));
        let (m, _, _) = q.get(true).unwrap();
        let first = c.insert(m.clone(), None);
        assert!(c.take(first).is_some());
        let second = c.insert(m.clone(), None);
        assert_ne!(first, second, "the place is reused under a new generation");
        assert!(c.take(first).is_none());
        // Past a burst the slab is dropped; ids from before still never match.
        let burst: Vec<DeliveryId> = (0..5000).map(|_| c.insert(m.clone(), None)).collect();
        assert!(c.take(second).is_some());
        for id in &burst {
            assert!(c.take(*id).is_some());
        }
        assert_eq!((c.live, c.slots.len()), (0, 0));
        let fresh = c.insert(m, None);
        assert!(!burst.contains(&fresh) && fresh != first && fresh != second);
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

//! Queues: the ready list, the consumers, and round-robin dispatch within the
//! prefetch windows (fair dispatch). A queue's state sits behind one short-held
//! lock; publishers enqueue and dispatch directly from their connection's task.

mod ready;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use warren_codec::FieldTable;
use warren_store::{Location, MessageStore};

use crate::consumer::{Consumer, Delivery};
use crate::error::BrokerError;
use crate::message::Message;
use ready::ReadyList;

/// A message in a queue, with its position and whether it was delivered before.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// Position in the queue, increasing with every enqueue; requeued messages
    /// go back to their original position by it.
    pub seq: u64,
    /// The shared message.
    pub message: Arc<Message>,
    /// Whether it has been delivered before.
    pub redelivered: bool,
    /// Where it is on disk, for a persistent message in a durable queue.
    pub stored: Option<Stored>,
}

/// A persisted message's id and record location in its vhost's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Store-wide message id.
    pub id: u64,
    /// Where the record is.
    pub location: Location,
}

/// How a queue was declared.
#[derive(Debug, Clone, Default)]
pub struct QueueOptions {
    /// Survives a broker restart.
    pub durable: bool,
    /// Deleted when its last consumer goes away.
    pub auto_delete: bool,
    /// The connection it is exclusive to, if any.
    pub exclusive_owner: Option<u64>,
    /// Declaration arguments (x-…), kept as given.
    pub arguments: FieldTable,
}

/// Counters for statistics.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Messages enqueued.
    pub published: AtomicU64,
    /// Messages delivered to consumers or fetched with basic.get.
    pub delivered: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Messages redelivered after a requeue.
    pub redelivered: AtomicU64,
}

struct QueueState {
    ready: ReadyList,
    next_seq: u64,
    consumers: Vec<Arc<Consumer>>,
    cursor: usize,
    ever_consumed: bool,
    deleted: bool,
}

/// A queue.
pub struct Queue {
    /// Name, unique in its vhost.
    pub name: Arc<str>,
    /// Name of the vhost it lives in.
    pub vhost: Arc<str>,
    /// How it was declared.
    pub options: QueueOptions,
    /// Statistics.
    pub stats: QueueStats,
    unacked: AtomicUsize,
    state: Mutex<QueueState>,
    store: OnceLock<Arc<MessageStore>>,
    gone: AtomicBool,
}

/// What removing a consumer left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerRemoved {
    /// The consumer was found and removed.
    pub removed: bool,
    /// The queue is auto-delete and has just lost its last consumer.
    pub should_auto_delete: bool,
}

impl Queue {
    /// Creates an empty queue.
    pub fn new(name: &str, vhost: &str, options: QueueOptions) -> Arc<Self> {
        Arc::new(Queue {
            name: name.into(),
            vhost: vhost.into(),
            options,
            stats: QueueStats::default(),
            unacked: AtomicUsize::new(0),
            store: OnceLock::new(),
            gone: AtomicBool::new(false),
            state: Mutex::new(QueueState {
                ready: ReadyList::default(),
                next_seq: 0,
                consumers: Vec::new(),
                cursor: 0,
                ever_consumed: false,
                deleted: false,
            }),
        })
    }

    /// Makes the queue durable on disk: persistent messages go to `store`.
    pub fn attach_store(&self, store: Arc<MessageStore>) {
        let _ = self.store.set(store);
    }

    /// The message store, for a durable queue of a persistent broker.
    pub fn store(&self) -> Option<&Arc<MessageStore>> {
        self.store.get()
    }

    /// Records on disk that a persisted message left the queue for good
    /// (acknowledged, rejected without requeue, purged, delivered with no-ack).
    pub fn forget_stored(&self, message: &QueuedMessage) {
        if let (Some(store), Some(stored)) = (self.store.get(), message.stored) {
            if !self.gone.load(Ordering::Acquire) {
                store.ack(&self.name, stored.id, stored.location);
            }
        }
    }

    /// Records on disk that a persisted message is being delivered for the first
    /// time (after a restart it comes back flagged redelivered).
    fn note_delivery(&self, message: &QueuedMessage, no_ack: bool) {
        if message.stored.is_none() {
            return;
        }
        if no_ack {
            self.forget_stored(message);
        } else if !message.redelivered {
            if let (Some(store), Some(stored)) = (self.store.get(), message.stored) {
                store.delivered(&self.name, stored.id);
            }
        }
    }

    /// Puts messages recovered from disk back, in order, before any new ones.
    pub fn restore(&self, messages: Vec<QueuedMessage>) {
        let mut state = self.state.lock();
        for mut message in messages {
            message.seq = state.next_seq;
            state.next_seq += 1;
            state.ready.push_back(message);
        }
    }

    /// Enqueues a message and delivers it at once if a consumer has room.
    pub fn publish(self: &Arc<Self>, message: Arc<Message>) {
        self.publish_stored(message, None)
    }

    /// Enqueues a message already written to this queue's store at `stored`.
    pub fn publish_stored(self: &Arc<Self>, message: Arc<Message>, stored: Option<Stored>) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let queued = QueuedMessage {
            seq,
            message,
            redelivered: false,
            stored,
        };
        if state.ready.is_empty() {
            if let Some(consumer) = state.next_consumer() {
                self.hand_over(consumer, queued);
                return;
            }
        }
        state.ready.push_back(queued);
    }

    /// Delivers ready messages to consumers while any has room.
    pub fn dispatch(self: &Arc<Self>) {
        let mut state = self.state.lock();
        self.dispatch_locked(&mut state);
    }

    fn dispatch_locked(self: &Arc<Self>, state: &mut QueueState) {
        while !state.ready.is_empty() {
            let Some(consumer) = state.next_consumer() else {
                break;
            };
            if let Some(message) = state.ready.pop_front() {
                self.hand_over(consumer, message);
            }
        }
    }

    fn hand_over(self: &Arc<Self>, consumer: Arc<Consumer>, message: QueuedMessage) {
        self.note_delivery(&message, consumer.no_ack);
        consumer.take();
        if !consumer.no_ack {
            self.unacked.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        let sink = consumer.sink.clone();
        sink.deliver(Delivery {
            consumer,
            queue: self.clone(),
            message,
        });
    }

    /// Takes the oldest ready message for `basic.get`, with the number of ready
    /// messages left behind it.
    pub fn get(&self, no_ack: bool) -> Option<(QueuedMessage, u32)> {
        let mut state = self.state.lock();
        let message = state.ready.pop_front()?;
        self.note_delivery(&message, no_ack);
        if !no_ack {
            self.unacked.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        Some((message, state.ready.len() as u32))
    }

    /// Forgets `n` delivered messages that were acknowledged (or rejected without
    /// requeue).
    pub fn settle(&self, n: usize, acked: bool) {
        self.unacked
            .fetch_sub(n.min(self.unacked()), Ordering::Relaxed);
        if acked {
            self.stats.acked.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Puts delivered messages back at their original positions, marked
    /// redelivered, and dispatches them again.
    pub fn requeue(self: &Arc<Self>, messages: Vec<QueuedMessage>) {
        self.settle(messages.len(), false);
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        self.stats
            .redelivered
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        for mut message in messages.into_iter().rev() {
            message.redelivered = true;
            state.ready.insert_in_order(message);
        }
        self.dispatch_locked(&mut state);
    }

    /// Puts back a message that was handed to a consumer but never reached it
    /// (its channel closed first); it keeps its redelivered flag.
    pub fn requeue_undelivered(self: &Arc<Self>, message: QueuedMessage, counted_unacked: bool) {
        if counted_unacked {
            self.settle(1, false);
        }
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        state.ready.insert_in_order(message);
        self.dispatch_locked(&mut state);
    }

    /// Adds a consumer, enforcing exclusive consumption, and starts delivering.
    pub fn add_consumer(self: &Arc<Self>, consumer: Arc<Consumer>) -> Result<(), BrokerError> {
        let mut state = self.state.lock();
        if state.deleted {
            return Err(BrokerError::no_queue(&self.name, &self.vhost));
        }
        let exclusive_held = state.consumers.iter().any(|c| c.exclusive);
        if exclusive_held || (consumer.exclusive && !state.consumers.is_empty()) {
            return Err(BrokerError::AccessRefused(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.name, self.vhost
            )));
        }
        state.consumers.push(consumer);
        state.ever_consumed = true;
        self.dispatch_locked(&mut state);
        Ok(())
    }

    /// Removes the consumer with `tag` on `channel` of `connection_id`.
    pub fn remove_consumer(&self, connection_id: u64, channel: u16, tag: &str) -> ConsumerRemoved {
        let mut state = self.state.lock();
        let before = state.consumers.len();
        state.consumers.retain(|c| {
            !(c.connection_id == connection_id && c.channel == channel && &*c.tag == tag)
        });
        let removed = state.consumers.len() != before;
        ConsumerRemoved {
            removed,
            should_auto_delete: removed
                && self.options.auto_delete
                && state.consumers.is_empty()
                && !state.deleted,
        }
    }

    /// Drops every ready message; returns how many there were.
    pub fn purge(&self) -> usize {
        let purged = self.state.lock().ready.drain();
        for message in &purged {
            self.forget_stored(message);
        }
        purged.len()
    }

    /// Checks delete preconditions, marks the queue deleted and returns its
    /// consumers (to be told of the cancellation) and its ready message count.
    pub fn delete(
        &self,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<(Vec<Arc<Consumer>>, usize), BrokerError> {
        let mut state = self.state.lock();
        if if_unused && !state.consumers.is_empty() {
            return Err(BrokerError::PreconditionFailed(format!(
                "queue '{}' in vhost '{}' in use",
                self.name, self.vhost
            )));
        }
        if if_empty && !state.ready.is_empty() {
            return Err(BrokerError::PreconditionFailed(format!(
                "queue '{}' in vhost '{}' not empty",
                self.name, self.vhost
            )));
        }
        state.deleted = true;
        self.gone.store(true, Ordering::Release);
        let count = state.ready.clear();
        if let Some(store) = self.store.get() {
            store.delete_queue(&self.name, std::iter::empty());
        }
        Ok((std::mem::take(&mut state.consumers), count))
    }

    /// Whether the queue has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.state.lock().deleted
    }

    /// Messages ready for delivery.
    pub fn message_count(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Body bytes of the ready messages.
    pub fn message_bytes(&self) -> usize {
        self.state.lock().ready.bytes()
    }

    /// Messages delivered and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.unacked.load(Ordering::Relaxed)
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.state.lock().consumers.len()
    }

    /// Snapshot of the consumers.
    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        self.state.lock().consumers.clone()
    }

    /// Whether `connection_id` may use this queue (exclusive queues belong to the
    /// connection that declared them).
    pub fn check_access(&self, connection_id: u64) -> Result<(), BrokerError> {
        match self.options.exclusive_owner {
            Some(owner) if owner != connection_id => Err(self.locked()),
            _ => Ok(()),
        }
    }

    /// RabbitMQ's RESOURCE_LOCKED error for this queue (another connection's
    /// exclusive queue, or a redeclaration with a different `exclusive` flag).
    pub fn locked(&self) -> BrokerError {
        BrokerError::ResourceLocked(format!(
            "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
            self.name, self.vhost
        ))
    }

    /// Whether the queue ever had a consumer (auto-delete only applies then).
    pub fn ever_consumed(&self) -> bool {
        self.state.lock().ever_consumed
    }
}

impl QueueState {
    /// Picks the next consumer with room: the highest consumer priority first,
    /// round-robin among equals.
    fn next_consumer(&mut self) -> Option<Arc<Consumer>> {
        let n = self.consumers.len();
        let mut best: Option<usize> = None;
        for step in 0..n {
            let i = (self.cursor + step) % n;
            let candidate = &self.consumers[i];
            let better = match best {
                None => true,
                Some(b) => candidate.priority > self.consumers[b].priority,
            };
            if better && candidate.can_take() {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.cursor = (chosen + 1) % n;
        Some(self.consumers[chosen].clone())
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.name)
            .field("vhost", &self.vhost)
            .finish()
    }
}

//! Queues: the ready list, the consumers, and round-robin dispatch within the
//! prefetch windows (fair dispatch). A queue's state sits behind one short-held
//! lock; publishers enqueue and dispatch directly from their connection's task.
//!
//! Submodules add what RabbitMQ's queue arguments and policies ask for:
//! `expiry` (message TTL and unused-queue expiry), `limits` (max-length and
//! overflow), `settings` (arguments merged with policies). Messages that die
//! (rejected, expired, dropped by a limit) are collected under the lock and
//! dead-lettered after it is released ([`crate::dead_letter`]), so a queue
//! never holds its lock while publishing into another queue.

mod checked_out;
mod dlx;
mod expiry;
mod limits;
mod ready;
mod settings;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use warren_store::{Expiry, Location, MessageStore};

use crate::consumer::{Consumer, Delivery};
use crate::dead_letter::DeathReason;
use crate::error::BrokerError;
use crate::message::Message;
use crate::scheduler::Scheduler;
use crate::value::Table;
use crate::vhost::VHost;
pub use checked_out::{DeliveryId, Settlement};
use ready::ReadyList;
pub use ready::ReadyStats;
pub use settings::{Overflow, QueueSettings};

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
    pub(crate) stored: Option<Stored>,
    /// When it expires (scheduler milliseconds), from the queue's message TTL
    /// and the message's `expiration`, fixed at enqueue time.
    pub expires_at: Option<u64>,
    /// Its priority level in a priority queue (0 otherwise).
    pub priority: u8,
}

/// A persisted message's id and record location in its vhost's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Store-wide message id.
    pub(crate) id: u64,
    /// Where the record is.
    pub(crate) location: Location,
}

impl QueuedMessage {
    /// Whether the message has expired at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
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
    pub arguments: Table,
}

/// Counters for statistics.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Messages enqueued.
    pub published: AtomicU64,
    /// Messages delivered to consumers or fetched with basic.get.
    pub delivered: AtomicU64,
    /// Of `delivered`: to consumers in automatic-acknowledgement mode.
    pub delivered_no_ack: AtomicU64,
    /// Of `delivered`: fetched with basic.get in manual-acknowledgement mode.
    pub fetched: AtomicU64,
    /// Of `delivered`: fetched with basic.get in automatic-acknowledgement mode.
    pub fetched_no_ack: AtomicU64,
    /// basic.get calls that found the queue empty.
    pub get_empty: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Messages redelivered after a requeue.
    pub redelivered: AtomicU64,
    /// Messages that expired.
    pub expired: AtomicU64,
    /// Messages dropped or refused by a length limit.
    pub overflowed: AtomicU64,
}

/// Whether a queue took a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Enqueued or delivered.
    Accepted,
    /// Refused by `x-overflow` reject-publish(-dlx): the publisher gets a nack.
    Rejected,
}

/// A message that died in this queue, waiting to be dead-lettered.
struct Dead {
    message: Arc<Message>,
    reason: DeathReason,
    /// Its copy on disk, forgotten before it is dead-lettered.
    stored: Option<Stored>,
}

struct QueueState {
    ready: ReadyList,
    /// Manual-ack deliveries not yet settled.
    checked_out: checked_out::CheckedOut,
    next_seq: u64,
    consumers: Vec<Arc<Consumer>>,
    cursor: usize,
    ever_consumed: bool,
    deleted: bool,
    settings: QueueSettings,
    dead: Vec<Dead>,
    /// Deadline of the pending head-expiry wake-up.
    message_timer: Option<u64>,
    /// Deadline of the pending unused-queue expiry wake-up.
    expiry_timer: Option<u64>,
    /// When the queue was last used (declared, consumed from, basic.get).
    last_used: u64,
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
    unacked_bytes: AtomicUsize,
    scheduler: Arc<Scheduler>,
    home: Weak<VHost>,
    me: Weak<Queue>,
    state: Mutex<QueueState>,
    store: OnceLock<Arc<dyn MessageStore>>,
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
    /// Creates an empty queue with no settings, outside any vhost (dead-lettering
    /// and unused-queue expiry need a vhost: see [`Queue::with_settings`]).
    pub fn new(name: &str, vhost: &str, options: QueueOptions) -> Arc<Self> {
        Self::with_settings(
            name,
            vhost,
            options,
            QueueSettings::default(),
            Scheduler::global(),
            Weak::new(),
        )
    }

    /// Creates an empty queue enforcing `settings`, living in `home`.
    pub fn with_settings(
        name: &str,
        vhost: &str,
        options: QueueOptions,
        settings: QueueSettings,
        scheduler: Arc<Scheduler>,
        home: Weak<VHost>,
    ) -> Arc<Self> {
        let levels = settings.max_priority.map_or(1, |p| p as usize + 1);
        let now = scheduler.now_ms();
        let queue = Arc::new_cyclic(|me| Queue {
            name: name.into(),
            vhost: vhost.into(),
            options,
            stats: QueueStats::default(),
            unacked: AtomicUsize::new(0),
            unacked_bytes: AtomicUsize::new(0),
            store: OnceLock::new(),
            gone: AtomicBool::new(false),
            scheduler,
            home,
            me: me.clone(),
            state: Mutex::new(QueueState {
                ready: ReadyList::with_levels(levels),
                checked_out: Default::default(),
                next_seq: 0,
                consumers: Vec::new(),
                cursor: 0,
                ever_consumed: false,
                deleted: false,
                settings,
                dead: Vec::new(),
                message_timer: None,
                expiry_timer: None,
                last_used: now,
            }),
        });
        queue.touch();
        queue
    }

    /// Makes the queue durable on disk: persistent messages go to `store`.
    pub(crate) fn attach_store(
        &self,
        store: Arc<dyn MessageStore>,
        memory_high: Option<Arc<AtomicBool>>,
    ) {
        self.attach_paging(store.clone(), memory_high);
        let _ = self.store.set(store);
    }

    /// Lets the queue page message bodies out to `store` past its memory
    /// budget, without making it durable (transient pages are discarded on
    /// restart): persistent messages always, transient ones while
    /// `memory_high` is set.
    pub(crate) fn attach_paging(
        &self,
        store: Arc<dyn MessageStore>,
        memory_high: Option<Arc<AtomicBool>>,
    ) {
        self.state.lock().ready.attach_store(store, memory_high);
    }

    /// The message store, for a durable queue of a persistent broker.
    pub(crate) fn store(&self) -> Option<&Arc<dyn MessageStore>> {
        self.store.get()
    }

    /// Records on disk that a persisted message left the queue for good
    /// (acknowledged, rejected without requeue, purged, delivered with no-ack).
    pub(crate) fn forget_stored(&self, message: &QueuedMessage) {
        if let Some(stored) = message.stored {
            self.forget(stored);
        }
    }

    /// Writes the ack record for a stored copy (unless the queue, and with it
    /// its index, is gone).
    fn forget(&self, stored: Stored) {
        if let (Some(store), false) = (self.store.get(), self.is_gone()) {
            store.ack(&self.name, stored.id, stored.location);
        }
    }

    /// Whether the queue has been deleted (its store index is gone).
    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
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

    /// Puts messages recovered from disk back, in order, before any new ones,
    /// each with the expiry its index recorded: a TTL goes on counting from
    /// the original enqueue, and a message whose deadline passed while the
    /// broker was down expires at once. Only entries written before expiries
    /// were recorded ([`Expiry::Unrecorded`]) get their TTL from the queue's
    /// settings again, counted from now. Priority levels are worked out again.
    pub(crate) fn restore(&self, messages: Vec<(QueuedMessage, Expiry)>) {
        let mut state = self.state.lock();
        let now_ms = self.scheduler.now_ms();
        let now_unix_ms = self.scheduler.clock().unix_ms();
        for (recovered, expiry) in messages {
            let mut message = self.prepare(&mut state, recovered.message);
            message.redelivered = recovered.redelivered;
            message.stored = recovered.stored;
            match expiry {
                Expiry::Unrecorded => {}
                Expiry::Never => message.expires_at = None,
                Expiry::At(at) => {
                    let left = at.saturating_sub(now_unix_ms);
                    message.expires_at = Some(now_ms.saturating_add(left));
                }
            }
            state.ready.push_back(message);
        }
        self.arm_message_timer(&mut state);
    }

    /// When `message`, enqueued now, expires in this queue: the wall-clock
    /// deadline (Unix milliseconds) to store with a persistent copy, from the
    /// queue's message TTL and the message's `expiration` (the smaller).
    pub fn expiry_deadline(&self, message: &Message) -> Option<u64> {
        let ttl = message_ttl(&self.state.lock().settings, message)?;
        Some(self.scheduler.clock().unix_ms().saturating_add(ttl))
    }

    /// The settings in force.
    pub fn settings(&self) -> QueueSettings {
        self.state.lock().settings.clone()
    }

    /// Names of the user policy and the operator policy in force.
    pub fn policy_names(&self) -> (Option<Arc<str>>, Option<Arc<str>>) {
        let state = self.state.lock();
        (
            state.settings.policy.clone(),
            state.settings.operator_policy.clone(),
        )
    }

    /// The scheduler (clock and timers) this queue uses.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Enqueues a message and delivers it at once if a consumer has room; may
    /// refuse it (reject-publish) or drop older messages (drop-head).
    pub fn publish(self: &Arc<Self>, message: Arc<Message>) -> PublishOutcome {
        self.publish_stored(message, None)
    }

    /// [`Queue::publish`] for a message already written to this queue's store.
    pub(crate) fn publish_stored(
        self: &Arc<Self>,
        message: Arc<Message>,
        stored: Option<Stored>,
    ) -> PublishOutcome {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        if state.deleted {
            return PublishOutcome::Accepted;
        }
        let mut queued = self.prepare(&mut state, message);
        queued.stored = stored;
        if state.settings.has_limit() && self.refuses(&mut state, &queued) {
            self.finish(state);
            self.forget_stored(&queued);
            return PublishOutcome::Rejected;
        }
        let expiring = queued.expires_at.is_some();
        if state.ready.is_empty() {
            if let Some(consumer) = state.next_consumer() {
                self.hand_over(&mut state, consumer, queued);
                return PublishOutcome::Accepted;
            }
        }
        state.ready.push_back(queued);
        if expiring {
            self.expire_heads(&mut state);
            self.arm_message_timer(&mut state);
        }
        if state.settings.has_limit() {
            self.drop_head_over_limit(&mut state);
        }
        self.finish(state);
        PublishOutcome::Accepted
    }

    /// Numbers a new message and fixes its expiry and priority level.
    fn prepare(&self, state: &mut QueueState, message: Arc<Message>) -> QueuedMessage {
        let seq = state.next_seq;
        state.next_seq += 1;
        let ttl = message_ttl(&state.settings, &message);
        let priority = match state.settings.max_priority {
            Some(max) => message.ann.priority.unwrap_or(0).min(max),
            None => 0,
        };
        QueuedMessage {
            seq,
            message,
            redelivered: false,
            expires_at: ttl.map(|t| self.scheduler.now_ms().saturating_add(t)),
            priority,
            stored: None,
        }
    }

    /// Releases the lock, then dead-letters whatever died while it was held.
    fn finish(&self, mut state: parking_lot::MutexGuard<'_, QueueState>) {
        let dead = std::mem::take(&mut state.dead);
        drop(state);
        if !dead.is_empty() {
            self.dead_letter(dead);
        }
    }

    /// Delivers ready messages to consumers while any has room.
    pub fn dispatch(self: &Arc<Self>) {
        let mut state = self.state.lock();
        self.dispatch_locked(&mut state);
        self.finish(state);
    }

    fn dispatch_locked(self: &Arc<Self>, state: &mut QueueState) {
        let mut handed = false;
        while !state.ready.is_empty() {
            if state.ready.head_expires() {
                self.expire_heads(state);
                if state.ready.is_empty() {
                    break;
                }
            }
            let Some(consumer) = state.next_consumer() else {
                break;
            };
            if let Some(message) = state.ready.pop_front() {
                self.hand_over(state, consumer, message);
                handed = true;
            }
        }
        if handed {
            self.arm_message_timer(state);
        }
    }

    fn hand_over(
        self: &Arc<Self>,
        state: &mut QueueState,
        consumer: Arc<Consumer>,
        message: QueuedMessage,
    ) {
        self.note_delivery(&message, consumer.no_ack);
        consumer.take();
        let id = if consumer.no_ack {
            self.stats.delivered_no_ack.fetch_add(1, Ordering::Relaxed);
            None
        } else {
            Some(self.check_out(state, message.clone(), Some(consumer.clone())))
        };
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        let sink = consumer.sink.clone();
        sink.deliver(Delivery {
            consumer,
            queue: self.clone(),
            message,
            id,
        });
    }

    /// Takes the next ready message for `basic.get`, with the number of ready
    /// messages left behind it and, unless `no_ack`, the id under which it is
    /// checked out until settled. Expired messages are never returned.
    pub fn get(&self, no_ack: bool) -> Option<(QueuedMessage, u32, Option<DeliveryId>)> {
        let mut state = self.state.lock();
        state.last_used = self.scheduler.now_ms();
        self.expire_heads(&mut state);
        let Some(message) = state.ready.pop_front() else {
            self.stats.get_empty.fetch_add(1, Ordering::Relaxed);
            self.finish(state);
            return None;
        };
        let fetched = if no_ack {
            &self.stats.fetched_no_ack
        } else {
            &self.stats.fetched
        };
        fetched.fetch_add(1, Ordering::Relaxed);
        self.note_delivery(&message, no_ack);
        let id = (!no_ack).then(|| self.check_out(&mut state, message.clone(), None));
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        let remaining = state.ready.len() as u32;
        self.arm_message_timer(&mut state);
        self.finish(state);
        Some((message, remaining, id))
    }

    /// Puts back a message handed to a no-ack consumer that never reached it
    /// (its channel closed first); it keeps its redelivered flag. (A manual-ack
    /// delivery goes back with [`Settlement::Return`].)
    pub fn requeue_undelivered(self: &Arc<Self>, message: QueuedMessage) {
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        state.ready.insert_in_order(message);
        self.dispatch_locked(&mut state);
        self.arm_message_timer(&mut state);
        self.finish(state);
    }

    /// Adds a consumer, enforcing exclusive consumption, and starts delivering.
    pub fn add_consumer(self: &Arc<Self>, consumer: Arc<Consumer>) -> Result<(), BrokerError> {
        let mut state = self.state.lock();
        if state.deleted {
            return Err(BrokerError::no_queue(&self.name, &self.vhost));
        }
        // As rabbit_amqqueue_process: a single-active-consumer queue refuses
        // exclusive consumers even when it has none.
        let exclusive_held = state.consumers.iter().any(|c| c.exclusive);
        let exclusive_refused = consumer.exclusive
            && (!state.consumers.is_empty() || state.settings.single_active_consumer);
        if exclusive_held || exclusive_refused {
            return Err(BrokerError::AccessRefused(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.name, self.vhost
            )));
        }
        state.consumers.push(consumer);
        state.ever_consumed = true;
        state.last_used = self.scheduler.now_ms();
        self.dispatch_locked(&mut state);
        self.finish(state);
        Ok(())
    }

    /// Removes the consumer with `tag` on `channel` of `connection_id`. With a
    /// single active consumer, a waiting consumer takes over when the active
    /// one goes: the highest consumer priority, the earliest registered among
    /// equals (RabbitMQ 3.10's classic queues).
    pub fn remove_consumer(
        self: &Arc<Self>,
        connection_id: u64,
        channel: u16,
        tag: &str,
    ) -> ConsumerRemoved {
        let mut state = self.state.lock();
        let position = state.consumers.iter().position(|c| {
            c.connection_id == connection_id && c.channel == channel && &*c.tag == tag
        });
        if let Some(at) = position {
            state.consumers.remove(at);
            if at == 0 && state.settings.single_active_consumer {
                state.activate_successor();
            }
        }
        let removed = position.is_some();
        let outcome = ConsumerRemoved {
            removed,
            should_auto_delete: removed
                && self.options.auto_delete
                && state.consumers.is_empty()
                && !state.deleted,
        };
        if removed && state.consumers.is_empty() {
            state.last_used = self.scheduler.now_ms();
            drop(state);
            self.touch();
        } else if removed {
            self.dispatch_locked(&mut state);
            self.finish(state);
        }
        outcome
    }

    /// Drops every ready message; returns how many there were. Purged messages
    /// are not dead-lettered (as in RabbitMQ).
    pub fn purge(&self) -> usize {
        let (count, stored) = self.state.lock().ready.drain_stored();
        stored.into_iter().for_each(|s| self.forget(s));
        count
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
        state.checked_out.clear();
        self.unacked.store(0, Ordering::Relaxed);
        self.unacked_bytes.store(0, Ordering::Relaxed);
        if let Some(store) = self.store.get() {
            store.delete_queue(&self.name, &[]);
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

    /// Ready messages whose bodies are in memory (the others are paged out).
    pub fn messages_in_memory(&self) -> usize {
        self.state.lock().ready.loaded()
    }

    /// Body bytes of the ready messages.
    pub fn message_bytes(&self) -> usize {
        self.state.lock().ready.bytes()
    }

    /// The ready messages broken down for statistics (counts, bytes, in
    /// memory, persistent, head timestamp), read under one lock.
    pub fn ready_stats(&self) -> ReadyStats {
        self.state.lock().ready.stats()
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

    /// The active consumer of a single-active-consumer queue (None for other
    /// queues and while there is no consumer).
    pub fn single_active_consumer(&self) -> Option<Arc<Consumer>> {
        let state = self.state.lock();
        if !state.settings.single_active_consumer {
            return None;
        }
        state.consumers.first().cloned()
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

/// A message's TTL in a queue: the queue's message TTL and the message's
/// `expiration`, the smaller wins.
fn message_ttl(settings: &QueueSettings, message: &Message) -> Option<u64> {
    match (settings.message_ttl, message.expiration_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl QueueState {
    /// With a single active consumer, the active one is kept first in
    /// `consumers`, the waiting ones behind it in registration order. Once the
    /// active one has gone, this moves its successor to the front: the highest
    /// priority, the earliest registered among equals. A consumer of higher
    /// priority arriving later does not take over (RabbitMQ 3.10.8, classic
    /// queues).
    fn activate_successor(&mut self) {
        let mut best: Option<usize> = None;
        for (i, candidate) in self.consumers.iter().enumerate() {
            if best.is_none_or(|b| candidate.priority > self.consumers[b].priority) {
                best = Some(i);
            }
        }
        if let Some(i) = best.filter(|&i| i > 0) {
            let successor = self.consumers.remove(i);
            self.consumers.insert(0, successor);
        }
    }

    /// Picks the next consumer with room: the highest consumer priority first,
    /// round-robin among equals. With a single active consumer, only the
    /// active one (kept first, see [`QueueState::activate_successor`]) is ever
    /// picked.
    fn next_consumer(&mut self) -> Option<Arc<Consumer>> {
        if self.settings.single_active_consumer {
            return self.consumers.first().filter(|c| c.can_take()).cloned();
        }
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

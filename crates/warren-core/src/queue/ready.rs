//! The ready list of a queue: messages waiting for a consumer, in queue order.
//! A priority queue (x-max-priority) keeps one list per priority level and
//! serves the highest non-empty level first; within a level, FIFO.
//!
//! This is also where a queue's memory is bounded: past a budget of bodies in
//! memory, a persistent message of a durable queue keeps only its index entry
//! (where its record is on disk) and is read back from the message store when
//! it reaches a consumer (RabbitMQ's classic queue v2 behaviour).
//!
//! The list runs under the queue's lock on a runtime worker, so it never
//! waits for the store's writer thread. A message paged out before the store
//! has written its record keeps its in-memory copy (a reference count on the
//! shared `Arc<Message>`; the writer's pending batch holds the encoded bytes
//! anyway): it is delivered from that copy, and the copy is dropped once
//! [`MessageStore::is_written`] reports the record written, checked (one
//! atomic load each) whenever a message is pushed or popped. A message read
//! back from the store is therefore always one already written: the read is
//! a `pread` of data in the segment, never a wait for a flush. Such copies
//! are not counted as in memory in the statistics: they last one writer batch
//! (or until the queue is next used).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use warren_store::{Location, MessageStore};

use super::{QueuedMessage, Stored};
use crate::message::Message;

/// Name of the index that holds transient messages paged out of memory. It is
/// longer than any AMQP queue name can be (255 bytes), so it never collides
/// with a queue, and recovery discards it: paged transient messages do not
/// survive a restart, as RabbitMQ's do not.
pub const TRANSIENT_PAGES: &str = concat!(
    "warren:transient-pages:",
    "................................................................",
    "................................................................",
    "................................................................",
    "................................................................"
);

/// [`TRANSIENT_PAGES`] as the shared name the store takes (allocated once).
fn transient_pages() -> &'static Arc<str> {
    static NAME: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| Arc::from(TRANSIENT_PAGES))
}

/// Writes a transient message's record so its body can leave memory.
fn page_out_transient(store: &dyn MessageStore, message: &Message) -> Stored {
    let record = message.to_record(store.next_id());
    let location = store.persist(&record, std::slice::from_ref(transient_pages()), None);
    Stored {
        id: record.id,
        location,
    }
}

/// While memory runs high (past the paging ratio of the watermark) a queue
/// keeps at most this many bodies in memory, whatever its normal budget, and
/// pages the rest out as they arrive.
const MEMORY_HIGH_MESSAGES: usize = 1024;
/// The same budget in body bytes.
const MEMORY_HIGH_BYTES: usize = 4 << 20;

/// The ready messages of a queue broken down for statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadyStats {
    /// Ready messages.
    pub messages: usize,
    /// Their body bytes.
    pub bytes: usize,
    /// Ready messages whose bodies are in memory (the rest are paged out).
    pub in_memory: usize,
    /// Body bytes in memory.
    pub in_memory_bytes: usize,
    /// Ready messages with a durable copy on disk.
    pub persistent: usize,
    /// Their body bytes.
    pub persistent_bytes: usize,
    /// The `timestamp` property (seconds) of the head message, when it is in memory.
    pub head_timestamp: Option<u64>,
}

/// A ready message whose body lives only on disk.
struct Paged {
    seq: u64,
    redelivered: bool,
    stored: Stored,
    /// A transient message written only to free memory (index [`TRANSIENT_PAGES`]).
    transient: bool,
    expires_at: Option<u64>,
    priority: u8,
    size: usize,
    /// The message itself while the store has not yet written its record
    /// (reading it back would wait for the writer thread).
    unwritten: Option<Arc<Message>>,
}

/// A paged message whose record was not yet written when it was paged out:
/// where it is in the list and in the store.
struct Unwritten {
    level: usize,
    seq: u64,
    location: Location,
}

enum Slot {
    Loaded(QueuedMessage),
    Paged(Paged),
}

impl Slot {
    fn seq(&self) -> u64 {
        match self {
            Slot::Loaded(m) => m.seq,
            Slot::Paged(p) => p.seq,
        }
    }

    fn expires_at(&self) -> Option<u64> {
        match self {
            Slot::Loaded(m) => m.expires_at,
            Slot::Paged(p) => p.expires_at,
        }
    }

    fn size(&self) -> usize {
        match self {
            Slot::Loaded(m) => m.message.body_size(),
            Slot::Paged(p) => p.size,
        }
    }

    /// The durable copy of the message, if it has one.
    fn stored(&self) -> Option<Stored> {
        match self {
            Slot::Loaded(m) => m.stored,
            Slot::Paged(p) if !p.transient => Some(p.stored),
            Slot::Paged(_) => None,
        }
    }
}

/// Messages ready for delivery, ordered by their sequence number within each
/// priority level.
pub struct ReadyList {
    levels: Vec<VecDeque<Slot>>,
    len: usize,
    bytes: usize,
    loaded: usize,
    loaded_bytes: usize,
    /// Messages with a durable copy (persistent messages in a durable queue).
    persistent: usize,
    persistent_bytes: usize,
    store: Option<Arc<dyn MessageStore>>,
    /// Set while memory runs high: transient messages may be paged out too.
    memory_high: Option<Arc<AtomicBool>>,
    /// Paged messages still holding their in-memory copy, in paging order.
    /// That is about the order the store writes them in; where it is not (two
    /// publishers racing), a record not yet written holds back the copies
    /// behind it a little longer, which costs memory for a moment, never
    /// correctness.
    unwritten: VecDeque<Unwritten>,
}

impl Default for ReadyList {
    fn default() -> Self {
        Self::with_levels(1)
    }
}

impl ReadyList {
    /// A list with `levels` priority levels (1 for an ordinary queue).
    pub fn with_levels(levels: usize) -> Self {
        ReadyList {
            levels: (0..levels.max(1)).map(|_| VecDeque::new()).collect(),
            len: 0,
            bytes: 0,
            loaded: 0,
            loaded_bytes: 0,
            persistent: 0,
            persistent_bytes: 0,
            store: None,
            memory_high: None,
            unwritten: VecDeque::new(),
        }
    }

    /// Lets messages be paged out to (and read back from) `store`.
    pub fn attach_store(
        &mut self,
        store: Arc<dyn MessageStore>,
        memory_high: Option<Arc<AtomicBool>>,
    ) {
        self.store = Some(store);
        self.memory_high = memory_high;
    }

    fn level_of(&self, priority: u8) -> usize {
        (priority as usize).min(self.levels.len() - 1)
    }

    /// Index of the level the next message comes from.
    fn head_level(&self) -> Option<usize> {
        self.levels.iter().rposition(|l| !l.is_empty())
    }

    /// Whether the queue holds as many bodies in memory as it may: its
    /// configured budget, or a small one while memory runs high.
    fn over_budget(&self, memory_high: bool) -> bool {
        self.store.as_ref().is_some_and(|s| {
            let c = s.config();
            let (messages, bytes) = if memory_high {
                (
                    c.queue_memory_messages.min(MEMORY_HIGH_MESSAGES),
                    c.queue_memory_bytes.min(MEMORY_HIGH_BYTES),
                )
            } else {
                (c.queue_memory_messages, c.queue_memory_bytes)
            };
            self.loaded >= messages || self.loaded_bytes >= bytes
        })
    }

    /// Wraps a message, paging its body out if the queue is over its budget: a
    /// persistent message already has its record on disk; a transient one is
    /// written to the store's transient pages first.
    fn slot(&mut self, message: QueuedMessage) -> Slot {
        // Persistent messages are paged past the budget; transient ones only
        // when memory also runs high (they must be written out to be paged).
        let memory_high = self
            .memory_high
            .as_ref()
            .is_some_and(|m| m.load(Ordering::Relaxed));
        let page = self.over_budget(memory_high) && (message.stored.is_some() || memory_high);
        let store = match &self.store {
            Some(store) if page => store,
            _ => {
                self.loaded += 1;
                self.loaded_bytes += message.message.body_size();
                return Slot::Loaded(message);
            }
        };
        let (stored, transient) = match message.stored {
            Some(stored) => (stored, false),
            None => (page_out_transient(store.as_ref(), &message.message), true),
        };
        let unwritten = (!store.is_written(stored.location)).then_some(message.message.clone());
        if unwritten.is_some() {
            self.unwritten.push_back(Unwritten {
                level: self.level_of(message.priority),
                seq: message.seq,
                location: stored.location,
            });
        }
        Slot::Paged(Paged {
            seq: message.seq,
            redelivered: message.redelivered,
            stored,
            transient,
            expires_at: message.expires_at,
            priority: message.priority,
            size: message.message.body_size(),
            unwritten,
        })
    }

    /// Drops the in-memory copies of paged messages whose records the store
    /// has written since they were paged out (the oldest first; it stops at
    /// the first one not yet written). Never waits.
    fn release_written(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        while let Some(u) = self.unwritten.front() {
            if !store.is_written(u.location) {
                return;
            }
            let list = &mut self.levels[u.level];
            let at = list.partition_point(|s| s.seq() < u.seq);
            if let Some(Slot::Paged(p)) = list.get_mut(at).filter(|s| s.seq() == u.seq) {
                p.unwritten = None;
            }
            self.unwritten.pop_front();
        }
    }

    /// Paged messages still holding their in-memory copy (tests).
    #[cfg(test)]
    fn unwritten(&self) -> usize {
        self.levels
            .iter()
            .flatten()
            .filter(|s| matches!(s, Slot::Paged(p) if p.unwritten.is_some()))
            .count()
    }

    fn account_persistent_added(&mut self, message: &QueuedMessage) {
        if message.stored.is_some() {
            self.persistent += 1;
            self.persistent_bytes += message.message.body_size();
        }
    }

    fn account_removed(&mut self, slot: &Slot) {
        self.len -= 1;
        self.bytes -= slot.size();
        if slot.stored().is_some() {
            self.persistent -= 1;
            self.persistent_bytes -= slot.size();
        }
        if let Slot::Loaded(m) = slot {
            self.loaded -= 1;
            self.loaded_bytes -= m.message.body_size();
        }
    }

    /// Takes a paged message back: its in-memory copy if the store had not
    /// written its record yet, else the record (written, so the read never
    /// waits for the writer). A record that cannot be read is reported and
    /// skipped (None).
    fn load(&self, slot: Slot) -> Option<QueuedMessage> {
        let p = match slot {
            Slot::Loaded(m) => return Some(m),
            Slot::Paged(p) => p,
        };
        let store = self.store.as_ref()?;
        let read = match p.unwritten {
            Some(message) => Ok(message),
            None => store
                .read(p.stored.location)
                .map(|m| Arc::new(Message::from_record(m))),
        };
        // Only once read: the ack may free the record at once.
        if p.transient {
            store.ack(transient_pages(), p.stored.id, p.stored.location);
        }
        match read {
            Ok(message) => Some(QueuedMessage {
                seq: p.seq,
                message,
                redelivered: p.redelivered,
                stored: (!p.transient).then_some(p.stored),
                expires_at: p.expires_at,
                priority: p.priority,
            }),
            Err(e) => {
                tracing::error!(
                    "paged message {} cannot be read back and is dropped: {e}",
                    p.stored.id
                );
                None
            }
        }
    }

    /// Appends a newly published message (it has the highest sequence number).
    pub fn push_back(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        self.len += 1;
        self.account_persistent_added(&message);
        let level = self.level_of(message.priority);
        let slot = self.slot(message);
        self.levels[level].push_back(slot);
        self.release_written();
    }

    /// Takes the next message to deliver (reading it back if it was paged out).
    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        self.release_written();
        loop {
            let level = self.head_level()?;
            let list = &mut self.levels[level];
            let slot = list.pop_front()?;
            // A drained backlog gives its memory back (amortised, and only when
            // the list is down to an eighth of its capacity, so the new buffer
            // is small next to the old one while both exist).
            if list.capacity() > 4096 && list.len() < list.capacity() / 8 {
                list.shrink_to(list.len() * 2);
            }
            self.account_removed(&slot);
            if let Some(message) = self.load(slot) {
                return Some(message);
            }
        }
    }

    /// Whether the next message to deliver has an expiry.
    pub fn head_expires(&self) -> bool {
        self.head_level()
            .and_then(|l| self.levels[l].front())
            .is_some_and(|s| s.expires_at().is_some())
    }

    /// Puts a message back at its original position (requeue); it stays in memory.
    pub fn insert_in_order(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        self.len += 1;
        self.account_persistent_added(&message);
        self.loaded += 1;
        self.loaded_bytes += message.message.body_size();
        let seq = message.seq;
        let level = self.level_of(message.priority);
        let list = &mut self.levels[level];
        match list.front() {
            Some(front) if front.seq() < seq => {
                let at = list.partition_point(|m| m.seq() < seq);
                list.insert(at, Slot::Loaded(message));
            }
            _ => list.push_front(Slot::Loaded(message)),
        }
    }

    /// Removes, at the head of every level, the messages whose expiry is at or
    /// before `now`, appending them to `out`. Only heads are examined: messages
    /// behind an unexpired head wait (RabbitMQ's rule for per-message TTL).
    pub fn drain_expired(&mut self, now: u64, out: &mut Vec<QueuedMessage>) {
        for level in 0..self.levels.len() {
            while self.levels[level]
                .front()
                .is_some_and(|s| s.expires_at().is_some_and(|t| t <= now))
            {
                if let Some(slot) = self.levels[level].pop_front() {
                    self.account_removed(&slot);
                    out.extend(self.load(slot));
                }
            }
        }
    }

    /// The earliest expiry among the level heads.
    pub fn earliest_head_expiry(&self) -> Option<u64> {
        self.levels
            .iter()
            .filter_map(|l| l.front().and_then(Slot::expires_at))
            .min()
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is ready.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total body bytes of the ready messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages whose bodies are in memory.
    pub fn loaded(&self) -> usize {
        self.loaded
    }

    /// Counts and bytes for statistics, and the `timestamp` property of the
    /// next message to deliver if its body is in memory (RabbitMQ shows the
    /// head timestamp only for paged-in messages too).
    pub fn stats(&self) -> ReadyStats {
        let head_timestamp = self
            .head_level()
            .and_then(|l| self.levels[l].front())
            .and_then(|slot| match slot {
                Slot::Loaded(m) => m.message.ann.timestamp,
                Slot::Paged(_) => None,
            });
        ReadyStats {
            messages: self.len,
            bytes: self.bytes,
            in_memory: self.loaded,
            in_memory_bytes: self.loaded_bytes,
            persistent: self.persistent,
            persistent_bytes: self.persistent_bytes,
            head_timestamp,
        }
    }

    /// Removes every message without reading paged ones back; returns how many
    /// there were and where the persisted ones are.
    pub fn drain_stored(&mut self) -> (usize, Vec<Stored>) {
        let n = self.len;
        let slots: Vec<Slot> = self.levels.iter_mut().flat_map(|l| l.drain(..)).collect();
        let mut stored = Vec::new();
        for slot in slots {
            match (&slot, &self.store) {
                (Slot::Paged(p), Some(store)) if p.transient => {
                    store.ack(transient_pages(), p.stored.id, p.stored.location)
                }
                _ => stored.extend(slot.stored()),
            }
        }
        self.unwritten.clear();
        self.len = 0;
        self.bytes = 0;
        self.loaded = 0;
        self.loaded_bytes = 0;
        self.persistent = 0;
        self.persistent_bytes = 0;
        (n, stored)
    }

    /// Removes every message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        self.drain_stored().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use warren_store::{SegmentStore, StoreConfig};

    fn transient(seq: u64) -> QueuedMessage {
        QueuedMessage {
            seq,
            message: Arc::new(Message {
                exchange: Bytes::new(),
                routing_key: Bytes::from_static(b"q"),
                content: crate::message::Content::new(
                    crate::message::FormatId::AMQP_091,
                    Bytes::from_static(&[0, 0]),
                ),
                ann: Default::default(),
                body: Bytes::from(format!("body {seq}")),
            }),
            redelivered: false,
            stored: None,
            expires_at: None,
            priority: 0,
        }
    }

    #[test]
    fn memory_running_high_shrinks_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = SegmentStore::open(dir.path(), StoreConfig::default(), |_| true).unwrap();
        let memory_high = Arc::new(AtomicBool::new(true));
        let mut ready = ReadyList::default();
        ready.attach_store(Arc::new(store), Some(memory_high));
        for seq in 0..3000 {
            ready.push_back(transient(seq));
        }
        assert_eq!(ready.loaded(), MEMORY_HIGH_MESSAGES);
        assert_eq!(ready.len(), 3000);
    }

    #[test]
    fn transient_messages_are_paged_only_while_memory_runs_high() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            queue_memory_messages: 10,
            ..Default::default()
        };
        let (store, _) = SegmentStore::open(dir.path(), config, |_| true).unwrap();
        let memory_high = Arc::new(AtomicBool::new(false));
        let mut ready = ReadyList::default();
        ready.attach_store(Arc::new(store), Some(memory_high.clone()));
        for seq in 0..20 {
            ready.push_back(transient(seq));
        }
        assert_eq!(ready.loaded(), 20, "memory is fine: nothing written out");
        memory_high.store(true, Ordering::Relaxed);
        for seq in 20..40 {
            ready.push_back(transient(seq));
        }
        assert_eq!(
            ready.loaded(),
            20,
            "memory runs high: the next 20 are paged out"
        );
        for seq in 0..40 {
            let m = ready.pop_front().expect("message");
            assert_eq!(m.seq, seq);
            assert_eq!(&m.message.body[..], format!("body {seq}").as_bytes());
            assert!(
                m.stored.is_none(),
                "a paged transient message stays transient"
            );
        }
        assert!(ready.is_empty());
    }

    /// A persistent message of a durable queue, its record persisted in `store`.
    fn persistent(store: &dyn MessageStore, seq: u64) -> QueuedMessage {
        let mut m = transient(seq);
        let record = m.message.to_record(store.next_id());
        let queue: Arc<str> = Arc::from("q");
        let location = store.persist(&record, std::slice::from_ref(&queue), None);
        m.stored = Some(Stored {
            id: record.id,
            location,
        });
        m
    }

    /// Everything is paged out (a budget of 0 bodies): persistent messages
    /// always, transient ones because memory runs high.
    fn paging_everything(store: Arc<dyn MessageStore>) -> ReadyList {
        let mut ready = ReadyList::default();
        ready.attach_store(store, Some(Arc::new(AtomicBool::new(true))));
        ready
    }

    fn no_budget() -> StoreConfig {
        StoreConfig {
            queue_memory_messages: 0,
            ..Default::default()
        }
    }

    /// Pages 500 messages out (persistent and transient alternately) and
    /// consumes them at once, then again after the store wrote them: in order,
    /// whole, and without a wait for the writer in between.
    fn page_out_and_consume_at_once(store: Arc<dyn MessageStore>) {
        let mut ready = paging_everything(store.clone());
        for round in 0..2u64 {
            let first = round * 500;
            for seq in first..first + 500 {
                let m = if seq % 2 == 0 {
                    persistent(store.as_ref(), seq)
                } else {
                    transient(seq)
                };
                ready.push_back(m);
            }
            assert_eq!(ready.loaded(), 0, "every body is paged out");
            if round == 1 {
                // Outside any lock: wait until the writer wrote everything,
                // then the list drops its copies at the next pop.
                store.flush();
            }
            for seq in first..first + 500 {
                let m = ready.pop_front().expect("message");
                assert_eq!(m.seq, seq);
                assert_eq!(&m.message.body[..], format!("body {seq}").as_bytes());
                assert_eq!(m.stored.is_some(), seq % 2 == 0);
                if round == 1 {
                    assert_eq!(ready.unwritten(), 0, "written: read back from the store");
                }
            }
            assert!(ready.is_empty());
        }
    }

    #[test]
    fn paged_messages_are_consumed_at_once_from_a_segment_store() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = SegmentStore::open(dir.path(), no_budget(), |_| true).unwrap();
        page_out_and_consume_at_once(Arc::new(store));
    }

    #[test]
    fn paged_messages_are_consumed_at_once_from_a_memory_store() {
        page_out_and_consume_at_once(Arc::new(warren_store::MemStore::new(no_budget())));
    }

    #[test]
    fn in_memory_copies_go_once_the_store_wrote_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = SegmentStore::open(dir.path(), no_budget(), |_| true).unwrap();
        let store: Arc<dyn MessageStore> = Arc::new(store);
        let mut ready = paging_everything(store.clone());
        for seq in 0..100 {
            ready.push_back(persistent(store.as_ref(), seq));
        }
        store.flush();
        ready.push_back(transient(100));
        store.flush();
        ready.push_back(transient(101));
        assert!(
            ready.unwritten() <= 1,
            "at most the newest page waits for the writer"
        );
        assert_eq!(ready.len(), 102);
    }
}

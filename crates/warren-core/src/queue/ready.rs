//! The ready list of a queue: messages waiting for a consumer, in queue order.
//! A priority queue (x-max-priority) keeps one list per priority level and
//! serves the highest non-empty level first; within a level, FIFO.
//!
//! This is the boundary between the queue's logic and where its messages live:
//! a message store can later keep bodies elsewhere and leave index entries here.

use std::collections::VecDeque;

use super::QueuedMessage;

/// Messages ready for delivery, ordered by their sequence number within each
/// priority level.
pub struct ReadyList {
    levels: Vec<VecDeque<QueuedMessage>>,
    len: usize,
    bytes: usize,
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
        }
    }

    fn level_of(&self, message: &QueuedMessage) -> usize {
        (message.priority as usize).min(self.levels.len() - 1)
    }

    /// Index of the level the next message comes from.
    fn head_level(&self) -> Option<usize> {
        self.levels.iter().rposition(|l| !l.is_empty())
    }

    /// Appends a newly published message (it has the highest sequence number).
    pub fn push_back(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        self.len += 1;
        let level = self.level_of(&message);
        self.levels[level].push_back(message);
    }

    /// Takes the next message to deliver.
    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let level = self.head_level()?;
        let message = self.levels[level].pop_front()?;
        self.bytes -= message.message.body_size();
        self.len -= 1;
        Some(message)
    }

    /// The next message to deliver.
    pub fn front(&self) -> Option<&QueuedMessage> {
        self.levels[self.head_level()?].front()
    }

    /// Puts a message back at its original position (requeue).
    pub fn insert_in_order(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        self.len += 1;
        let seq = message.seq;
        let level = self.level_of(&message);
        let list = &mut self.levels[level];
        match list.front() {
            Some(front) if front.seq < seq => {
                let at = list.partition_point(|m| m.seq < seq);
                list.insert(at, message);
            }
            _ => list.push_front(message),
        }
    }

    /// Removes, at the head of every level, the messages whose expiry is at or
    /// before `now`, appending them to `out`. Only heads are examined: messages
    /// behind an unexpired head wait (RabbitMQ's rule for per-message TTL).
    pub fn drain_expired(&mut self, now: u64, out: &mut Vec<QueuedMessage>) {
        for list in &mut self.levels {
            while list.front().is_some_and(|m| m.is_expired(now)) {
                if let Some(m) = list.pop_front() {
                    self.bytes -= m.message.body_size();
                    self.len -= 1;
                    out.push(m);
                }
            }
        }
    }

    /// The earliest expiry among the level heads.
    pub fn earliest_head_expiry(&self) -> Option<u64> {
        self.levels
            .iter()
            .filter_map(|l| l.front().and_then(|m| m.expires_at))
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

    /// Removes and returns every message.
    pub fn drain(&mut self) -> Vec<QueuedMessage> {
        self.bytes = 0;
        self.len = 0;
        self.levels.iter_mut().flat_map(|l| l.drain(..)).collect()
    }

    /// Removes every message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.len;
        self.levels.iter_mut().for_each(VecDeque::clear);
        self.len = 0;
        self.bytes = 0;
        n
    }
}

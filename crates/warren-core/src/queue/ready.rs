//! The ready list of a queue: messages waiting for a consumer, in queue order.

use std::collections::VecDeque;

use super::QueuedMessage;

/// Messages ready for delivery, ordered by their sequence number in the queue.
#[derive(Default)]
pub struct ReadyList {
    messages: VecDeque<QueuedMessage>,
    bytes: usize,
}

impl ReadyList {
    /// Appends a newly published message (it has the highest sequence number).
    pub fn push_back(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        self.messages.push_back(message);
    }

    /// Takes the oldest message.
    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let message = self.messages.pop_front()?;
        self.bytes -= message.message.body_size();
        Some(message)
    }

    /// Puts a message back at its original position (requeue).
    pub fn insert_in_order(&mut self, message: QueuedMessage) {
        self.bytes += message.message.body_size();
        let seq = message.seq;
        match self.messages.front() {
            Some(front) if front.seq < seq => {
                let at = self.messages.partition_point(|m| m.seq < seq);
                self.messages.insert(at, message);
            }
            _ => self.messages.push_front(message),
        }
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether no message is ready.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Total body bytes of the ready messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes and returns every message.
    pub fn drain(&mut self) -> Vec<QueuedMessage> {
        self.bytes = 0;
        self.messages.drain(..).collect()
    }

    /// Removes every message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.messages.len();
        self.messages.clear();
        self.bytes = 0;
        n
    }
}

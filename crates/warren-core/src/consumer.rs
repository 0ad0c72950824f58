//! Consumers, their prefetch credit, and the sink through which a queue hands
//! deliveries to whatever protocol connection owns the consumer.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::queue::{Queue, QueuedMessage};

/// Where deliveries for a connection go. Implemented by protocol adapters; called
/// by queues with the queue's lock held, so implementations only enqueue and wake.
pub trait DeliverySink: Send + Sync {
    /// Hands over one delivery for `delivery.consumer`.
    fn deliver(&self, delivery: Delivery);
    /// Tells the consumer's owner that the broker cancelled it (its queue was
    /// deleted); RabbitMQ sends `basic.cancel` for this.
    fn cancel(&self, consumer: Arc<Consumer>);
    /// Whether the sink can take more deliveries now. A full sink stops a queue
    /// from dispatching to the consumer; its owner re-kicks the queue when drained.
    fn is_writable(&self) -> bool;
}

/// One message handed to one consumer.
pub struct Delivery {
    /// The consumer it is for.
    pub consumer: Arc<Consumer>,
    /// The queue it comes from.
    pub queue: Arc<Queue>,
    /// The message and its queue position.
    pub message: QueuedMessage,
    /// Its id in the queue while it awaits settlement (None for a no-ack
    /// consumer): what the adapter gives back to [`Queue::settle`].
    pub id: Option<crate::queue::DeliveryId>,
}

/// A prefetch window: how many deliveries may be outstanding (0 = unlimited).
#[derive(Debug, Default)]
pub struct ConsumerCredit {
    limit: AtomicU32,
    in_flight: AtomicU32,
}

impl ConsumerCredit {
    /// A window of `limit` outstanding deliveries (0 = unlimited).
    pub fn new(limit: u32) -> Self {
        ConsumerCredit {
            limit: AtomicU32::new(limit),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Changes the window; returns true if it grew (so queues should re-dispatch).
    pub fn set_limit(&self, limit: u32) -> bool {
        let old = self.limit.swap(limit, Ordering::AcqRel);
        limit == 0 || (old != 0 && limit > old)
    }

    /// Whether one more delivery fits.
    pub fn has_room(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        limit == 0 || self.in_flight.load(Ordering::Acquire) < limit
    }

    /// Counts one more outstanding delivery.
    pub fn take(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// Returns `n` deliveries' worth of credit; true if the window was full before.
    pub fn give_back(&self, n: u32) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        let before = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            })
            .unwrap_or(0);
        limit != 0 && before >= limit
    }

    /// The window (0 = unlimited).
    pub fn limit(&self) -> u32 {
        self.limit.load(Ordering::Acquire)
    }

    /// Outstanding deliveries.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// A subscription of one channel to one queue.
pub struct Consumer {
    /// The consumer tag, unique within its channel.
    pub tag: Arc<str>,
    /// The protocol channel number that owns it.
    pub channel: u16,
    /// The connection that owns it.
    pub connection_id: u64,
    /// Deliveries need no acknowledgement.
    pub no_ack: bool,
    /// Asked for exclusive access to the queue.
    pub exclusive: bool,
    /// Consumer priority (x-priority); higher ones are served first.
    pub priority: i32,
    /// Arguments given at consume time, kept for listing.
    pub arguments: crate::value::Table,
    /// Per-consumer prefetch window (basic.qos with global=false).
    pub credit: ConsumerCredit,
    /// Channel-wide prefetch window shared by the channel's consumers (global=true).
    pub channel_credit: Arc<ConsumerCredit>,
    /// Where its deliveries go.
    pub sink: Arc<dyn DeliverySink>,
    /// Still registered by its owner (cleared by [`Consumer::retire`] when
    /// cancelled): lets the owner tell, without a lookup, whether a delivery
    /// that was on its way is still wanted.
    pub active: AtomicBool,
}

impl Consumer {
    /// Marks the consumer cancelled by its owner.
    pub fn retire(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Whether its owner still has it registered.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The consumer's own prefetch window (0 = unlimited).
    pub fn credit_limit(&self) -> u32 {
        self.credit.limit()
    }

    /// Whether the consumer can take a delivery now.
    pub fn can_take(&self) -> bool {
        if !self.sink.is_writable() {
            return false;
        }
        self.no_ack || (self.credit.has_room() && self.channel_credit.has_room())
    }

    /// Records one delivery against the prefetch windows.
    pub fn take(&self) {
        if !self.no_ack {
            self.credit.take();
            self.channel_credit.take();
        }
    }

    /// Returns credit for `n` settled deliveries; true if the consumer was blocked by
    /// its own window before (so its queue should dispatch again).
    pub fn settle(&self, n: u32) -> bool {
        if self.no_ack {
            return false;
        }
        let own = self.credit.give_back(n);
        let shared = self.channel_credit.give_back(n);
        own || shared
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("tag", &self.tag)
            .field("channel", &self.channel)
            .field("no_ack", &self.no_ack)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_window_blocks_and_reports_unblocking() {
        let c = ConsumerCredit::new(2);
        assert!(c.has_room());
        c.take();
        c.take();
        assert!(!c.has_room());
        assert!(c.give_back(1));
        assert!(c.has_room());
        assert!(!c.give_back(5));
        assert_eq!(c.in_flight(), 0);
        let unlimited = ConsumerCredit::new(0);
        for _ in 0..10 {
            unlimited.take();
        }
        assert!(unlimited.has_room());
    }
}

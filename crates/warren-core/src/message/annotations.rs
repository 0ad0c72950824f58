//! What the broker needs to know about a message, computed once at ingress by
//! the protocol adapter (and updated by the core when it dead-letters): the
//! protocol-neutral half of a [`super::Message`], as RabbitMQ's `mc`
//! annotations.

use bytes::Bytes;

/// The broker's view of a message. A plain message (no CC keys, never
/// dead-lettered) keeps everything inline; the rarely-set fields live behind
/// one box so that [`Annotations`] stays small.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// The per-message TTL in milliseconds, already validated by the adapter.
    pub expiry_ms: Option<u64>,
    /// The publisher's timestamp (seconds since the Unix epoch), shown as a
    /// queue's head message timestamp.
    pub timestamp: Option<u64>,
    /// Whether the publisher asked for persistence.
    pub durable: bool,
    /// The publisher's priority.
    pub priority: Option<u8>,
    /// CC keys and dead-letter history, when there are any.
    pub extra: Option<Box<Extra>>,
}

/// The rarely-set annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// Routing keys from the `CC` header (BCC already removed by the adapter).
    pub cc: Vec<Bytes>,
    /// The death history, most recent first, one entry per (queue, reason).
    pub deaths: Vec<Death>,
    /// Where and why the message first died, if the broker recorded its first
    /// death (a message published with a death history keeps the
    /// publisher's first-death values).
    pub first_death: Option<FirstDeath>,
    /// Whether the broker dead-lettered the message, so that the adapter
    /// renders the death history into what it delivers.
    pub dead_lettered: bool,
    /// Whether the per-message TTL was removed (dead-lettering does that).
    pub expiration_removed: bool,
    /// Whether the `CC` keys were dropped (a dead-letter routing key was set).
    pub cc_removed: bool,
}

/// One entry of a message's death history (RabbitMQ's `x-death` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// The queue the message died in.
    pub queue: Bytes,
    /// Why: `rejected`, `expired`, `maxlen`, or whatever a publisher wrote.
    pub reason: Bytes,
    /// How many times it died in this queue for this reason.
    pub count: i64,
    /// When it first died there (seconds since the Unix epoch).
    pub time: u64,
    /// The exchange it had been published to.
    pub exchange: Bytes,
    /// The keys it had been routed with (routing key, then CC keys).
    pub routing_keys: Vec<Bytes>,
    /// Its per-message TTL at that death, as the publisher wrote it.
    pub original_expiration: Option<Bytes>,
    /// Whether the entry was written again after its first write (RabbitMQ
    /// then keeps its fields sorted by name rather than in its own order).
    pub rewritten: bool,
}

/// The first death's values (RabbitMQ's `x-first-death-*` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstDeath {
    /// Why it first died.
    pub reason: Bytes,
    /// The queue it first died in.
    pub queue: Bytes,
    /// The exchange it had been published to.
    pub exchange: Bytes,
}

impl Annotations {
    /// The CC routing keys (empty for most messages).
    pub fn cc(&self) -> &[Bytes] {
        self.extra.as_ref().map_or(&[], |e| &e.cc)
    }

    /// The death history, most recent first (empty for most messages).
    pub fn deaths(&self) -> &[Death] {
        self.extra.as_ref().map_or(&[], |e| &e.deaths)
    }

    /// Whether the adapter must render anything beyond the content it
    /// received (dead-lettered, or a property removed).
    pub fn changes_content(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|e| e.dead_lettered || e.expiration_removed || e.cc_removed)
    }

    /// The boxed fields, created on first use.
    pub fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

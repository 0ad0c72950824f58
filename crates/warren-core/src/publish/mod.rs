//! The publish use case, one path for every protocol adapter and the
//! management API (as NATS routes an MQTT publish through the same door as a
//! NATS one, and LavinMQ's `VHost#publish`).
//!
//! A [`Publisher`] belongs to one channel or session: it caches the user's
//! granted permissions, keeps the routing scratch buffer between publishes,
//! and [`Publisher::publish`] does everything from "this message goes to that
//! exchange" to "routed to N queues, persisted or not": routing with the extra
//! (CC) keys and alternate exchanges, exchange and channel counters, the
//! message store write (once for all durable queues), enqueueing with
//! overflow, and the confirm registration. The adapter keeps only what its
//! protocol says about the outcome (a basic.return, a basic.ack or nack).

mod access;

use std::sync::Arc;

use crate::value::Table;
use bytes::Bytes;

use crate::auth::{Access, ResourceKind};
use crate::broker::Broker;
use crate::enqueue::enqueue;
use crate::error::BrokerError;
use crate::exchange::{Exchange, ExchangeKind};
use crate::message::Message;
use crate::queue::Queue;
use crate::registry::MessageCounters;
use crate::vhost::VHost;

pub(crate) use access::AccessCache;

/// Told when a persisted message is on disk: a publisher-confirm sink (the
/// token is the adapter's own, e.g. channel and sequence number).
pub use warren_store::SyncListener as ConfirmListener;

/// Bytes a message's struct and its shared allocation cost beyond its content.
const MESSAGE_OVERHEAD: usize = 256;
/// Bytes each queue's entry for a message costs.
const QUEUE_ENTRY_OVERHEAD: usize = 128;

/// What a message routed to `queues` queues adds to memory, as charged
/// against the broker's memory credit (small messages cost far more than
/// their bytes on the wire).
pub fn memory_estimate(message: &Message, queues: usize) -> usize {
    if queues == 0 {
        return 0;
    }
    let content = message.body.len() + message.content.bytes.len() + message.routing_key.len();
    content + MESSAGE_OVERHEAD + QUEUE_ENTRY_OVERHEAD * queues
}

/// One message to publish, with everything routing needs.
pub struct Publish<'a> {
    /// The exchange, from [`Publisher::destination`].
    pub exchange: &'a Arc<Exchange>,
    /// The message (its routing key is the first routing key).
    pub message: &'a Arc<Message>,
    /// More routing keys (the CC and BCC headers).
    pub extra_keys: &'a [Bytes],
    /// The message's headers, asked for only by a headers exchange.
    pub headers: &'a mut dyn FnMut() -> Option<Table>,
    /// The channel's (or the API's) message counters.
    pub counters: &'a MessageCounters,
    /// Whether the publisher wants the message back if it reaches no queue.
    pub mandatory: bool,
    /// Who to tell, with which token, once a persisted message is on disk.
    pub confirm: Option<(&'a Arc<dyn ConfirmListener>, u64)>,
}

/// What publishing one message did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Routed {
    /// Number of queues it reached.
    pub queues: usize,
    /// Written to the message store (a persistent message reached a durable
    /// queue); the confirm listener, if any, will be told when it is synced.
    pub persisted: bool,
    /// A queue refused it (x-overflow reject-publish): a confirm is a nack.
    pub rejected: bool,
    /// Bytes it adds to memory ([`memory_estimate`]).
    pub memory: usize,
}

impl Routed {
    /// Whether the publisher gets it back (mandatory and unroutable).
    pub fn returned(&self, mandatory: bool) -> bool {
        mandatory && self.queues == 0
    }
}

/// The publish side of one channel or session in a vhost.
pub struct Publisher {
    broker: Arc<Broker>,
    vhost: Arc<VHost>,
    user: String,
    access: AccessCache,
    route_buf: Vec<Arc<Queue>>,
}

impl Publisher {
    /// A publisher for `user` in `vhost`.
    pub fn new(broker: Arc<Broker>, vhost: Arc<VHost>, user: impl Into<String>) -> Publisher {
        Publisher {
            broker,
            vhost,
            user: user.into(),
            access: AccessCache::default(),
            route_buf: Vec::new(),
        }
    }

    /// The vhost it publishes in.
    pub fn vhost(&self) -> &Arc<VHost> {
        &self.vhost
    }

    /// Checks `access` on a queue or exchange for the user (cached once granted).
    pub fn authorize(
        &mut self,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        let who = (self.user.as_str(), &*self.vhost.name);
        self.access.authorize(&self.broker, who, access, kind, name)
    }

    /// Checks a routing key against the user's topic permissions on a topic
    /// exchange (publish: write; bind: read).
    pub fn authorize_topic(
        &mut self,
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        let who = (self.user.as_str(), &*self.vhost.name);
        self.access
            .authorize_topic(&self.broker, who, access, exchange, routing_key)
    }

    /// The exchange a publish goes to, after RabbitMQ's checks in its order:
    /// write permission, existence, not internal, topic write permission
    /// (for which the routing key must be UTF-8).
    pub fn destination(
        &mut self,
        exchange: &str,
        routing_key: &[u8],
    ) -> Result<Arc<Exchange>, BrokerError> {
        self.authorize(Access::Write, ResourceKind::Exchange, exchange)?;
        let found = self.vhost.exchange(exchange)?;
        if found.options.internal {
            return Err(BrokerError::AccessRefused(format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{}'",
                self.vhost.name
            )));
        }
        if found.kind == ExchangeKind::Topic {
            let key = std::str::from_utf8(routing_key)
                .map_err(|_| BrokerError::SyntaxError("routing key is not valid UTF-8".into()))?;
            self.authorize_topic(Access::Write, exchange, key)?;
        }
        Ok(found)
    }

    /// Whether the user may publish a message claiming `claimed` as its user
    /// id: its own name, or any name for a user tagged "impersonator".
    pub fn may_claim_user_id(&self, claimed: &[u8]) -> bool {
        claimed == self.user.as_bytes() || self.broker.users.has_tag(&self.user, "impersonator")
    }

    /// Routes `p.message` and hands it to every queue it reaches.
    pub fn publish(&mut self, p: Publish<'_>) -> Routed {
        p.exchange.count_publish();
        MessageCounters::bump(&p.counters.publish);
        let mut queues = std::mem::take(&mut self.route_buf);
        let routing_key = std::str::from_utf8(&p.message.routing_key).unwrap_or("");
        self.vhost
            .route(p.exchange, routing_key, p.headers, &mut queues);
        for key in p.extra_keys {
            let key = std::str::from_utf8(key).unwrap_or("");
            self.vhost.route(p.exchange, key, p.headers, &mut queues);
        }
        if queues.is_empty() {
            MessageCounters::bump(if p.mandatory {
                &p.counters.return_unroutable
            } else {
                &p.counters.drop_unroutable
            });
        } else {
            p.exchange.count_routed();
        }
        let outcome = enqueue(&queues, p.message, p.confirm);
        let routed = Routed {
            queues: queues.len(),
            persisted: outcome.persisted,
            rejected: outcome.rejected,
            memory: memory_estimate(p.message, queues.len()),
        };
        queues.clear();
        self.route_buf = queues;
        routed
    }
}

//! Direct reply-to (`amq.rabbitmq.reply-to`): RPC replies go straight to the
//! requesting channel's consumer through a pseudo-queue that is never declared.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use rand::Rng;

use crate::queue::{Queue, QueueOptions};

/// The pseudo-queue name clients consume from and put in `reply_to`.
pub const REPLY_TO_QUEUE: &str = "amq.rabbitmq.reply-to";
/// Prefix of the per-channel addresses the broker substitutes into `reply_to`.
pub const REPLY_TO_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// The reply pseudo-queues of a vhost, by address token.
#[derive(Default)]
pub struct ReplyTo {
    queues: RwLock<HashMap<String, Arc<Queue>>>,
}

impl ReplyTo {
    /// Creates a pseudo-queue for one consuming channel; returns the full reply
    /// address (`amq.rabbitmq.reply-to.<token>`) and the queue.
    pub fn register(&self, vhost: &str) -> (String, Arc<Queue>) {
        let token: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let address = format!("{REPLY_TO_PREFIX}{token}");
        let queue = Queue::new(REPLY_TO_QUEUE, vhost, QueueOptions::default());
        self.queues.write().insert(token, queue.clone());
        (address, queue)
    }

    /// Forgets the pseudo-queue behind `address`.
    pub fn unregister(&self, address: &str) {
        if let Some(token) = address.strip_prefix(REPLY_TO_PREFIX) {
            self.queues.write().remove(token);
        }
    }

    /// The pseudo-queue a reply published with `routing_key` goes to, if its
    /// channel is still there.
    pub fn lookup(&self, routing_key: &str) -> Option<Arc<Queue>> {
        let token = routing_key.strip_prefix(REPLY_TO_PREFIX)?;
        self.queues.read().get(token).cloned()
    }
}

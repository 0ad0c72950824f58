//! Connection-wide state that channel handlers need: who is connected, to which
//! vhost, negotiated limits, the output buffer and the outbox.

use std::sync::Arc;

use bytes::BytesMut;
use warren_codec::{encode, AMQPClass};
use warren_core::registry::ConnectionInfo;
use warren_core::{Broker, Queue, VHost};

use crate::outbox::Outbox;

/// Capabilities the client announced in `connection.start-ok`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCapabilities {
    /// The client understands a server-sent `basic.cancel`.
    pub consumer_cancel_notify: bool,
    /// The client understands `connection.blocked` / `connection.unblocked`.
    pub connection_blocked: bool,
}

/// State shared by all channels of one connection.
pub struct Session {
    /// Broker-unique connection id.
    pub id: u64,
    /// The broker.
    pub broker: Arc<Broker>,
    /// The vhost opened by `connection.open`.
    pub vhost: Arc<VHost>,
    /// Authenticated user name.
    pub user: String,
    /// Negotiated frame_max (bytes, including framing).
    pub frame_max: usize,
    /// Negotiated channel_max.
    pub channel_max: u16,
    /// What the client supports.
    pub capabilities: ClientCapabilities,
    /// Where queues leave deliveries for this connection.
    pub outbox: Arc<Outbox>,
    /// The same outbox, as the message store's sync listener (told when
    /// persistent publishes are on disk), so publishing need not clone it.
    pub sync_listener: Arc<dyn warren_core::publish::ConfirmListener>,
    /// Exclusive queues declared by this connection (deleted when it closes).
    pub exclusive_queues: Vec<Arc<Queue>>,
    /// Bytes waiting to be written to the socket.
    pub out: BytesMut,
    /// The time at the start of the current batch of work (one clock read per
    /// wake-up, used to stamp deliveries for consumer_timeout).
    pub now: tokio::time::Instant,
    /// This connection's entry in the broker's registry (counters, channels).
    pub info: Arc<ConnectionInfo>,
    /// Estimated memory the messages published since the last charge hold in
    /// queues; charged against the broker's memory credit after each batch.
    pub memory_charge: usize,
    /// Channels whose tx.commit-ok waits for the store: while any does, the
    /// connection processes no further input (replies stay in order).
    pub commits_waiting: usize,
    /// This connection's place under the vhost's `max-connections`, given
    /// back when the session is dropped.
    pub _connection_slot: warren_core::vhost_limits::ConnectionSlot,
}

impl Session {
    /// Appends a method frame to the output buffer.
    pub fn send(&mut self, channel: u16, method: AMQPClass) {
        encode::write_method(&mut self.out, channel, &method);
    }

    /// Forgets an exclusive queue that was deleted explicitly.
    pub fn forget_exclusive(&mut self, queue: &Arc<Queue>) {
        self.exclusive_queues.retain(|q| !Arc::ptr_eq(q, queue));
    }
}

/// The guard of the session's registrations: from the moment the handshake
/// registered the connection, however it ends, its exclusive queues are
/// deleted and it leaves the broker's registry (which closes the channels
/// still listed there).
impl Drop for Session {
    fn drop(&mut self) {
        for queue in std::mem::take(&mut self.exclusive_queues) {
            self.vhost.remove_queue(&queue);
        }
        self.broker.registry.unregister(self.id);
    }
}

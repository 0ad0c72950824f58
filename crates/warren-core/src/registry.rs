//! The registry of live protocol connections and their channels, with the
//! counters the management API, `warren ctl` and Prometheus report. Adapters
//! register a connection once its handshake is done, update its counters with
//! relaxed atomic increments (no lock on the hot path), and unregister it when
//! it ends; an operator can ask for it to be closed through its [`Closer`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// Asks a connection's task to close it with 320 CONNECTION_FORCED and a reason.
pub trait Closer: Send + Sync {
    /// Requests the close; returns at once.
    fn close(&self, reason: String);
}

/// Message counters of a channel (RabbitMQ's channel message_stats).
#[derive(Debug, Default)]
pub struct MessageCounters {
    /// basic.publish received.
    pub publish: AtomicU64,
    /// Publisher confirms sent.
    pub confirm: AtomicU64,
    /// Mandatory messages returned as unroutable.
    pub return_unroutable: AtomicU64,
    /// Unroutable messages dropped.
    pub drop_unroutable: AtomicU64,
    /// Deliveries to consumers that must ack.
    pub deliver: AtomicU64,
    /// Deliveries to no-ack consumers.
    pub deliver_no_ack: AtomicU64,
    /// basic.get answered with a message, ack required.
    pub get: AtomicU64,
    /// basic.get answered with a message, no ack.
    pub get_no_ack: AtomicU64,
    /// basic.get answered with get-empty.
    pub get_empty: AtomicU64,
    /// Deliveries with the redelivered flag.
    pub redeliver: AtomicU64,
    /// Messages acknowledged.
    pub ack: AtomicU64,
}

/// A plain copy of [`MessageCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MessageTotals {
    /// See [`MessageCounters::publish`].
    pub publish: u64,
    /// See [`MessageCounters::confirm`].
    pub confirm: u64,
    /// See [`MessageCounters::return_unroutable`].
    pub return_unroutable: u64,
    /// See [`MessageCounters::drop_unroutable`].
    pub drop_unroutable: u64,
    /// See [`MessageCounters::deliver`].
    pub deliver: u64,
    /// See [`MessageCounters::deliver_no_ack`].
    pub deliver_no_ack: u64,
    /// See [`MessageCounters::get`].
    pub get: u64,
    /// See [`MessageCounters::get_no_ack`].
    pub get_no_ack: u64,
    /// See [`MessageCounters::get_empty`].
    pub get_empty: u64,
    /// See [`MessageCounters::redeliver`].
    pub redeliver: u64,
    /// See [`MessageCounters::ack`].
    pub ack: u64,
}

impl MessageTotals {
    /// deliver + deliver_no_ack + get + get_no_ack, RabbitMQ's deliver_get.
    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }

    /// Adds another set of totals.
    pub fn add(&mut self, o: &MessageTotals) {
        self.publish += o.publish;
        self.confirm += o.confirm;
        self.return_unroutable += o.return_unroutable;
        self.drop_unroutable += o.drop_unroutable;
        self.deliver += o.deliver;
        self.deliver_no_ack += o.deliver_no_ack;
        self.get += o.get;
        self.get_no_ack += o.get_no_ack;
        self.get_empty += o.get_empty;
        self.redeliver += o.redeliver;
        self.ack += o.ack;
    }
}

impl MessageCounters {
    /// Adds one to a counter (relaxed; for the hot path).
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn totals(&self) -> MessageTotals {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MessageTotals {
            publish: l(&self.publish),
            confirm: l(&self.confirm),
            return_unroutable: l(&self.return_unroutable),
            drop_unroutable: l(&self.drop_unroutable),
            deliver: l(&self.deliver),
            deliver_no_ack: l(&self.deliver_no_ack),
            get: l(&self.get),
            get_no_ack: l(&self.get_no_ack),
            get_empty: l(&self.get_empty),
            redeliver: l(&self.redeliver),
            ack: l(&self.ack),
        }
    }
}

/// A channel as listed by /api/channels.
#[derive(Debug, Default)]
pub struct ChannelInfo {
    /// Channel number.
    pub number: u16,
    /// Message counters.
    pub counters: MessageCounters,
    /// Consumers on the channel.
    pub consumer_count: AtomicU32,
    /// Deliveries awaiting acknowledgement.
    pub messages_unacknowledged: AtomicU32,
    /// Per-consumer prefetch (basic.qos global=false).
    pub prefetch_count: AtomicU32,
    /// Channel-wide prefetch (basic.qos global=true).
    pub global_prefetch_count: AtomicU32,
    /// In publisher-confirm mode.
    pub confirm: AtomicBool,
    /// In transaction mode.
    pub transactional: AtomicBool,
}

/// What a connection told us at open time.
#[derive(Debug, Clone, Default)]
pub struct ConnectionMeta {
    /// "127.0.0.1:50000 -> 127.0.0.1:5672", RabbitMQ's connection name.
    pub name: String,
    /// Client address.
    pub peer: Option<SocketAddr>,
    /// Our address.
    pub local: Option<SocketAddr>,
    /// Whether the connection is TLS (amqps).
    pub ssl: bool,
    /// The SASL mechanism the client logged in with ("PLAIN", "EXTERNAL", …).
    pub auth_mechanism: String,
    /// Authenticated user.
    pub user: String,
    /// Opened vhost.
    pub vhost: String,
    /// "AMQP 0-9-1".
    pub protocol: String,
    /// The client's properties (product, version, connection_name, capabilities…).
    pub client_properties: serde_json::Value,
    /// Milliseconds since the Unix epoch when the connection opened.
    pub connected_at: u64,
    /// Negotiated frame_max.
    pub frame_max: u32,
    /// Negotiated channel_max.
    pub channel_max: u16,
    /// Negotiated heartbeat, seconds.
    pub timeout: u16,
}

/// A live connection.
pub struct ConnectionInfo {
    /// Broker-unique id.
    pub id: u64,
    /// Fixed facts.
    pub meta: ConnectionMeta,
    /// Bytes received.
    pub recv_oct: AtomicU64,
    /// Bytes sent.
    pub send_oct: AtomicU64,
    /// Reads from the socket.
    pub recv_cnt: AtomicU64,
    /// Writes to the socket.
    pub send_cnt: AtomicU64,
    /// Flow state under resource alarms: one of the `FLOW_*` constants.
    pub flow: AtomicU8,
    channels: RwLock<BTreeMap<u16, Arc<ChannelInfo>>>,
    closer: Box<dyn Closer>,
}

/// The connection reads and publishes normally.
pub const FLOW_RUNNING: u8 = 0;
/// An alarm is set; the connection will be blocked when it next publishes.
pub const FLOW_BLOCKING: u8 = 1;
/// An alarm is set and the connection published: it is no longer read.
pub const FLOW_BLOCKED: u8 = 2;

impl ConnectionInfo {
    /// RabbitMQ's connection state: "running", "blocking" or "blocked".
    pub fn state(&self) -> &'static str {
        match self.flow.load(Ordering::Relaxed) {
            FLOW_BLOCKING => "blocking",
            FLOW_BLOCKED => "blocked",
            _ => "running",
        }
    }

    /// Snapshot of the open channels.
    pub fn channels(&self) -> Vec<Arc<ChannelInfo>> {
        self.channels.read().values().cloned().collect()
    }

    /// Number of open channels.
    pub fn channel_count(&self) -> usize {
        self.channels.read().len()
    }

    /// Asks the connection to close (320 CONNECTION_FORCED).
    pub fn close(&self, reason: &str) {
        self.closer.close(reason.to_string());
    }

    /// Sum of the message counters of the open channels.
    pub fn totals(&self) -> MessageTotals {
        let mut sum = MessageTotals::default();
        for ch in self.channels.read().values() {
            sum.add(&ch.counters.totals());
        }
        sum
    }
}

/// Lifetime counters of the registry (Prometheus' *_opened_total and friends).
#[derive(Debug, Default, Clone, Copy)]
pub struct Churn {
    /// Connections opened.
    pub connections_opened: u64,
    /// Connections closed.
    pub connections_closed: u64,
    /// Channels opened.
    pub channels_opened: u64,
    /// Channels closed.
    pub channels_closed: u64,
}

/// Every live connection, plus the counters of those that are gone.
#[derive(Default)]
pub struct Registry {
    connections: RwLock<BTreeMap<u64, Arc<ConnectionInfo>>>,
    closed: RwLock<(MessageTotals, Churn)>,
    /// Messages published and fetched outside any channel (the HTTP API's
    /// publish and get), counted in the broker-wide totals.
    pub direct: MessageCounters,
}

impl Registry {
    /// Registers a connection that finished its handshake.
    pub fn register(
        &self,
        id: u64,
        meta: ConnectionMeta,
        closer: Box<dyn Closer>,
    ) -> Arc<ConnectionInfo> {
        let info = Arc::new(ConnectionInfo {
            id,
            meta,
            recv_oct: AtomicU64::new(0),
            send_oct: AtomicU64::new(0),
            recv_cnt: AtomicU64::new(0),
            send_cnt: AtomicU64::new(0),
            flow: AtomicU8::new(FLOW_RUNNING),
            channels: RwLock::new(BTreeMap::new()),
            closer,
        });
        self.connections.write().insert(id, info.clone());
        self.closed.write().1.connections_opened += 1;
        info
    }

    /// Forgets a connection; its channels' counters go to the totals.
    pub fn unregister(&self, id: u64) {
        let Some(info) = self.connections.write().remove(&id) else {
            return;
        };
        let numbers: Vec<u16> = info.channels.read().keys().copied().collect();
        for n in numbers {
            self.close_channel(&info, n);
        }
        self.closed.write().1.connections_closed += 1;
    }

    /// Registers a new channel of a connection.
    pub fn open_channel(&self, conn: &ConnectionInfo, number: u16) -> Arc<ChannelInfo> {
        let info = Arc::new(ChannelInfo {
            number,
            ..Default::default()
        });
        conn.channels.write().insert(number, info.clone());
        self.closed.write().1.channels_opened += 1;
        info
    }

    /// Forgets a channel; its counters go to the totals.
    pub fn close_channel(&self, conn: &ConnectionInfo, number: u16) {
        if let Some(ch) = conn.channels.write().remove(&number) {
            let mut closed = self.closed.write();
            closed.0.add(&ch.counters.totals());
            closed.1.channels_closed += 1;
        }
    }

    /// Snapshot of the live connections, by id.
    pub fn connections(&self) -> Vec<Arc<ConnectionInfo>> {
        self.connections.read().values().cloned().collect()
    }

    /// One connection by id.
    pub fn connection(&self, id: u64) -> Option<Arc<ConnectionInfo>> {
        self.connections.read().get(&id).cloned()
    }

    /// One connection by its RabbitMQ-style name.
    pub fn connection_named(&self, name: &str) -> Option<Arc<ConnectionInfo>> {
        self.connections
            .read()
            .values()
            .find(|c| c.meta.name == name)
            .cloned()
    }

    /// Broker-wide message totals: closed channels plus live ones.
    pub fn totals(&self) -> MessageTotals {
        let mut sum = self.closed.read().0;
        sum.add(&self.direct.totals());
        for conn in self.connections() {
            sum.add(&conn.totals());
        }
        sum
    }

    /// Lifetime connection and channel counts.
    pub fn churn(&self) -> Churn {
        self.closed.read().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoClose;
    impl Closer for NoClose {
        fn close(&self, _: String) {}
    }

    #[test]
    fn totals_survive_closed_channels_and_connections() {
        let reg = Registry::default();
        let conn = reg.register(1, ConnectionMeta::default(), Box::new(NoClose));
        let ch = reg.open_channel(&conn, 1);
        MessageCounters::bump(&ch.counters.publish);
        MessageCounters::bump(&ch.counters.publish);
        assert_eq!(reg.totals().publish, 2);
        reg.close_channel(&conn, 1);
        assert_eq!(conn.channel_count(), 0);
        assert_eq!(reg.totals().publish, 2);
        reg.unregister(1);
        assert!(reg.connections().is_empty());
        let churn = reg.churn();
        assert_eq!((churn.connections_opened, churn.connections_closed), (1, 1));
        assert_eq!((churn.channels_opened, churn.channels_closed), (1, 1));
    }
}

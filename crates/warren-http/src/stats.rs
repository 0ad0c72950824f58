//! Counters as RabbitMQ's JSON shows them (`publish`, `publish_details.rate`,
//! …) and the sampler that turns counters into rates every few seconds.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use warren_core::registry::{ChannelInfo, ConnectionInfo, MessageTotals};
use warren_core::{Broker, Exchange, Queue};

/// Channel (and broker-wide) message_stats keys.
pub const CHANNEL_STATS: [&str; 12] = [
    "publish",
    "confirm",
    "deliver_get",
    "ack",
    "redeliver",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "return_unroutable",
    "drop_unroutable",
];

/// Values in [`CHANNEL_STATS`] order.
pub fn channel_values(t: &MessageTotals) -> Vec<u64> {
    vec![
        t.publish,
        t.confirm,
        t.deliver_get(),
        t.ack,
        t.redeliver,
        t.deliver,
        t.deliver_no_ack,
        t.get,
        t.get_no_ack,
        t.get_empty,
        t.return_unroutable,
        t.drop_unroutable,
    ]
}

/// Queue message_stats keys.
pub const QUEUE_STATS: [&str; 4] = ["publish", "deliver_get", "ack", "redeliver"];
/// Queue depth keys (reported at top level with their own `_details`).
pub const QUEUE_DEPTHS: [&str; 3] = ["messages", "messages_ready", "messages_unacknowledged"];

/// Queue counters then depths, in [`QUEUE_STATS`] + [`QUEUE_DEPTHS`] order.
pub fn queue_values(q: &Queue) -> Vec<u64> {
    let ready = q.message_count() as u64;
    let unacked = q.unacked() as u64;
    vec![
        q.stats.published.load(Relaxed),
        q.stats.delivered.load(Relaxed),
        q.stats.acked.load(Relaxed),
        q.stats.redelivered.load(Relaxed),
        ready + unacked,
        ready,
        unacked,
    ]
}

/// Exchange message_stats keys.
pub const EXCHANGE_STATS: [&str; 2] = ["publish_in", "publish_out"];

/// Exchange counters.
pub fn exchange_values(x: &Exchange) -> Vec<u64> {
    vec![x.published.load(Relaxed), x.routed.load(Relaxed)]
}

/// Connection byte counter keys.
pub const CONNECTION_STATS: [&str; 2] = ["recv_oct", "send_oct"];

/// Rate-table keys.
pub fn queue_key(q: &Queue) -> String {
    format!("q\u{0}{}\u{0}{}", q.vhost, q.name)
}

/// Rate-table key of an exchange.
pub fn exchange_key(vhost: &str, x: &Exchange) -> String {
    format!("x\u{0}{vhost}\u{0}{}", x.name)
}

/// Rate-table key of a connection.
pub fn connection_key(c: &ConnectionInfo) -> String {
    format!("c\u{0}{}", c.id)
}

/// Rate-table key of a channel.
pub fn channel_key(c: &ConnectionInfo, ch: &ChannelInfo) -> String {
    format!("ch\u{0}{}\u{0}{}", c.id, ch.number)
}

/// Rate-table key of the broker totals.
pub const OVERVIEW_KEY: &str = "overview";

/// Inserts `name: value` and `name_details: {rate}` pairs into `out`.
pub fn put_counters(out: &mut Map<String, Value>, names: &[&str], values: &[u64], rates: &[f64]) {
    for (i, name) in names.iter().enumerate() {
        out.insert(name.to_string(), json!(values.get(i).copied().unwrap_or(0)));
        out.insert(
            format!("{name}_details"),
            json!({"rate": round(rates.get(i).copied().unwrap_or(0.0))}),
        );
    }
}

/// A `message_stats` object.
pub fn message_stats(names: &[&str], values: &[u64], rates: &[f64]) -> Value {
    let mut out = Map::new();
    put_counters(&mut out, names, values, rates);
    Value::Object(out)
}

fn round(rate: f64) -> f64 {
    (rate * 10.0).round() / 10.0
}

/// The overview's broker-wide counter values: channel stats then queue depths.
pub fn overview_values(broker: &Broker) -> Vec<u64> {
    let mut values = channel_values(&broker.registry.totals());
    let (mut ready, mut unacked) = (0u64, 0u64);
    for v in broker.vhosts() {
        for q in v.queues() {
            ready += q.message_count() as u64;
            unacked += q.unacked() as u64;
        }
    }
    values.extend([ready + unacked, ready, unacked]);
    values
}

/// Records every object's counters once.
pub fn sample(broker: &Broker) {
    let rates = &broker.rates;
    let round = rates.begin_round();
    let now = Instant::now();
    rates.record(round, OVERVIEW_KEY, now, &overview_values(broker));
    for v in broker.vhosts() {
        for q in v.queues() {
            rates.record(round, &queue_key(&q), now, &queue_values(&q));
        }
        for x in v.exchanges() {
            rates.record(round, &exchange_key(&v.name, &x), now, &exchange_values(&x));
        }
    }
    for c in broker.registry.connections() {
        let bytes = [c.recv_oct.load(Relaxed), c.send_oct.load(Relaxed)];
        rates.record(round, &connection_key(&c), now, &bytes);
        for ch in c.channels() {
            let values = channel_values(&ch.counters.totals());
            rates.record(round, &channel_key(&c, &ch), now, &values);
        }
    }
    rates.end_round(round);
}

/// Samples every `interval` until the broker is dropped elsewhere and only
/// this task holds it.
pub async fn run_sampler(broker: Arc<Broker>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if Arc::strong_count(&broker) == 1 {
            return;
        }
        sample(&broker);
    }
}

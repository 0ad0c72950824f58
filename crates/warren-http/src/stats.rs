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

/// Queue message_stats keys, split as RabbitMQ's (consumed with and without
/// acknowledgement, fetched with basic.get with and without, empty gets).
pub const QUEUE_STATS: [&str; 9] = [
    "publish",
    "deliver_get",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "ack",
    "redeliver",
];
/// Queue depth keys (reported at top level with their own `_details`).
pub const QUEUE_DEPTHS: [&str; 3] = ["messages", "messages_ready", "messages_unacknowledged"];

/// Queue counters then depths, in [`QUEUE_STATS`] + [`QUEUE_DEPTHS`] order.
pub fn queue_values(q: &Queue) -> Vec<u64> {
    let ready = q.message_count() as u64;
    let unacked = q.unacked() as u64;
    let s = &q.stats;
    let delivered = s.delivered.load(Relaxed);
    let no_ack = s.delivered_no_ack.load(Relaxed);
    let fetched = s.fetched.load(Relaxed);
    let fetched_no_ack = s.fetched_no_ack.load(Relaxed);
    vec![
        s.published.load(Relaxed),
        delivered,
        delivered.saturating_sub(no_ack + fetched + fetched_no_ack),
        no_ack,
        fetched,
        fetched_no_ack,
        s.get_empty.load(Relaxed),
        s.acked.load(Relaxed),
        s.redelivered.load(Relaxed),
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
    let node = crate::api::overview_probe::node_values(broker);
    rates.record(round, crate::api::overview_probe::NODE_KEY, now, &node);
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

/// The `samples` history a request asks for, RabbitMQ's `lengths_age` /
/// `lengths_incr` (queue depths) and `msg_rates_age` / `msg_rates_incr`
/// (message counters) query parameters, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// (age, increment) for depth counters.
    pub lengths: Option<(u64, u64)>,
    /// (age, increment) for message counters.
    pub msg_rates: Option<(u64, u64)>,
}

/// Most points one history may have.
const MAX_POINTS: u64 = 1000;

fn age_and_incr(
    q: &crate::listing::Query,
    prefix: &str,
) -> crate::error::ApiResult<Option<(u64, u64)>> {
    let bad = |what: &str| {
        crate::error::ApiError::bad_request(format!(
            "{prefix}_{what} must be a positive integer (seconds)"
        ))
    };
    let Some(age) = q.get(&format!("{prefix}_age")) else {
        return Ok(None);
    };
    let age: u64 = age
        .parse()
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| bad("age"))?;
    let incr: u64 = match q.get(&format!("{prefix}_incr")) {
        Some(i) => i
            .parse()
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| bad("incr"))?,
        None => return Err(bad("incr")),
    };
    if age / incr > MAX_POINTS {
        return Err(crate::error::ApiError::bad_request(format!(
            "{prefix}_age / {prefix}_incr asks for more than {MAX_POINTS} samples"
        )));
    }
    Ok(Some((age, incr)))
}

impl HistoryQuery {
    /// Reads the history parameters of a request (400 if malformed).
    pub fn from_query(q: &crate::listing::Query) -> crate::error::ApiResult<Self> {
        Ok(HistoryQuery {
            lengths: age_and_incr(q, "lengths")?,
            msg_rates: age_and_incr(q, "msg_rates")?,
        })
    }
}

/// RabbitMQ's sampled `_details`: `samples` newest first, one per `incr`
/// seconds over `age` (the value recorded at or before each point; points
/// before the first sample are left out), `avg` of the sample values and
/// `avg_rate`, the change per second between the oldest and newest point.
pub fn sampled_details(
    rate: f64,
    history: &[(u64, Vec<u64>)],
    index: usize,
    (age, incr): (u64, u64),
    now_ms: u64,
) -> Value {
    let incr_ms = incr * 1000;
    let last = now_ms / incr_ms * incr_ms;
    let first = last.saturating_sub(age * 1000);
    let mut samples = Vec::new();
    let mut t = last;
    loop {
        let value = history
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .and_then(|(_, v)| v.get(index).copied());
        if let Some(v) = value {
            samples.push(json!({"sample": v, "timestamp": t}));
        }
        if t < first + incr_ms {
            break;
        }
        t -= incr_ms;
    }
    let values: Vec<f64> = samples
        .iter()
        .filter_map(|s| s["sample"].as_f64())
        .collect();
    let avg = if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    let avg_rate = match (values.first(), values.last()) {
        (Some(newest), Some(oldest)) if values.len() > 1 => {
            (newest - oldest) / ((values.len() - 1) as f64 * incr as f64)
        }
        _ => 0.0,
    };
    json!({"rate": round(rate), "samples": samples, "avg": avg, "avg_rate": avg_rate})
}

/// An object's kept samples and the part of them a set of counters reads.
#[derive(Debug, Clone, Copy)]
pub struct Sampled<'a> {
    /// (milliseconds since the epoch, values), oldest first.
    pub history: &'a [(u64, Vec<u64>)],
    /// Position of the first counter in each sample's values.
    pub offset: usize,
    /// (age, increment) in seconds.
    pub range: (u64, u64),
}

/// [`put_counters`] with sampled history for every counter when `sampled`
/// is given.
pub fn put_counters_sampled(
    out: &mut Map<String, Value>,
    names: &[&str],
    values: &[u64],
    rates: &[f64],
    sampled: Option<Sampled<'_>>,
) {
    put_counters(out, names, values, rates);
    let Some(Sampled {
        history,
        offset,
        range,
    }) = sampled
    else {
        return;
    };
    let now = crate::process::unix_time_ms();
    for (i, name) in names.iter().enumerate() {
        let rate = rates.get(i).copied().unwrap_or(0.0);
        out.insert(
            format!("{name}_details"),
            sampled_details(rate, history, offset + i, range, now),
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn samples_are_newest_first_at_each_increment() {
        let history = vec![(10_000, vec![1]), (15_000, vec![3]), (20_000, vec![7])];
        let d = sampled_details(0.8, &history, 0, (10, 5), 22_000);
        assert_eq!(
            d["samples"],
            json!([
                {"sample": 7, "timestamp": 20_000},
                {"sample": 3, "timestamp": 15_000},
                {"sample": 1, "timestamp": 10_000},
            ])
        );
        assert_eq!(d["avg"], json!(11.0 / 3.0));
        assert_eq!(d["avg_rate"], json!(0.6));
        assert_eq!(d["rate"], json!(0.8));
    }

    #[test]
    fn points_before_the_first_sample_are_left_out() {
        let history = vec![(20_000, vec![4])];
        let d = sampled_details(0.0, &history, 0, (60, 5), 21_000);
        assert_eq!(d["samples"], json!([{"sample": 4, "timestamp": 20_000}]));
        assert_eq!(d["avg_rate"], json!(0.0));
    }
}

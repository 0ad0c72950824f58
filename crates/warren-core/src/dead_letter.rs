//! Dead-lettering, as RabbitMQ's `rabbit_dead_letter`: a message rejected
//! without requeue, expired, or dropped by a length limit is republished to the
//! queue's dead-letter exchange with an `x-death` header recording why.
//!
//! The `x-death` header is an array of tables, most recent first, one per
//! (queue, reason): `count` (long), `reason`, `queue`, `time` (timestamp,
//! seconds), `exchange`, `routing-keys` (array of longstr: the publish routing
//! key and the CC keys) and `original-expiration` when the message had a
//! per-message TTL (the `expiration` property itself is removed). When a
//! message dies again in the same queue for the same reason, that entry's
//! `count` is incremented and the entry moves to the front; its other fields
//! keep their first values. The first death also sets `x-first-death-reason`,
//! `x-first-death-queue` and `x-first-death-exchange`.
//!
//! Cycles: a dead-lettered message is not delivered to a queue it already died
//! in, unless a `rejected` death lies on the cycle (a client took part), as
//! RabbitMQ's `detect_cycles`.

use std::sync::Arc;

use bytes::Bytes;
use warren_codec::properties::{decode_properties, RawProperties};
use warren_codec::table::{
    as_integer, as_long_string, join_array, join_table, long_string, split_array, split_table,
    RawField,
};

use crate::exchange::Exchange;
use crate::message::Message;
use crate::queue::Queue;
use crate::vhost::VHost;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// basic.reject / basic.nack with requeue=false.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// A length limit dropped or refused it.
    Maxlen,
}

impl DeathReason {
    /// The `reason` text in x-death.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::Maxlen => "maxlen",
        }
    }
}

/// A dead-lettered copy of a message and the routing keys to route it with.
pub struct DeadLettered {
    /// The message as it will be delivered from the dead-letter exchange.
    pub message: Message,
    /// Keys to route with (the dead-letter routing key, or the original keys).
    pub routing_keys: Vec<Bytes>,
    /// The (queue, reason) of each x-death entry, most recent first (for
    /// cycle detection).
    deaths: Vec<QueueAndReason>,
}

/// The queue and reason of an x-death entry.
type QueueAndReason = (Vec<u8>, Vec<u8>);

/// Builds the dead-lettered message for `message` dying in `queue`.
///
/// The headers are changed as RabbitMQ 3.10's `rabbit_dead_letter` does,
/// working on the raw table so that every other value stays byte for byte as
/// published: the x-death entry is added (or its count incremented), the
/// `x-first-death-*` headers are set on a first death, CC is removed when a
/// dead-letter routing key is set, and the top-level headers end up sorted by
/// key (RabbitMQ's `set_table_value` sorts them). A first death's entry keeps
/// RabbitMQ's field order (count, reason, queue, time, exchange,
/// routing-keys, original-expiration); entries written later are sorted, as
/// RabbitMQ's; other entries and nested tables keep their order.
pub fn make_message(
    message: &Message,
    reason: DeathReason,
    queue: &str,
    dlx: &str,
    dl_routing_key: Option<&str>,
    unix_secs: u64,
) -> DeadLettered {
    let props = RawProperties::new(&message.properties);
    let headers: Vec<RawField<'_>> = props
        .headers_table()
        .and_then(split_table)
        .unwrap_or_default();
    let mut keys = vec![message.routing_key.clone()];
    keys.extend(raw_header_routes(&headers, b"CC"));
    let death = Death {
        reason,
        queue: queue.as_bytes(),
        exchange: &message.exchange,
        time: unix_secs,
        routing_keys: &keys,
        original_expiration: props.expiration(),
    };
    let (table, deaths) = dead_letter_headers(headers, &death, dl_routing_key.is_some());
    let properties = props
        .with_headers_without_expiration(&table)
        .unwrap_or_else(|| message.properties.clone());
    let routing_keys = match dl_routing_key {
        Some(rk) => vec![Bytes::copy_from_slice(rk.as_bytes())],
        None => keys,
    };
    DeadLettered {
        message: Message {
            exchange: Bytes::copy_from_slice(dlx.as_bytes()),
            routing_key: routing_keys[0].clone(),
            properties,
            body: message.body.clone(),
        },
        routing_keys,
        deaths,
    }
}

/// One death, as its x-death entry records it.
struct Death<'a> {
    reason: DeathReason,
    queue: &'a [u8],
    exchange: &'a [u8],
    time: u64,
    routing_keys: &'a [Bytes],
    original_expiration: Option<&'a [u8]>,
}

impl Death<'_> {
    /// The entry's fields with `count` 1, in RabbitMQ's order.
    fn fields(&self) -> Vec<(&'static [u8], Vec<u8>)> {
        let mut count = vec![b'l'];
        count.extend_from_slice(&1i64.to_be_bytes());
        let mut time = vec![b'T'];
        time.extend_from_slice(&self.time.to_be_bytes());
        let keys: Vec<Vec<u8>> = self.routing_keys.iter().map(|k| longstr(k)).collect();
        let mut routing_keys = vec![b'A'];
        routing_keys.extend(join_array(keys.iter().map(Vec::as_slice)).unwrap_or_default());
        let mut fields: Vec<(&'static [u8], Vec<u8>)> = vec![
            (b"count", count),
            (b"reason", longstr(self.reason.as_str().as_bytes())),
            (b"queue", longstr(self.queue)),
            (b"time", time),
            (b"exchange", longstr(self.exchange)),
            (b"routing-keys", routing_keys),
        ];
        if let Some(exp) = self.original_expiration {
            fields.push((b"original-expiration", longstr(exp)));
        }
        fields
    }
}

/// A long-string value, type octet included (empty if above 4 GiB, which no
/// name or key can be).
fn longstr(s: &[u8]) -> Vec<u8> {
    long_string(s).unwrap_or_default()
}

/// A table value (`F`) of `fields`, in the given order.
fn table_value<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = vec![b'F'];
    out.extend(join_table(fields).unwrap_or_else(|| vec![0; 4]));
    out
}

/// The first value under `key`, as Erlang's `lists:keyfind`.
fn lookup<'a>(fields: &[RawField<'a>], key: &[u8]) -> Option<&'a [u8]> {
    fields.iter().find(|f| f.key == key).map(|f| f.value)
}

/// Replaces the first value under `key`, or appends it (`lists:keystore`).
fn store<'a>(fields: &mut Vec<RawField<'a>>, key: &'a [u8], value: &'a [u8]) {
    match fields.iter_mut().find(|f| f.key == key) {
        Some(f) => f.value = value,
        None => fields.push(RawField { key, value }),
    }
}

/// The (queue, reason) of an x-death entry value.
fn queue_and_reason(entry: &[u8]) -> Option<QueueAndReason> {
    let fields = split_table(entry.strip_prefix(b"F")?)?;
    let text = |k: &[u8]| {
        lookup(&fields, k)
            .and_then(as_long_string)
            .map(<[u8]>::to_vec)
    };
    Some((text(b"queue")?, text(b"reason")?))
}

/// An x-death entry with its count incremented, sorted by key.
fn incremented(entry: &[u8]) -> Option<Vec<u8>> {
    let mut fields = split_table(entry.strip_prefix(b"F")?)?;
    let count = lookup(&fields, b"count").and_then(as_integer).unwrap_or(0);
    let mut value = vec![b'l'];
    value.extend_from_slice(&count.saturating_add(1).to_be_bytes());
    store(&mut fields, b"count", &value);
    fields.sort_by(|a, b| a.key.cmp(b.key));
    Some(table_value(fields.iter().map(|f| (f.key, f.value))))
}

/// The headers table of a dead-lettered message, and its deaths' (queue,
/// reason) pairs, most recent first.
fn dead_letter_headers(
    published: Vec<RawField<'_>>,
    death: &Death<'_>,
    drop_cc: bool,
) -> (Vec<u8>, Vec<QueueAndReason>) {
    let reason = death.reason.as_str().as_bytes();
    let existing = lookup(&published, b"x-death")
        .and_then(|v| v.strip_prefix(b"A"))
        .and_then(split_array);
    let first_death = existing.is_none();
    let fields = death.fields();
    let entries: Vec<Vec<u8>> = match existing {
        None => {
            vec![table_value(fields.iter().map(|(k, v)| (*k, v.as_slice())))]
        }
        Some(entries) => {
            let found = entries.iter().position(|e| {
                queue_and_reason(e).is_some_and(|(q, r)| q == death.queue && r == reason)
            });
            let head = match found.and_then(|i| incremented(entries[i])) {
                Some(entry) => entry,
                None => {
                    let mut sorted = fields.clone();
                    sorted.sort_by(|a, b| a.0.cmp(b.0));
                    table_value(sorted.iter().map(|(k, v)| (*k, v.as_slice())))
                }
            };
            let others = entries
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != found)
                .map(|(_, e)| e.to_vec());
            std::iter::once(head).chain(others).collect()
        }
    };
    let mut x_death = vec![b'A'];
    x_death.extend(join_array(entries.iter().map(Vec::as_slice)).unwrap_or_else(|| vec![0; 4]));
    let first = [
        (&b"x-first-death-reason"[..], longstr(reason)),
        (b"x-first-death-queue", longstr(death.queue)),
        (b"x-first-death-exchange", longstr(death.exchange)),
    ];
    let mut headers: Vec<RawField<'_>> = published;
    if first_death {
        for (key, value) in &first {
            store(&mut headers, key, value);
        }
    }
    store(&mut headers, b"x-death", &x_death);
    if drop_cc {
        if let Some(at) = headers.iter().position(|f| f.key == b"CC") {
            headers.remove(at);
        }
    }
    headers.sort_by(|a, b| a.key.cmp(b.key));
    let table = join_table(headers.iter().map(|f| (f.key, f.value))).unwrap_or_else(|| vec![0; 4]);
    let deaths = entries.iter().filter_map(|e| queue_and_reason(e)).collect();
    (table, deaths)
}

/// The routing keys in a raw `CC` or `BCC` header (an array of long strings).
fn raw_header_routes(headers: &[RawField<'_>], name: &[u8]) -> Vec<Bytes> {
    lookup(headers, name)
        .and_then(|v| v.strip_prefix(b"A"))
        .and_then(split_array)
        .map(|keys| {
            keys.into_iter()
                .filter_map(as_long_string)
                .map(Bytes::copy_from_slice)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether delivering to `queue` would close a fully automatic cycle: the
/// queue appears among the deaths and no death up to and including it is a
/// rejection.
fn is_cycle(queue: &str, deaths: &[QueueAndReason]) -> bool {
    let Some(at) = deaths.iter().position(|(q, _)| q == queue.as_bytes()) else {
        return false;
    };
    deaths[..=at]
        .iter()
        .all(|(_, reason)| reason != b"rejected")
}

// issue 12: goes with the neutral message
/// The stored AMQP headers as the neutral table a headers exchange matches on.
fn headers_table(table: &warren_codec::FieldTable) -> crate::value::Table {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str(), header_value(v)))
        .collect()
}

// issue 12: goes with the neutral message
/// One stored AMQP header value in neutral form.
fn header_value(value: &warren_codec::AMQPValue) -> crate::value::Value {
    use crate::value::Value;
    use warren_codec::AMQPValue as A;
    match value {
        A::Boolean(b) => Value::Bool(*b),
        A::ShortShortInt(v) => Value::I8(*v),
        A::ShortShortUInt(v) => Value::U8(*v),
        A::ShortInt(v) => Value::I16(*v),
        A::ShortUInt(v) => Value::U16(*v),
        A::LongInt(v) => Value::I32(*v),
        A::LongUInt(v) => Value::U32(*v),
        A::LongLongInt(v) => Value::I64(*v),
        A::Float(v) => Value::F32(*v),
        A::Double(v) => Value::F64(*v),
        A::DecimalValue(d) => Value::Decimal {
            scale: d.scale,
            value: d.value,
        },
        A::ShortString(s) => Value::from(s.as_str()),
        A::LongString(s) => Value::Str(Bytes::copy_from_slice(s.as_bytes())),
        A::FieldArray(a) => Value::Array(a.as_slice().iter().map(header_value).collect()),
        A::Timestamp(t) => Value::Timestamp(*t),
        A::FieldTable(t) => Value::Table(headers_table(t)),
        A::ByteArray(b) => Value::Bytes(Bytes::copy_from_slice(b.as_slice())),
        A::Void => Value::Void,
    }
}

/// Routes a dead-lettered message through `dlx` and enqueues it, leaving out
/// queues that would close a cycle.
pub fn republish(vhost: &VHost, dlx: &Arc<Exchange>, reason: DeathReason, dead: DeadLettered) {
    let mut queues: Vec<Arc<Queue>> = Vec::new();
    let headers = || {
        decode_properties(&dead.message.properties)
            .ok()
            .and_then(|p| p.headers().as_ref().map(headers_table))
    };
    let mut headers = headers;
    for key in &dead.routing_keys {
        let key = std::str::from_utf8(key).unwrap_or("");
        vhost.route(dlx, key, &mut headers, &mut queues);
    }
    let message = Arc::new(dead.message);
    queues.retain(|queue| {
        let cycle = reason != DeathReason::Rejected && is_cycle(&queue.name, &dead.deaths);
        if cycle {
            tracing::warn!(
                "message dropped: dead-letter cycle through queue '{}' in vhost '{}'",
                queue.name,
                vhost.name
            );
        }
        !cycle
    });
    crate::enqueue::enqueue(&queues, &message, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use warren_codec::properties::encode_properties;
    use warren_codec::spec::basic::AMQPProperties;
    use warren_codec::{AMQPValue, FieldTable, LongString, ShortString};

    fn lv(s: &[u8]) -> AMQPValue {
        AMQPValue::LongString(LongString::from(s.to_vec()))
    }

    /// Top-level keys of the message's headers, in wire order.
    fn wire_keys(m: &Message) -> Vec<String> {
        let props = RawProperties::new(&m.properties);
        split_table(props.headers_table().unwrap())
            .unwrap()
            .iter()
            .map(|f| String::from_utf8_lossy(f.key).into_owned())
            .collect()
    }

    /// Keys of the x-death entries, in wire order.
    fn entry_keys(m: &Message) -> Vec<Vec<String>> {
        let props = RawProperties::new(&m.properties);
        let headers = split_table(props.headers_table().unwrap()).unwrap();
        let deaths = split_array(&lookup(&headers, b"x-death").unwrap()[1..]).unwrap();
        deaths
            .iter()
            .map(|e| {
                split_table(&e[1..])
                    .unwrap()
                    .iter()
                    .map(|f| String::from_utf8_lossy(f.key).into_owned())
                    .collect()
            })
            .collect()
    }

    fn msg(props: AMQPProperties) -> Message {
        Message {
            exchange: Bytes::from_static(b"ex"),
            routing_key: Bytes::from_static(b"rk"),
            properties: encode_properties(&props),
            body: Bytes::from_static(b"body"),
        }
    }

    fn headers_of(m: &Message) -> BTreeMap<ShortString, AMQPValue> {
        decode_properties(&m.properties)
            .unwrap()
            .headers()
            .clone()
            .unwrap()
            .inner()
            .clone()
    }

    #[test]
    fn first_death_sets_all_headers_and_drops_expiration() {
        let m = msg(AMQPProperties::default().with_expiration("500".into()));
        let dead = make_message(&m, DeathReason::Expired, "q", "dlx", None, 1_700_000_000);
        let h = headers_of(&dead.message);
        assert_eq!(h["x-first-death-reason"], lv(b"expired"));
        assert_eq!(h["x-first-death-queue"], lv(b"q"));
        assert_eq!(h["x-first-death-exchange"], lv(b"ex"));
        let AMQPValue::FieldArray(deaths) = &h["x-death"] else {
            panic!()
        };
        let AMQPValue::FieldTable(d) = &deaths.as_slice()[0] else {
            panic!()
        };
        let d = d.inner();
        assert_eq!(d["count"], AMQPValue::LongLongInt(1));
        assert_eq!(d["time"], AMQPValue::Timestamp(1_700_000_000));
        assert_eq!(d["original-expiration"], lv(b"500"));
        assert_eq!(
            d["routing-keys"],
            AMQPValue::FieldArray(vec![lv(b"rk")].into())
        );
        let props = decode_properties(&dead.message.properties).unwrap();
        assert!(props.expiration().is_none());
        assert_eq!(&dead.message.exchange[..], b"dlx");
    }

    #[test]
    fn repeated_death_increments_and_moves_to_front() {
        let m = msg(AMQPProperties::default());
        let d1 = make_message(&m, DeathReason::Rejected, "a", "x", None, 1);
        let d2 = make_message(&d1.message, DeathReason::Expired, "b", "x", None, 2);
        let d3 = make_message(&d2.message, DeathReason::Rejected, "a", "x", None, 3);
        let h = headers_of(&d3.message);
        let AMQPValue::FieldArray(deaths) = &h["x-death"] else {
            panic!()
        };
        let first = |i: usize, k: &str| match &deaths.as_slice()[i] {
            AMQPValue::FieldTable(t) => t.inner()[k].clone(),
            _ => panic!(),
        };
        assert_eq!(deaths.as_slice().len(), 2);
        assert_eq!(first(0, "queue"), lv(b"a"));
        assert_eq!(first(0, "count"), AMQPValue::LongLongInt(2));
        assert_eq!(first(0, "time"), AMQPValue::Timestamp(1));
        assert_eq!(first(1, "queue"), lv(b"b"));
        assert_eq!(h["x-first-death-queue"], lv(b"a"));
        assert_eq!(h["x-first-death-reason"], lv(b"rejected"));
    }

    #[test]
    fn cycles_need_no_rejection_on_the_way() {
        let m = msg(AMQPProperties::default());
        let d1 = make_message(&m, DeathReason::Expired, "a", "x", None, 1);
        assert!(is_cycle("a", &d1.deaths));
        assert!(!is_cycle("b", &d1.deaths));
        let d2 = make_message(&d1.message, DeathReason::Rejected, "b", "x", None, 1);
        let d3 = make_message(&d2.message, DeathReason::Expired, "c", "x", None, 1);
        assert!(!is_cycle("a", &d3.deaths));
        assert!(is_cycle("c", &d3.deaths));
    }

    #[test]
    fn dead_letter_routing_key_replaces_keys_and_drops_cc() {
        let mut h = FieldTable::default();
        h.insert("CC".into(), AMQPValue::FieldArray(vec![lv(b"cc1")].into()));
        let m = msg(AMQPProperties::default().with_headers(h));
        let plain = make_message(&m, DeathReason::Rejected, "q", "x", None, 1);
        assert_eq!(
            plain.routing_keys,
            vec![Bytes::from_static(b"rk"), Bytes::from_static(b"cc1")]
        );
        let keyed = make_message(&m, DeathReason::Rejected, "q", "x", Some("new"), 1);
        assert_eq!(keyed.routing_keys, vec![Bytes::from_static(b"new")]);
        assert!(!headers_of(&keyed.message).contains_key("CC"));
    }

    #[test]
    fn headers_are_sorted_as_rabbitmq_and_values_kept_byte_for_byte() {
        // Written by hand: amq-protocol's tables would sort the keys.
        let int = |v: i32| [&[b'I'][..], &v.to_be_bytes()].concat();
        let nested = join_table([(&b"z"[..], &int(1)[..]), (b"y", &int(2))]).unwrap();
        let nested = [&[b'F'][..], &nested].concat();
        let headers =
            join_table([(&b"b"[..], &int(1)[..]), (b"B", &int(2)), (b"a", &nested)]).unwrap();
        let mut raw = ((1u16 << 13) | (1 << 8)).to_be_bytes().to_vec();
        raw.extend_from_slice(&headers);
        raw.push(5);
        raw.extend_from_slice(b"60000");
        let m = Message {
            properties: Bytes::from(raw),
            ..msg(AMQPProperties::default())
        };
        let d1 = make_message(&m, DeathReason::Rejected, "q", "x", None, 1);
        assert_eq!(
            wire_keys(&d1.message),
            [
                "B",
                "a",
                "b",
                "x-death",
                "x-first-death-exchange",
                "x-first-death-queue",
                "x-first-death-reason"
            ]
        );
        let first = [
            "count",
            "reason",
            "queue",
            "time",
            "exchange",
            "routing-keys",
            "original-expiration",
        ];
        assert_eq!(entry_keys(&d1.message), [first.to_vec()]);
        // A new entry for another queue is sorted; the first one is kept.
        let d2 = make_message(&d1.message, DeathReason::Expired, "r", "x", None, 2);
        let sorted = [
            "count",
            "exchange",
            "queue",
            "reason",
            "routing-keys",
            "time",
        ];
        assert_eq!(entry_keys(&d2.message), [sorted.to_vec(), first.to_vec()]);
        // An incremented entry is sorted and moves to the front.
        let d3 = make_message(&d2.message, DeathReason::Rejected, "q", "x", None, 3);
        let mut first_sorted = first.to_vec();
        first_sorted.sort_unstable();
        assert_eq!(entry_keys(&d3.message), [first_sorted, sorted.to_vec()]);
        // The nested table the publisher wrote keeps its order: z before y.
        let props = RawProperties::new(&d3.message.properties);
        let headers = split_table(props.headers_table().unwrap()).unwrap();
        let a = split_table(&lookup(&headers, b"a").unwrap()[1..]).unwrap();
        assert_eq!(a.iter().map(|f| f.key).collect::<Vec<_>>(), [b"z", b"y"]);
    }
}

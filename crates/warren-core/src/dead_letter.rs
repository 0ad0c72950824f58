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

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use warren_codec::properties::{decode_properties, encode_properties};
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::{AMQPValue, FieldTable, LongString, ShortString};

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

fn text(value: &AMQPValue) -> Option<&[u8]> {
    match value {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
}

fn longstr(s: &[u8]) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_vec()))
}

/// The routing keys in a `CC` or `BCC` header (an array of strings).
pub fn header_routes(headers: &FieldTable, name: &str) -> Vec<Bytes> {
    match headers.inner().get(name) {
        Some(AMQPValue::FieldArray(keys)) => keys
            .as_slice()
            .iter()
            .filter_map(text)
            .map(Bytes::copy_from_slice)
            .collect(),
        _ => Vec::new(),
    }
}

/// A dead-lettered copy of a message and the routing keys to route it with.
pub struct DeadLettered {
    /// The message as it will be delivered from the dead-letter exchange.
    pub message: Message,
    /// Keys to route with (the dead-letter routing key, or the original keys).
    pub routing_keys: Vec<Bytes>,
    /// The updated x-death entries (for cycle detection).
    deaths: Vec<AMQPValue>,
}

/// Builds the dead-lettered message for `message` dying in `queue`.
pub fn make_message(
    message: &Message,
    reason: DeathReason,
    queue: &str,
    dlx: &str,
    dl_routing_key: Option<&str>,
    unix_secs: u64,
) -> DeadLettered {
    let props = decode_properties(&message.properties).unwrap_or_default();
    let mut headers: BTreeMap<ShortString, AMQPValue> = props
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    let mut keys = vec![message.routing_key.clone()];
    keys.extend(header_routes(&FieldTable::from(headers.clone()), "CC"));
    let mut info: BTreeMap<ShortString, AMQPValue> = BTreeMap::new();
    info.insert("count".into(), AMQPValue::LongLongInt(1));
    info.insert("reason".into(), longstr(reason.as_str().as_bytes()));
    info.insert("queue".into(), longstr(queue.as_bytes()));
    info.insert("time".into(), AMQPValue::Timestamp(unix_secs));
    info.insert("exchange".into(), longstr(&message.exchange));
    info.insert(
        "routing-keys".into(),
        AMQPValue::FieldArray(keys.iter().map(|k| longstr(k)).collect::<Vec<_>>().into()),
    );
    if let Some(exp) = props.expiration() {
        info.insert(
            "original-expiration".into(),
            longstr(exp.as_str().as_bytes()),
        );
    }
    let deaths = update_deaths(&mut headers, info, queue, reason, &message.exchange);
    if dl_routing_key.is_some() {
        headers.remove("CC");
    }
    let routing_keys = match dl_routing_key {
        Some(rk) => vec![Bytes::copy_from_slice(rk.as_bytes())],
        None => keys,
    };
    let properties = encode_properties(&rebuild(&props, FieldTable::from(headers)));
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

fn is_death_of(entry: &AMQPValue, queue: &[u8], reason: &[u8]) -> bool {
    let AMQPValue::FieldTable(t) = entry else {
        return false;
    };
    let field = |k: &str| t.inner().get(k).and_then(text);
    field("queue") == Some(queue) && field("reason") == Some(reason)
}

/// Adds a death to the headers' x-death array; returns the new array.
fn update_deaths(
    headers: &mut BTreeMap<ShortString, AMQPValue>,
    info: BTreeMap<ShortString, AMQPValue>,
    queue: &str,
    reason: DeathReason,
    exchange: &[u8],
) -> Vec<AMQPValue> {
    let existing = match headers.get("x-death") {
        Some(AMQPValue::FieldArray(a)) => Some(a.as_slice().to_vec()),
        _ => None,
    };
    let deaths = match existing {
        None => {
            headers.insert(
                "x-first-death-reason".into(),
                longstr(reason.as_str().as_bytes()),
            );
            headers.insert("x-first-death-queue".into(), longstr(queue.as_bytes()));
            headers.insert("x-first-death-exchange".into(), longstr(exchange));
            vec![AMQPValue::FieldTable(info.into())]
        }
        Some(mut entries) => {
            let found = entries
                .iter()
                .position(|e| is_death_of(e, queue.as_bytes(), reason.as_str().as_bytes()));
            let entry = match found {
                Some(i) => increment(entries.remove(i)),
                None => AMQPValue::FieldTable(info.into()),
            };
            entries.insert(0, entry);
            entries
        }
    };
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(deaths.clone().into()),
    );
    deaths
}

fn increment(entry: AMQPValue) -> AMQPValue {
    let AMQPValue::FieldTable(t) = entry else {
        return entry;
    };
    let mut map = t.inner().clone();
    let count = map.get("count").and_then(crate::args::as_i64).unwrap_or(0);
    map.insert("count".into(), AMQPValue::LongLongInt(count + 1));
    AMQPValue::FieldTable(map.into())
}

/// The properties of `p` with `headers` and without `expiration`.
fn rebuild(p: &AMQPProperties, headers: FieldTable) -> AMQPProperties {
    let mut out = AMQPProperties::default().with_headers(headers);
    macro_rules! copy {
        ($($get:ident => $with:ident),*) => {
            $(if let Some(v) = p.$get() { out = out.$with(v.clone()); })*
        };
    }
    copy!(content_type => with_content_type, content_encoding => with_content_encoding,
        delivery_mode => with_delivery_mode, priority => with_priority,
        correlation_id => with_correlation_id, reply_to => with_reply_to,
        message_id => with_message_id, timestamp => with_timestamp, kind => with_type,
        user_id => with_user_id, app_id => with_app_id, cluster_id => with_cluster_id);
    out
}

/// Whether delivering to `queue` would close a fully automatic cycle: the
/// queue appears among the deaths and no death up to and including it is a
/// rejection.
fn is_cycle(queue: &str, deaths: &[AMQPValue]) -> bool {
    let Some(at) = deaths.iter().position(|d| match d {
        AMQPValue::FieldTable(t) => t.inner().get("queue").and_then(text) == Some(queue.as_bytes()),
        _ => false,
    }) else {
        return false;
    };
    deaths[..=at].iter().all(|d| match d {
        AMQPValue::FieldTable(t) => t.inner().get("reason").and_then(text) != Some(b"rejected"),
        _ => false,
    })
}

/// Routes a dead-lettered message through `dlx` and enqueues it, leaving out
/// queues that would close a cycle.
pub fn republish(vhost: &VHost, dlx: &Arc<Exchange>, reason: DeathReason, dead: DeadLettered) {
    let mut queues: Vec<Arc<Queue>> = Vec::new();
    let headers = || {
        decode_properties(&dead.message.properties)
            .ok()
            .and_then(|p| p.headers().clone())
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
        assert_eq!(h["x-first-death-reason"], longstr(b"expired"));
        assert_eq!(h["x-first-death-queue"], longstr(b"q"));
        assert_eq!(h["x-first-death-exchange"], longstr(b"ex"));
        let AMQPValue::FieldArray(deaths) = &h["x-death"] else {
            panic!()
        };
        let AMQPValue::FieldTable(d) = &deaths.as_slice()[0] else {
            panic!()
        };
        let d = d.inner();
        assert_eq!(d["count"], AMQPValue::LongLongInt(1));
        assert_eq!(d["time"], AMQPValue::Timestamp(1_700_000_000));
        assert_eq!(d["original-expiration"], longstr(b"500"));
        assert_eq!(
            d["routing-keys"],
            AMQPValue::FieldArray(vec![longstr(b"rk")].into())
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
        assert_eq!(first(0, "queue"), longstr(b"a"));
        assert_eq!(first(0, "count"), AMQPValue::LongLongInt(2));
        assert_eq!(first(0, "time"), AMQPValue::Timestamp(1));
        assert_eq!(first(1, "queue"), longstr(b"b"));
        assert_eq!(h["x-first-death-queue"], longstr(b"a"));
        assert_eq!(h["x-first-death-reason"], longstr(b"rejected"));
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
        h.insert(
            "CC".into(),
            AMQPValue::FieldArray(vec![longstr(b"cc1")].into()),
        );
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
}

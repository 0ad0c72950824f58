//! Unit tests of the AMQP 0-9-1 content format: annotations at ingress and
//! the x-death rendering, byte for byte.

use super::*;
use std::collections::BTreeMap;
use warren_codec::properties::encode_properties;
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::{AMQPValue, FieldTable, LongString, ShortString};
use warren_core::dead_letter::{make_message, DeathReason};
use warren_core::message::{Content, Message};

fn lv(s: &[u8]) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_vec()))
}

fn msg_raw(properties: Bytes) -> Message {
    Message {
        exchange: Bytes::from_static(b"ex"),
        routing_key: Bytes::from_static(b"rk"),
        ann: annotate(&properties),
        content: Content::new(FormatId::AMQP_091, properties),
        body: Bytes::from_static(b"body"),
    }
}

fn msg(props: AMQPProperties) -> Message {
    msg_raw(encode_properties(&props))
}

fn rendered(m: &Message) -> Bytes {
    render(&m.content.bytes, &m.ann)
}

fn headers_of(m: &Message) -> BTreeMap<ShortString, AMQPValue> {
    decode_properties(&rendered(m))
        .unwrap()
        .headers()
        .clone()
        .unwrap()
        .inner()
        .clone()
}

/// Top-level keys of the delivered headers, in wire order.
fn wire_keys(m: &Message) -> Vec<String> {
    let raw = rendered(m);
    let props = RawProperties::new(&raw);
    split_table(props.headers_table().unwrap())
        .unwrap()
        .iter()
        .map(|f| String::from_utf8_lossy(f.key).into_owned())
        .collect()
}

/// Keys of the delivered x-death entries, in wire order.
fn entry_keys(m: &Message) -> Vec<Vec<String>> {
    let raw = rendered(m);
    let props = RawProperties::new(&raw);
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

#[test]
fn annotations_come_from_one_walk() {
    let props = AMQPProperties::default()
        .with_delivery_mode(2)
        .with_priority(7)
        .with_expiration("1500".into())
        .with_timestamp(42);
    let ann = annotate(&encode_properties(&props));
    assert!(ann.durable);
    assert_eq!(ann.priority, Some(7));
    assert_eq!(ann.expiry_ms, Some(1500));
    assert_eq!(ann.timestamp, Some(42));
    assert!(ann.extra.is_none());
    assert_eq!(annotate(&[0xff]), Annotations::default());
}

#[test]
fn an_untouched_message_is_delivered_as_received() {
    let m = msg(AMQPProperties::default().with_expiration("10".into()));
    let out = rendered(&m);
    assert_eq!(out.as_ptr(), m.content.bytes.as_ptr());
    assert_eq!(out.len(), m.content.bytes.len());
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
    let props = decode_properties(&rendered(&dead.message)).unwrap();
    assert!(props.expiration().is_none());
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
    let field = |i: usize, k: &str| match &deaths.as_slice()[i] {
        AMQPValue::FieldTable(t) => t.inner()[k].clone(),
        _ => panic!(),
    };
    assert_eq!(deaths.as_slice().len(), 2);
    assert_eq!(field(0, "queue"), lv(b"a"));
    assert_eq!(field(0, "count"), AMQPValue::LongLongInt(2));
    assert_eq!(field(0, "time"), AMQPValue::Timestamp(1));
    assert_eq!(field(1, "queue"), lv(b"b"));
    assert_eq!(h["x-first-death-queue"], lv(b"a"));
    assert_eq!(h["x-first-death-reason"], lv(b"rejected"));
}

#[test]
fn dead_letter_routing_key_drops_cc() {
    let mut h = FieldTable::default();
    h.insert("CC".into(), AMQPValue::FieldArray(vec![lv(b"cc1")].into()));
    let m = msg(AMQPProperties::default().with_headers(h));
    assert_eq!(m.ann.cc(), [Bytes::from_static(b"cc1")]);
    let plain = make_message(&m, DeathReason::Rejected, "q", "x", None, 1);
    assert!(headers_of(&plain.message).contains_key("CC"));
    let keyed = make_message(&m, DeathReason::Rejected, "q", "x", Some("new"), 1);
    assert!(!headers_of(&keyed.message).contains_key("CC"));
}

#[test]
fn a_republished_dead_letter_continues_its_history_byte_for_byte() {
    let m = msg(AMQPProperties::default().with_expiration("60".into()));
    let d1 = make_message(&m, DeathReason::Expired, "a", "x", None, 1);
    let d2 = make_message(&d1.message, DeathReason::Rejected, "b", "x", None, 2);
    // A client consumes d2 and publishes it again as it received it.
    let again = msg_raw(rendered(&d2.message));
    assert_eq!(again.ann.deaths(), d2.message.ann.deaths());
    let direct = make_message(&d2.message, DeathReason::Expired, "a", "x", None, 3);
    let republished = make_message(&again, DeathReason::Expired, "a", "x", None, 3);
    assert_eq!(rendered(&republished.message), rendered(&direct.message));
    assert_eq!(republished.message.ann.deaths()[0].count, 2);
}

#[test]
fn headers_are_sorted_as_rabbitmq_and_values_kept_byte_for_byte() {
    // Written by hand: amq-protocol's tables would sort the keys.
    let int = |v: i32| [&[b'I'][..], &v.to_be_bytes()].concat();
    let nested = join_table([(&b"z"[..], &int(1)[..]), (b"y", &int(2))]).unwrap();
    let nested = [&[b'F'][..], &nested].concat();
    let headers = join_table([(&b"b"[..], &int(1)[..]), (b"B", &int(2)), (b"a", &nested)]).unwrap();
    let mut raw = ((1u16 << 13) | (1 << 8)).to_be_bytes().to_vec();
    raw.extend_from_slice(&headers);
    raw.push(5);
    raw.extend_from_slice(b"60000");
    let m = msg_raw(Bytes::from(raw));
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
    let raw = rendered(&d3.message);
    let props = RawProperties::new(&raw);
    let headers = split_table(props.headers_table().unwrap()).unwrap();
    let a = split_table(&lookup(&headers, b"a").unwrap()[1..]).unwrap();
    assert_eq!(a.iter().map(|f| f.key).collect::<Vec<_>>(), [b"z", b"y"]);
}

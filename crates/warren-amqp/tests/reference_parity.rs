//! Behaviours checked against RabbitMQ 3.10.8 by hand (classic queues) that
//! Warren used to do differently: which consumer a single-active-consumer
//! queue activates, exclusive consumers on such a queue, the type of the
//! `alternate-exchange` argument, where dead-lettering puts x-death and what
//! it leaves untouched, and a recovered message's TTL.

mod common;
mod raw;
mod support;

use std::sync::Arc;

use common::{within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use raw::RawClient;
use support::*;
use tokio::sync::mpsc;
use warren_codec::spec::{basic, queue as q};
use warren_codec::{AMQPClass, FrameKind};
use warren_core::clock::ManualClock;

/// Consumes from `queue` with `tag` at `priority` (no-ack) and forwards each
/// delivery's body, with the tag, to `seen`.
async fn consume_into(
    ch: &Channel,
    queue: &str,
    tag: &'static str,
    priority: Option<i32>,
    seen: &mpsc::UnboundedSender<(&'static str, String)>,
) {
    let args = match priority {
        Some(p) => table(&[("x-priority", AMQPValue::LongInt(p))]),
        None => FieldTable::default(),
    };
    let opts = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = within(ch.basic_consume(queue.into(), tag.into(), opts, args))
        .await
        .unwrap();
    let seen = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let _ = seen.send((tag, String::from_utf8_lossy(&d.data).into_owned()));
        }
    });
}

/// Publishes `body` to `queue` and returns the tag of the consumer that got it.
async fn receiver(
    ch: &Channel,
    queue: &str,
    body: &str,
    seen: &mut mpsc::UnboundedReceiver<(&'static str, String)>,
) -> &'static str {
    publish(ch, "", queue, body.as_bytes()).await;
    let (tag, got) = within(seen.recv()).await.expect("a delivery");
    assert_eq!(got, body);
    tag
}

async fn cancel(ch: &Channel, tag: &str) {
    within(ch.basic_cancel(tag.into(), BasicCancelOptions::default()))
        .await
        .unwrap();
}

async fn declare_sac(ch: &Channel, name: &str) {
    let args = table(&[("x-single-active-consumer", AMQPValue::Boolean(true))]);
    declare_queue_with(ch, name, Default::default(), args)
        .await
        .unwrap();
}

/// RabbitMQ 3.10.8, classic queue: the first consumer becomes active whatever
/// its priority and a later one of higher priority does not take over; when
/// the active one goes, the waiting consumer with the highest priority takes
/// over, the earliest registered among equals.
#[tokio::test]
async fn single_active_consumer_hands_over_to_the_highest_priority() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_sac(&ch, "sac").await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    consume_into(&ch, "sac", "low", Some(-1), &tx).await;
    consume_into(&ch, "sac", "default", None, &tx).await;
    consume_into(&ch, "sac", "three-a", Some(3), &tx).await;
    consume_into(&ch, "sac", "three-b", Some(3), &tx).await;
    assert_eq!(receiver(&ch, "sac", "m1", &mut seen).await, "low");
    consume_into(&ch, "sac", "ten", Some(10), &tx).await;
    assert_eq!(receiver(&ch, "sac", "m2", &mut seen).await, "low");
    cancel(&ch, "low").await;
    assert_eq!(receiver(&ch, "sac", "m3", &mut seen).await, "ten");
    cancel(&ch, "ten").await;
    assert_eq!(receiver(&ch, "sac", "m4", &mut seen).await, "three-a");
    cancel(&ch, "three-a").await;
    assert_eq!(receiver(&ch, "sac", "m5", &mut seen).await, "three-b");
    cancel(&ch, "three-b").await;
    assert_eq!(receiver(&ch, "sac", "m6", &mut seen).await, "default");
}

/// RabbitMQ refuses an exclusive consumer on a single-active-consumer queue,
/// even one without consumers: 403 "... in exclusive use".
#[tokio::test]
async fn single_active_consumer_queue_refuses_exclusive_consumers() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    for others in [false, true] {
        let ch = within(conn.create_channel()).await.unwrap();
        let name = if others { "sac-busy" } else { "sac-idle" };
        declare_sac(&ch, name).await;
        // Kept: lapin cancels a consumer whose handle is dropped.
        let _other = if others {
            let opts = BasicConsumeOptions::default();
            let consumer =
                within(ch.basic_consume(name.into(), "".into(), opts, FieldTable::default()))
                    .await
                    .unwrap();
            Some(consumer)
        } else {
            None
        };
        let err = expect_amqp_err(ch.basic_consume(
            name.into(),
            "x".into(),
            exclusive,
            FieldTable::default(),
        ))
        .await;
        let text = format!("ACCESS_REFUSED - queue '{name}' in vhost '/' in exclusive use");
        assert_eq!(err, (403, text));
    }
    // A plain queue still takes an exclusive consumer.
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "plain").await;
    within(ch.basic_consume("plain".into(), "x".into(), exclusive, FieldTable::default()))
        .await
        .unwrap();
}

/// A non-string `alternate-exchange` gets 406 with RabbitMQ's text and the
/// exchange is not created; a string (even naming no exchange) is accepted.
#[tokio::test]
async fn alternate_exchange_argument_must_be_a_string() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let cases = [
        ("ae-int", AMQPValue::LongInt(5), "signedint"),
        ("ae-bool", AMQPValue::Boolean(true), "bool"),
        ("ae-long", AMQPValue::LongLongInt(5), "long"),
        (
            "ae-table",
            AMQPValue::FieldTable(FieldTable::default()),
            "table",
        ),
    ];
    for (name, value, kind) in cases {
        let ch = within(conn.create_channel()).await.unwrap();
        let err = expect_amqp_err(ch.exchange_declare(
            name.into(),
            lapin::ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            table(&[("alternate-exchange", value)]),
        ))
        .await;
        let text = format!(
            "PRECONDITION_FAILED - invalid type '{kind}' for arg 'alternate-exchange' in exchange '{name}' in vhost '/'"
        );
        assert_eq!(err, (406, text));
        assert!(!exchange_exists(&conn, name).await);
    }
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.exchange_declare(
        "ae-missing".into(),
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        table(&[("alternate-exchange", s("nowhere"))]),
    ))
    .await
    .unwrap();
}

/// A raw field table from (key, type octet + value) pairs, in the given order.
fn raw_table(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in fields {
        body.push(key.len() as u8);
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(value);
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn long_str(v: &str) -> Vec<u8> {
    let mut out = vec![b'S'];
    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
    out.extend_from_slice(v.as_bytes());
    out
}

fn signed_int(v: i32) -> Vec<u8> {
    let mut out = vec![b'I'];
    out.extend_from_slice(&v.to_be_bytes());
    out
}

fn be_u32(b: &[u8]) -> usize {
    u32::from_be_bytes(b[..4].try_into().unwrap()) as usize
}

/// Size of a value (type octet included) at the start of `b`, for the types
/// these tests meet.
fn value_len(b: &[u8]) -> usize {
    1 + match b[0] {
        b'I' => 4,
        b'l' | b'T' => 8,
        b'S' | b'F' | b'A' => 4 + be_u32(&b[1..]),
        other => panic!("unexpected field type {}", other as char),
    }
}

/// The (key, value with type octet) entries of a length-prefixed table, in
/// wire order.
fn fields(table: &[u8]) -> Vec<(String, Vec<u8>)> {
    let body = &table[4..4 + be_u32(table)];
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let key_len = body[pos] as usize;
        let key = String::from_utf8_lossy(&body[pos + 1..pos + 1 + key_len]).into_owned();
        pos += 1 + key_len;
        let len = value_len(&body[pos..]);
        out.push((key, body[pos..pos + len].to_vec()));
        pos += len;
    }
    out
}

/// The values (type octet included) of a length-prefixed array.
fn items(array: &[u8]) -> Vec<Vec<u8>> {
    let body = &array[4..4 + be_u32(array)];
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let len = value_len(&body[pos..]);
        out.push(body[pos..pos + len].to_vec());
        pos += len;
    }
    out
}

/// Keys of a raw table, in wire order.
fn keys(table: &[u8]) -> Vec<String> {
    fields(table).into_iter().map(|(k, _)| k).collect()
}

/// The headers table in raw properties with content-type, headers and
/// app-id set, and whether an expiration is present (flags tell).
fn headers_of(props: &[u8]) -> (&[u8], bool) {
    let flags = u16::from_be_bytes([props[0], props[1]]);
    assert_eq!(
        flags & !(1 << 8),
        (1 << 15) | (1 << 13) | (1 << 3),
        "{flags:#x}"
    );
    let start = 2 + 1 + props[2] as usize;
    let table = &props[start..start + 4 + be_u32(&props[start..])];
    (table, flags & (1 << 8) != 0)
}

/// basic.get on `queue` until a message comes; returns its delivery tag and
/// raw property bytes.
async fn raw_get(client: &mut RawClient, queue: &str, no_ack: bool) -> (u64, Vec<u8>) {
    loop {
        client
            .send_method(
                1,
                AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
                    queue: queue.into(),
                    no_ack,
                })),
            )
            .await;
        let tag = match client.method().await {
            (1, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok))) => ok.delivery_tag,
            (1, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(_))) => continue,
            other => panic!("expected get-ok, got {other:?}"),
        };
        let header = client.frame().await.expect("content header");
        assert_eq!(header.kind, FrameKind::Header);
        let body = client.frame().await.expect("content body");
        assert_eq!(body.kind, FrameKind::Body);
        return (tag, header.payload[12..].to_vec());
    }
}

/// RabbitMQ 3.10.8 sorts the top-level headers by key when it adds x-death
/// (its `set_table_value` sorts), writes a first death's entry in its own
/// field order (count, reason, queue, time, exchange, routing-keys,
/// original-expiration), and leaves every other value as published: a
/// nested table keeps its order, other properties are untouched.
#[tokio::test]
async fn dead_lettering_adds_x_death_as_rabbitmq_and_keeps_other_values() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::open(&broker).await;
    client.open_channel(1).await;
    let mut dl_args = FieldTable::default();
    dl_args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    dl_args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString("dst".into()),
    );
    for (name, arguments) in [("dst", FieldTable::default()), ("src", dl_args)] {
        client
            .send_method(
                1,
                AMQPClass::Queue(q::AMQPMethod::Declare(q::Declare {
                    queue: name.into(),
                    passive: false,
                    durable: false,
                    exclusive: false,
                    auto_delete: false,
                    nowait: false,
                    arguments,
                })),
            )
            .await;
        assert!(matches!(
            client.method().await,
            (1, AMQPClass::Queue(q::AMQPMethod::DeclareOk(_)))
        ));
    }
    let nested = raw_table(&[("z", signed_int(1)), ("y", signed_int(2))]);
    let mut nested_value = vec![b'F'];
    nested_value.extend_from_slice(&nested);
    let mut cc = vec![b'A'];
    let nowhere = long_str("nowhere");
    cc.extend_from_slice(&(nowhere.len() as u32).to_be_bytes());
    cc.extend(nowhere);
    let headers = raw_table(&[
        ("zeta", long_str("z")),
        ("alpha", signed_int(1)),
        ("nested", nested_value.clone()),
        ("CC", cc),
        ("Beta", long_str("b")),
    ]);
    // Properties: content-type, headers, expiration, app-id.
    let mut props = ((1u16 << 15) | (1 << 13) | (1 << 8) | (1 << 3))
        .to_be_bytes()
        .to_vec();
    props.push(10);
    props.extend_from_slice(b"text/plain");
    props.extend_from_slice(&headers);
    props.push(5);
    props.extend_from_slice(b"60000");
    props.push(3);
    props.extend_from_slice(b"app");
    let mut header = vec![0, 60, 0, 0];
    header.extend_from_slice(&1u64.to_be_bytes());
    header.extend_from_slice(&props);
    client.send(&raw::publish(1, "", "src", false)).await;
    client.send(&raw::frame(2, 1, &header)).await;
    client.send(&raw::body(1, b"x")).await;
    let (tag, _) = raw_get(&mut client, "src", false).await;
    client
        .send_method(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Reject(basic::Reject {
                delivery_tag: tag,
                requeue: false,
            })),
        )
        .await;
    let (_, got) = raw_get(&mut client, "dst", true).await;
    let (table, has_expiration) = headers_of(&got);
    assert!(!has_expiration, "expiration removed");
    assert_eq!(
        keys(table),
        [
            "Beta",
            "alpha",
            "nested",
            "x-death",
            "x-first-death-exchange",
            "x-first-death-queue",
            "x-first-death-reason",
            "zeta"
        ]
    );
    let fields = fields(table);
    let field = |k: &str| fields.iter().find(|f| f.0 == k).unwrap().1.clone();
    assert_eq!(field("nested"), nested_value);
    let deaths = items(&field("x-death")[1..]);
    assert_eq!(deaths.len(), 1);
    assert_eq!(
        keys(&deaths[0][1..]),
        [
            "count",
            "reason",
            "queue",
            "time",
            "exchange",
            "routing-keys",
            "original-expiration"
        ]
    );
    // Content type and app-id are still there, byte for byte.
    assert_eq!(&got[2..13], b"\x0atext/plain");
    assert!(got.ends_with(b"\x03app"));
}

fn durable_with(arguments: FieldTable) -> (QueueDeclareOptions, FieldTable) {
    let opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    (opts, arguments)
}

async fn publish_persistent(ch: &Channel, queue: &str, props: BasicProperties) {
    let confirm = within(async {
        ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            b"m",
            props.with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap()
    })
    .await;
    assert!(confirm.is_ack());
}

/// A recovered message's TTL goes on from its original enqueue, as RabbitMQ
/// keeps the expiry it stored: one whose TTL ran out while the broker was
/// down is gone after the restart, and the others expire when they would
/// have without the restart (per-queue TTL and per-message expiration).
#[tokio::test]
async fn a_recovered_message_keeps_the_expiry_of_its_original_enqueue() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_700_000_000;
    let broker =
        TestBroker::start_in_with_clock(dir.path(), Arc::new(ManualClock::new(start))).await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    let ttl = |ms: i32| table(&[("x-message-ttl", AMQPValue::LongInt(ms))]);
    for (name, arguments) in [
        ("queue-ttl", ttl(60_000)),
        ("short-ttl", ttl(10_000)),
        ("message-ttl", FieldTable::default()),
    ] {
        let (opts, args) = durable_with(arguments);
        within(ch.queue_declare(name.into(), opts, args))
            .await
            .unwrap();
    }
    publish_persistent(&ch, "queue-ttl", BasicProperties::default()).await;
    publish_persistent(&ch, "short-ttl", BasicProperties::default()).await;
    let expiring = BasicProperties::default().with_expiration("60000".into());
    publish_persistent(&ch, "message-ttl", expiring).await;
    drop(conn);
    broker.shutdown().await;

    // Thirty seconds later.
    let clock = Arc::new(ManualClock::new(start + 30));
    let broker = TestBroker::start_in_with_clock(dir.path(), clock.clone()).await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(get_body(&ch, "short-ttl").await, None, "expired while down");
    assert_eq!(message_count(&ch, "queue-ttl").await, 1);
    assert_eq!(message_count(&ch, "message-ttl").await, 1);
    clock.advance(29_000);
    assert_eq!(message_count(&ch, "queue-ttl").await, 1);
    clock.advance(1_000);
    assert_eq!(get_body(&ch, "queue-ttl").await, None);
    assert_eq!(get_body(&ch, "message-ttl").await, None);
    drop(conn);
    broker.shutdown().await;
}

//! Message content: every basic property and header field type round-trips
//! unchanged, bodies of any size (empty, frame boundaries, several MiB) arrive
//! intact, with lapin and with amqprs.

mod common;
mod support;

use common::{within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection};
use support::*;

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.unwrap()
}

/// A headers table with every field type lapin writes and reads back as the
/// same type, including nested tables and arrays. (lapin writes an unsigned
/// 64-bit integer with RabbitMQ's signed 'l' tag, and has no wire tag for a
/// short string, so those two cannot round-trip through any broker.)
fn every_field_type() -> FieldTable {
    let mut inner = FieldTable::default();
    inner.insert("depth".into(), AMQPValue::LongInt(2));
    inner.insert(
        "list".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![
            AMQPValue::LongString("x".into()),
            AMQPValue::Boolean(false),
        ])),
    );
    let nested_array = FieldArray::from(vec![
        AMQPValue::LongInt(1),
        AMQPValue::LongString("two".into()),
        AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::Double(3.5)])),
        AMQPValue::FieldTable(inner.clone()),
        AMQPValue::Void,
    ]);
    table(&[
        ("bool", AMQPValue::Boolean(true)),
        ("i8", AMQPValue::ShortShortInt(-8)),
        ("u8", AMQPValue::ShortShortUInt(200)),
        ("i16", AMQPValue::ShortInt(-1600)),
        ("u16", AMQPValue::ShortUInt(60000)),
        ("i32", AMQPValue::LongInt(-320_000)),
        ("u32", AMQPValue::LongUInt(4_000_000_000)),
        ("i64", AMQPValue::LongLongInt(-6_400_000_000_000)),
        ("f32", AMQPValue::Float(1.25)),
        ("f64", AMQPValue::Double(-2.000_000_001)),
        (
            "decimal",
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 12345,
            }),
        ),
        ("string", AMQPValue::LongString("héllo wörld".into())),
        (
            "binary-string",
            AMQPValue::LongString(LongString::from(vec![0u8, 255, 1, 254])),
        ),
        ("timestamp", AMQPValue::Timestamp(1_700_000_000)),
        (
            "bytes",
            AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 2, 3, 255])),
        ),
        ("void", AMQPValue::Void),
        ("array", AMQPValue::FieldArray(nested_array)),
        ("empty-array", AMQPValue::FieldArray(FieldArray::default())),
        ("table", AMQPValue::FieldTable(inner)),
        ("empty-table", AMQPValue::FieldTable(FieldTable::default())),
    ])
}

fn all_properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("gzip".into())
        .with_headers(every_field_type())
        .with_delivery_mode(2)
        .with_priority(7)
        .with_correlation_id("corr-42".into())
        .with_reply_to("replies".into())
        .with_expiration("60000".into())
        .with_message_id("msg-0001".into())
        .with_timestamp(1_700_000_123)
        .with_type("order.created".into())
        // RabbitMQ validates user_id against the connection's user.
        .with_user_id("guest".into())
        .with_app_id("warren-tests".into())
}

#[tokio::test]
async fn all_basic_properties_round_trip_through_consume() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "props").await;
    let mut consumer = within(ch.basic_consume(
        "props".into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let sent = all_properties();
    publish_with(&ch, "", "props", b"{}", sent.clone()).await;
    let d = next(&mut consumer).await;
    assert_eq!(d.properties, sent);
    assert_eq!(d.data, b"{}");
    assert_eq!(d.exchange.as_str(), "");
    assert_eq!(d.routing_key.as_str(), "props");
}

#[tokio::test]
async fn all_basic_properties_round_trip_through_get() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_exchange(&ch, "px", lapin::ExchangeKind::Topic).await;
    declare_queue(&ch, "props").await;
    bind(&ch, "props", "px", "a.#").await;
    let sent = all_properties();
    publish_with(&ch, "px", "a.b", b"body", sent.clone()).await;
    let m = get(&ch, "props").await.unwrap();
    assert_eq!(m.delivery.properties, sent);
    assert_eq!(m.delivery.exchange.as_str(), "px");
    assert_eq!(m.delivery.routing_key.as_str(), "a.b");
}

#[tokio::test]
async fn no_properties_at_all_round_trip() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "bare").await;
    publish(&ch, "", "bare", b"x").await;
    let m = get(&ch, "bare").await.unwrap();
    assert_eq!(m.delivery.properties, BasicProperties::default());
}

#[tokio::test]
async fn user_id_other_than_the_connection_user_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "uid").await;
    let mut watcher = watch_channel(&ch).await;
    publish_with(
        &ch,
        "",
        "uid",
        b"x",
        BasicProperties::default().with_user_id("mallory".into()),
    )
    .await;
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'",
    );
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, "uid").await, 0);
}

#[tokio::test]
async fn impersonator_may_set_any_user_id() {
    let broker = TestBroker::start().await;
    let users = &broker.broker.users;
    users.add_user("robot", "secret", vec!["impersonator".into()]);
    users.set_permission("robot", "/", warren_core::auth::Permission::full());
    let uri = format!("amqp://robot:secret@{}/%2f", broker.addr);
    let conn = within(lapin::Connection::connect(
        &uri,
        lapin::ConnectionProperties::default(),
    ))
    .await
    .unwrap();
    let ch = channel(&conn).await;
    declare_queue(&ch, "uid").await;
    let props = BasicProperties::default().with_user_id("someone-else".into());
    publish_with(&ch, "", "uid", b"x", props.clone()).await;
    let m = get(&ch, "uid").await.unwrap();
    assert_eq!(m.delivery.properties, props);
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn body_round_trip(len: usize) {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "big").await;
    let mut consumer = within(ch.basic_consume(
        "big".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let body = pattern(len);
    let props = BasicProperties::default().with_message_id(format!("len-{len}").into());
    publish_with(&ch, "", "big", &body, props.clone()).await;
    let d = next(&mut consumer).await;
    assert_eq!(d.data.len(), len);
    assert!(d.data == body, "body of {len} bytes corrupted");
    assert_eq!(d.properties, props);
    within(d.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn one_mib_body_arrives_intact() {
    body_round_trip(1024 * 1024).await;
}

#[tokio::test]
async fn five_mib_body_arrives_intact() {
    body_round_trip(5 * 1024 * 1024).await;
}

#[tokio::test]
async fn bodies_around_the_frame_size_arrive_intact() {
    let broker = TestBroker::start().await;
    let frame_max = warren_amqp::AmqpConfig::default().frame_max as usize;
    // A body frame carries at most frame_max - 8 bytes of payload.
    let per_frame = frame_max - 8;
    let conn = broker.lapin().await;
    assert_eq!(conn.configuration().frame_max() as usize, frame_max);
    let ch = channel(&conn).await;
    declare_queue(&ch, "edges").await;
    let sizes = [
        1,
        per_frame - 1,
        per_frame,
        per_frame + 1,
        2 * per_frame,
        2 * per_frame + 1,
    ];
    for len in sizes {
        publish(&ch, "", "edges", &pattern(len)).await;
    }
    for len in sizes {
        let m = get(&ch, "edges").await.expect("message");
        assert_eq!(m.delivery.data.len(), len);
        assert!(
            m.delivery.data == pattern(len),
            "body of {len} bytes corrupted"
        );
    }
}

#[tokio::test]
async fn empty_body_works() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "empty").await;
    let props = BasicProperties::default().with_content_type("text/plain".into());
    publish_with(&ch, "", "empty", b"", props.clone()).await;
    publish(&ch, "", "empty", b"after").await;
    let mut consumer = within(ch.basic_consume(
        "empty".into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let d = next(&mut consumer).await;
    assert!(d.data.is_empty());
    assert_eq!(d.properties, props);
    // The next message is not swallowed by the empty one.
    assert_eq!(next(&mut consumer).await.data, b"after");
}

fn amqprs_headers() -> amqprs::FieldTable {
    use amqprs::{FieldName, FieldValue};
    let key = |k: &str| FieldName::try_from(k).unwrap();
    let mut inner = amqprs::FieldTable::new();
    inner.insert(key("n"), FieldValue::I(5));
    let mut t = amqprs::FieldTable::new();
    t.insert(key("bool"), FieldValue::t(true));
    t.insert(key("i8"), FieldValue::b(-3));
    t.insert(key("u8"), FieldValue::B(3));
    t.insert(key("i16"), FieldValue::s(-300));
    t.insert(key("u16"), FieldValue::u(300));
    t.insert(key("i32"), FieldValue::I(-70_000));
    t.insert(key("u32"), FieldValue::i(70_000));
    t.insert(key("i64"), FieldValue::l(-1 << 40));
    t.insert(key("f32"), FieldValue::f(0.5));
    t.insert(key("f64"), FieldValue::d(0.25));
    t.insert(
        key("decimal"),
        FieldValue::D(amqprs::DecimalValue::new(3, 1234)),
    );
    t.insert(key("string"), FieldValue::from("text"));
    t.insert(
        key("array"),
        FieldValue::A(
            amqprs::FieldArray::try_from(vec![FieldValue::I(1), FieldValue::from("two")]).unwrap(),
        ),
    );
    t.insert(key("timestamp"), FieldValue::T(1_700_000_000));
    t.insert(key("table"), FieldValue::F(inner));
    t.insert(key("void"), FieldValue::V);
    t.insert(
        key("bytes"),
        FieldValue::x(amqprs::ByteArray::try_from(vec![9u8, 8, 7]).unwrap()),
    );
    t
}

#[tokio::test]
async fn amqprs_properties_round_trip() {
    use amqprs::channel::{BasicGetArguments, BasicPublishArguments, QueueDeclareArguments};
    let broker = TestBroker::start().await;
    let conn = broker.amqprs().await;
    let ch = within(conn.open_channel(None)).await.unwrap();
    within(ch.queue_declare(QueueDeclareArguments::new("rs-props")))
        .await
        .unwrap();
    let sent = amqprs::BasicProperties::default()
        .with_content_type("text/plain")
        .with_content_encoding("utf-8")
        .with_headers(amqprs_headers())
        .with_delivery_mode(2)
        .with_priority(3)
        .with_correlation_id("c-1")
        .with_reply_to("back")
        .with_expiration("5000")
        .with_message_id("m-1")
        .with_timestamp(1_600_000_000)
        .with_message_type("kind")
        .with_user_id("guest")
        .with_app_id("amqprs-test")
        .finish();
    let body = pattern(300_000);
    within(ch.basic_publish(
        sent.clone(),
        body.clone(),
        BasicPublishArguments::new("", "rs-props"),
    ))
    .await
    .unwrap();
    let (get_ok, got, data) = within(ch.basic_get(BasicGetArguments::new("rs-props")))
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(get_ok.message_count(), 0);
    assert!(data == body, "body corrupted");
    assert_eq!(got.content_type(), sent.content_type());
    assert_eq!(got.content_encoding(), sent.content_encoding());
    assert_eq!(got.headers(), sent.headers());
    assert_eq!(got.delivery_mode(), Some(2));
    assert_eq!(got.priority(), Some(3));
    assert_eq!(got.correlation_id(), sent.correlation_id());
    assert_eq!(got.reply_to(), sent.reply_to());
    assert_eq!(got.expiration(), sent.expiration());
    assert_eq!(got.message_id(), sent.message_id());
    assert_eq!(got.timestamp(), Some(1_600_000_000));
    assert_eq!(got.message_type(), sent.message_type());
    assert_eq!(got.user_id(), sent.user_id());
    assert_eq!(got.app_id(), sent.app_id());
    assert_eq!(got.cluster_id(), None);
    within(ch.close()).await.unwrap();
    within(conn.close()).await.unwrap();
}

#[tokio::test]
async fn properties_cross_from_lapin_to_amqprs() {
    use amqprs::channel::BasicGetArguments;
    let broker = TestBroker::start().await;
    let lconn = broker.lapin().await;
    let lch = channel(&lconn).await;
    declare_queue(&lch, "cross").await;
    let headers = table(&[
        ("s", s("v")),
        ("n", AMQPValue::LongLongInt(-5)),
        (
            "nested",
            AMQPValue::FieldTable(table(&[("b", AMQPValue::Boolean(true))])),
        ),
    ]);
    publish_with(
        &lch,
        "",
        "cross",
        b"hello",
        BasicProperties::default()
            .with_headers(headers)
            .with_correlation_id("x-1".into())
            .with_priority(1),
    )
    .await;
    let rconn = broker.amqprs().await;
    let rch = within(rconn.open_channel(None)).await.unwrap();
    let (_, props, data) = within(rch.basic_get(BasicGetArguments::new("cross")))
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(data, b"hello");
    assert_eq!(props.correlation_id().map(String::as_str), Some("x-1"));
    assert_eq!(props.priority(), Some(1));
    let h = props.headers().expect("headers");
    let key = |k: &str| amqprs::FieldName::try_from(k).unwrap();
    assert_eq!(h.get(&key("s")), Some(&amqprs::FieldValue::from("v")));
    assert_eq!(h.get(&key("n")), Some(&amqprs::FieldValue::l(-5)));
    let mut nested = amqprs::FieldTable::new();
    nested.insert(key("b"), amqprs::FieldValue::t(true));
    assert_eq!(h.get(&key("nested")), Some(&amqprs::FieldValue::F(nested)));
    within(rch.close()).await.unwrap();
    within(rconn.close()).await.unwrap();
}

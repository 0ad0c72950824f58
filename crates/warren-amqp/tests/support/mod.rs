//! Helpers shared by the behaviour tests, on top of `common`: short ways to
//! declare, publish and fetch with lapin, and to read the AMQP error (reply code
//! and text) a lapin call or a closed channel reports.
#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures_lite::StreamExt;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer};
use warren_core::{Queue, VHost};

use crate::common::{within, TestBroker};

/// The reply code and text of the AMQP error inside a lapin error; panics if
/// the error is anything else.
pub fn amqp_error(err: &lapin::Error) -> (u16, String) {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected an AMQP protocol error, got {other:?}"),
    }
}

/// Awaits an operation (with the usual timeout) that must fail with an AMQP
/// error; returns its reply code and text.
pub async fn expect_amqp_err<T: Debug>(
    fut: impl Future<Output = lapin::Result<T>>,
) -> (u16, String) {
    match within(fut).await {
        Ok(v) => panic!("expected an AMQP error, got Ok({v:?})"),
        Err(e) => amqp_error(&e),
    }
}

/// Asserts a reply code and that the reply text contains `phrase`.
#[track_caller]
pub fn assert_reply(got: &(u16, String), code: u16, phrase: &str) {
    assert_eq!(got.0, code, "reply code (text: {:?})", got.1);
    assert!(
        got.1.contains(phrase),
        "reply text {:?} does not contain {phrase:?}",
        got.1
    );
}

/// A consumer on a fresh exclusive queue of `ch`: it gets nothing but the error
/// that closes the channel, so `closed_with` can report it reliably even for
/// methods that have no reply (ack, reject, publish).
pub async fn watch_channel(ch: &Channel) -> Consumer {
    let q = within(ch.queue_declare(
        "".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.basic_consume(
        q.name().clone(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap()
}

/// Waits for the channel (or connection) that `watcher` consumes on to be
/// closed by the broker; returns the reply code and text.
pub async fn closed_with(watcher: &mut Consumer) -> (u16, String) {
    match within(watcher.next()).await {
        Some(Ok(d)) => panic!("unexpected delivery on watcher: {:?}", d.data),
        Some(Err(e)) => amqp_error(&e),
        None => panic!("watcher ended without an error"),
    }
}

/// The default vhost of the broker, for inspecting state directly.
pub fn vhost(broker: &TestBroker) -> Arc<VHost> {
    broker.broker.vhost("/").expect("default vhost")
}

/// A queue of the default vhost.
pub fn queue(broker: &TestBroker, name: &str) -> Arc<Queue> {
    vhost(broker).queue(name).expect("queue exists")
}

/// Declares a plain (non-durable, non-exclusive) queue.
pub async fn declare_queue(ch: &Channel, name: &str) -> lapin::Queue {
    within(ch.queue_declare(
        name.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap()
}

/// Declares a queue with options and arguments.
pub async fn declare_queue_with(
    ch: &Channel,
    name: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> lapin::Result<lapin::Queue> {
    within(ch.queue_declare(name.into(), options, arguments)).await
}

/// Declares an exchange of `kind`.
pub async fn declare_exchange(ch: &Channel, name: &str, kind: lapin::ExchangeKind) {
    within(ch.exchange_declare(
        name.into(),
        kind,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
}

/// Binds a queue.
pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    bind_with(ch, queue, exchange, key, FieldTable::default()).await;
}

/// Binds a queue with arguments.
pub async fn bind_with(ch: &Channel, queue: &str, exchange: &str, key: &str, args: FieldTable) {
    within(ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        args,
    ))
    .await
    .unwrap();
}

/// Publishes `body` with default properties (the publish itself, not a confirm).
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) {
    publish_with(ch, exchange, key, body, BasicProperties::default()).await;
}

/// Publishes `body` with `properties`.
pub async fn publish_with(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    properties: BasicProperties,
) {
    within(ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        properties,
    ))
    .await
    .unwrap();
}

/// basic.get with manual acknowledgement.
pub async fn get(ch: &Channel, queue: &str) -> Option<BasicGetMessage> {
    within(ch.basic_get(queue.into(), BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
}

/// basic.get with no_ack; returns the body.
pub async fn get_body(ch: &Channel, queue: &str) -> Option<Vec<u8>> {
    within(ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .map(|m| m.delivery.data)
}

/// Drains a queue with no_ack gets; returns the bodies as strings, in order.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    while let Some(body) = get_body(ch, queue).await {
        bodies.push(String::from_utf8(body).unwrap());
    }
    bodies
}

/// Ready messages in a queue, through a passive queue.declare.
pub async fn message_count(ch: &Channel, queue: &str) -> u32 {
    within(ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap()
    .message_count()
}

/// The next delivery of a consumer.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    within(consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery error")
}

/// Whether a queue exists, through a passive declare on a throwaway channel.
pub async fn queue_exists(conn: &lapin::Connection, name: &str) -> bool {
    let ch = within(conn.create_channel()).await.unwrap();
    let result = within(ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    match result {
        Ok(_) => {
            within(ch.close(200, "bye".into())).await.unwrap();
            true
        }
        Err(e) => {
            assert_eq!(amqp_error(&e).0, 404, "unexpected error: {e}");
            false
        }
    }
}

/// Whether an exchange exists, through a passive declare on a throwaway channel.
pub async fn exchange_exists(conn: &lapin::Connection, name: &str) -> bool {
    let ch = within(conn.create_channel()).await.unwrap();
    let result = within(ch.exchange_declare(
        name.into(),
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    match result {
        Ok(()) => {
            within(ch.close(200, "bye".into())).await.unwrap();
            true
        }
        Err(e) => {
            assert_eq!(amqp_error(&e).0, 404, "unexpected error: {e}");
            false
        }
    }
}

/// A table from (key, value) pairs.
pub fn table(entries: &[(&str, lapin::types::AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// A long-string field value.
pub fn s(v: &str) -> lapin::types::AMQPValue {
    lapin::types::AMQPValue::LongString(v.into())
}

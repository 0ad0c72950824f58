//! Direct reply-to (`amq.rabbitmq.reply-to`): RPC replies without a reply
//! queue, and the checks RabbitMQ applies to its use.

mod common;
mod support;

use common::{within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};
use support::*;

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.unwrap()
}

async fn consume_replies(ch: &Channel) -> Consumer {
    within(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap()
}

fn request_properties(correlation_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_reply_to(REPLY_TO.into())
        .with_correlation_id(correlation_id.into())
}

#[tokio::test]
async fn rpc_round_trip_through_direct_reply_to() {
    let broker = TestBroker::start().await;
    // The RPC server, on its own connection.
    let server_conn = broker.lapin().await;
    let server = channel(&server_conn).await;
    declare_queue(&server, "rpc_queue").await;
    let mut requests = within(server.basic_consume(
        "rpc_queue".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    // The client consumes the pseudo-queue before publishing, on one channel.
    let client_conn = broker.lapin().await;
    let client = channel(&client_conn).await;
    let mut replies = consume_replies(&client).await;
    publish_with(&client, "", "rpc_queue", b"30", request_properties("req-1")).await;

    let request = next(&mut requests).await;
    let reply_to = request
        .properties
        .reply_to()
        .clone()
        .expect("reply_to is set")
        .to_string();
    let prefix = format!("{REPLY_TO}.");
    assert!(
        reply_to.starts_with(&prefix) && reply_to.len() > prefix.len(),
        "reply_to was not rewritten to a reply address: {reply_to:?}"
    );
    assert_eq!(
        request
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str()),
        Some("req-1")
    );
    assert_eq!(request.data, b"30");
    publish_with(
        &server,
        "",
        &reply_to,
        b"832040",
        BasicProperties::default().with_correlation_id("req-1".into()),
    )
    .await;
    within(request.acker.ack(BasicAckOptions::default()))
        .await
        .unwrap();

    let reply = next(&mut replies).await;
    assert_eq!(reply.data, b"832040");
    assert_eq!(
        reply
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str()),
        Some("req-1")
    );
    assert_eq!(reply.routing_key.as_str(), reply_to);
    assert!(!reply.redelivered);
}

#[tokio::test]
async fn each_request_of_a_channel_uses_the_same_reply_address() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let server = channel(&conn).await;
    declare_queue(&server, "rpc").await;
    let client = channel(&conn).await;
    let mut replies = consume_replies(&client).await;
    for id in ["a", "b"] {
        publish_with(&client, "", "rpc", id.as_bytes(), request_properties(id)).await;
    }
    let first = get(&server, "rpc").await.unwrap().delivery;
    let second = get(&server, "rpc").await.unwrap().delivery;
    let addr = |d: &lapin::message::Delivery| d.properties.reply_to().clone().unwrap();
    assert_eq!(addr(&first), addr(&second));
    // Replies sent in reverse order arrive in that order.
    for d in [&second, &first] {
        publish(&server, "", addr(d).as_str(), &d.data).await;
    }
    assert_eq!(next(&mut replies).await.data, b"b");
    assert_eq!(next(&mut replies).await.data, b"a");
}

#[tokio::test]
async fn reply_to_a_closed_channel_is_dropped() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let server = channel(&conn).await;
    declare_queue(&server, "rpc").await;
    let client = channel(&conn).await;
    let replies = consume_replies(&client).await;
    publish_with(&client, "", "rpc", b"q", request_properties("x")).await;
    drop(replies);
    within(client.close(200, "bye".into())).await.unwrap();
    let request = get(&server, "rpc").await.unwrap().delivery;
    let address = request.properties.reply_to().clone().unwrap();
    // Publishing to the stale address is not an error; the reply goes nowhere.
    server
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = within(server.basic_publish(
        "".into(),
        address.as_str().into(),
        BasicPublishOptions::default(),
        b"late",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    assert!(within(confirm).await.unwrap().is_ack());
    assert!(server.status().connected());
}

#[tokio::test]
async fn publishing_with_reply_to_without_consuming_it_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "rpc").await;
    let mut watcher = watch_channel(&ch).await;
    publish_with(&ch, "", "rpc", b"q", request_properties("x")).await;
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );
    let ch = channel(&conn).await;
    assert_eq!(message_count(&ch, "rpc").await, 0);
}

#[tokio::test]
async fn reply_consumer_on_another_channel_does_not_count() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let consuming = channel(&conn).await;
    let _replies = consume_replies(&consuming).await;
    let publishing = channel(&conn).await;
    declare_queue(&publishing, "rpc").await;
    let mut watcher = watch_channel(&publishing).await;
    publish_with(&publishing, "", "rpc", b"q", request_properties("x")).await;
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 406, "fast reply consumer does not exist");
}

#[tokio::test]
async fn consuming_reply_to_with_manual_ack_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let err = match within(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: false,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    {
        Ok(_) => panic!("manual-ack reply consumer accepted"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - reply consumer cannot acknowledge",
    );
}

#[tokio::test]
async fn second_reply_consumer_on_a_channel_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    let _first = consume_replies(&ch).await;
    let err = match within(ch.basic_consume(
        REPLY_TO.into(),
        "".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    {
        Ok(_) => panic!("second reply consumer accepted"),
        Err(e) => amqp_error(&e),
    };
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - reply consumer already set",
    );
}

#[tokio::test]
async fn reply_consumer_can_be_cancelled_and_set_again() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let server = channel(&conn).await;
    declare_queue(&server, "rpc").await;
    let client = channel(&conn).await;
    let first = consume_replies(&client).await;
    within(client.basic_cancel(first.tag(), BasicCancelOptions::default()))
        .await
        .unwrap();
    let mut again = consume_replies(&client).await;
    publish_with(&client, "", "rpc", b"q", request_properties("x")).await;
    let request = get(&server, "rpc").await.unwrap().delivery;
    let address = request.properties.reply_to().clone().unwrap();
    publish(&server, "", address.as_str(), b"r").await;
    assert_eq!(next(&mut again).await.data, b"r");
    // The cancelled consumer's stream has ended.
    let mut first = first;
    assert!(within(first.next()).await.is_none());
}

/// RabbitMQ answers any queue.declare of the pseudo-queue (or of a live reply
/// address) with declare-ok, 0 messages and 1 consumer: "all declares to
/// these are effectively passive".
#[tokio::test]
async fn declaring_the_reply_to_pseudo_queue_is_ok() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = channel(&conn).await;
    for passive in [true, false] {
        let q = within(ch.queue_declare(
            REPLY_TO.into(),
            QueueDeclareOptions {
                passive,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap_or_else(|e| panic!("declare (passive={passive}): {e}"));
        assert_eq!(q.name().as_str(), REPLY_TO);
        assert_eq!((q.message_count(), q.consumer_count()), (0, 1));
    }
}

#[tokio::test]
async fn declaring_a_reply_address_checks_that_it_is_live() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let server = channel(&conn).await;
    declare_queue(&server, "rpc").await;
    let client = channel(&conn).await;
    let _replies = consume_replies(&client).await;
    publish_with(&client, "", "rpc", b"q", request_properties("x")).await;
    let request = get(&server, "rpc").await.unwrap().delivery;
    let address = request.properties.reply_to().clone().unwrap();
    let q = within(server.queue_declare(
        address.clone(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(q.name(), &address);
    let err = expect_amqp_err(server.queue_declare(
        format!("{REPLY_TO}.no-such-token").into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 404, "NOT_FOUND");
}

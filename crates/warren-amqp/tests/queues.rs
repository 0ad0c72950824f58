//! Queues: naming, declaration checks, exclusivity, auto-delete, purge and
//! delete, and the server-sent basic.cancel when a consumed queue goes away,
//! each checked against RabbitMQ's documented behaviour.

mod common;
mod support;

use common::{eventually, within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use support::*;

#[tokio::test]
async fn server_named_queues_start_with_amq_gen() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let a = declare_queue_with(&ch, "", exclusive, FieldTable::default())
        .await
        .unwrap();
    let b = declare_queue_with(&ch, "", exclusive, FieldTable::default())
        .await
        .unwrap();
    for name in [a.name().as_str(), b.name().as_str()] {
        assert!(name.starts_with("amq.gen-"), "{name}");
        assert!(name.len() > "amq.gen-".len(), "{name}");
    }
    assert_ne!(a.name(), b.name());
    // The generated name is a real queue on the default exchange.
    publish(&ch, "", a.name().as_str(), b"hi").await;
    assert_eq!(
        get_body(&ch, a.name().as_str()).await.as_deref(),
        Some(&b"hi"[..])
    );
}

#[tokio::test]
async fn passive_declare_of_missing_queue_is_not_found() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_declare(
        "missing".into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 404, "NOT_FOUND - no queue 'missing' in vhost '/'");
    // Channel-level: the connection is still usable, and nothing was created.
    assert!(conn.status().connected());
    assert!(!queue_exists(&conn, "missing").await);
}

async fn redeclare_error(first: QueueDeclareOptions, second: QueueDeclareOptions) -> (u16, String) {
    redeclare_error_args(first, FieldTable::default(), second, FieldTable::default()).await
}

async fn redeclare_error_args(
    first: QueueDeclareOptions,
    first_args: FieldTable,
    second: QueueDeclareOptions,
    second_args: FieldTable,
) -> (u16, String) {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(&ch, "q", first, first_args)
        .await
        .unwrap();
    let err = expect_amqp_err(ch.queue_declare("q".into(), second, second_args)).await;
    // The original queue is untouched.
    assert!(queue_exists(&conn, "q").await);
    err
}

#[tokio::test]
async fn redeclaring_queue_with_different_durable_fails() {
    let err = redeclare_error(
        QueueDeclareOptions::default(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
    )
    .await;
    assert_reply(
        &err,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'",
    );
}

#[tokio::test]
async fn redeclaring_queue_with_different_auto_delete_fails() {
    let err = redeclare_error(
        QueueDeclareOptions::default(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
    )
    .await;
    assert_reply(&err, 406, "inequivalent arg 'auto_delete' for queue 'q'");
}

/// RabbitMQ checks exclusivity strictly on redeclaration (before durable and
/// the other properties): a different `exclusive` flag gets 405 RESOURCE_LOCKED,
/// the same answer as using another connection's exclusive queue.
#[tokio::test]
async fn redeclaring_queue_as_exclusive_is_resource_locked() {
    let err = redeclare_error(
        QueueDeclareOptions::default(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
    assert_reply(
        &err,
        405,
        "cannot obtain exclusive access to locked queue 'q'",
    );
}

#[tokio::test]
async fn redeclaring_exclusive_queue_as_non_exclusive_is_resource_locked() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    declare_queue_with(&ch, "q", exclusive, FieldTable::default())
        .await
        .unwrap();
    let err = expect_amqp_err(ch.queue_declare(
        "q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(
        &err,
        405,
        "cannot obtain exclusive access to locked queue 'q'",
    );
}

#[tokio::test]
async fn redeclaring_queue_with_different_x_args_fails() {
    let ttl = |v| {
        let mut t = FieldTable::default();
        t.insert("x-message-ttl".into(), AMQPValue::LongInt(v));
        t
    };
    let err = redeclare_error_args(
        QueueDeclareOptions::default(),
        ttl(1000),
        QueueDeclareOptions::default(),
        ttl(2000),
    )
    .await;
    assert_reply(
        &err,
        406,
        "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '2000' but current is '1000'",
    );
}

#[tokio::test]
async fn redeclaring_queue_with_same_properties_succeeds() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(10));
    let opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    declare_queue_with(&ch, "q", opts, args.clone())
        .await
        .unwrap();
    // An integer of another width with the same value is equivalent.
    let mut wider = FieldTable::default();
    wider.insert("x-max-length".into(), AMQPValue::LongLongInt(10));
    declare_queue_with(&ch, "q", opts, wider).await.unwrap();
    // A passive declare ignores the other fields.
    declare_queue_with(
        &ch,
        "q",
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
}

async fn declare_exclusive(conn: &lapin::Connection, name: &str) -> lapin::Channel {
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(
        &ch,
        name,
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch
}

#[tokio::test]
async fn exclusive_queue_declared_from_another_connection_is_locked() {
    let broker = TestBroker::start().await;
    let owner = broker.lapin().await;
    let _ch = declare_exclusive(&owner, "excl").await;
    let other = broker.lapin().await;
    let ch = within(other.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_declare(
        "excl".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
    assert_reply(
        &err,
        405,
        "cannot obtain exclusive access to locked queue 'excl'",
    );
    // A passive declare from another connection is refused the same way.
    let ch = within(other.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_declare(
        "excl".into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
}

#[tokio::test]
async fn exclusive_queue_consumed_from_another_connection_is_locked() {
    let broker = TestBroker::start().await;
    let owner = broker.lapin().await;
    let _ch = declare_exclusive(&owner, "excl").await;
    let other = broker.lapin().await;
    let ch = within(other.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.basic_consume(
        "excl".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
    assert_eq!(queue(&broker, "excl").consumer_count(), 0);
}

#[tokio::test]
async fn exclusive_queue_purged_or_deleted_from_another_connection_is_locked() {
    let broker = TestBroker::start().await;
    let owner = broker.lapin().await;
    let och = declare_exclusive(&owner, "excl").await;
    publish(&och, "", "excl", b"keep").await;
    let other = broker.lapin().await;
    let ch = within(other.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_purge("excl".into(), QueuePurgeOptions::default())).await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
    let ch = within(other.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_delete("excl".into(), QueueDeleteOptions::default())).await;
    assert_reply(&err, 405, "RESOURCE_LOCKED");
    assert_eq!(message_count(&och, "excl").await, 1);
}

#[tokio::test]
async fn exclusive_queue_is_deleted_when_its_connection_closes() {
    let broker = TestBroker::start().await;
    let owner = broker.lapin().await;
    let _ch = declare_exclusive(&owner, "excl").await;
    let other = broker.lapin().await;
    assert!(vhost(&broker).queue("excl").is_ok());
    within(owner.close(200, "bye".into())).await.unwrap();
    eventually(|| vhost(&broker).queue("excl").is_err()).await;
    assert!(!queue_exists(&other, "excl").await);
    // The name is free again, for anyone.
    let ch = declare_exclusive(&other, "excl").await;
    within(ch.close(200, "bye".into())).await.unwrap();
}

#[tokio::test]
async fn exclusive_queue_is_deleted_when_its_connection_drops() {
    let broker = TestBroker::start().await;
    let owner = broker.lapin().await;
    let _ch = declare_exclusive(&owner, "excl").await;
    drop(_ch);
    drop(owner);
    eventually(|| vhost(&broker).queue("excl").is_err()).await;
}

#[tokio::test]
async fn auto_delete_queue_is_deleted_when_last_consumer_cancels() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(
        &ch,
        "ad",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    // Keep the consumers alive: dropping a lapin consumer cancels it.
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let c = within(ch.basic_consume(
            "ad".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
        consumers.push(c);
    }
    let tags: Vec<_> = consumers.iter().map(|c| c.tag()).collect();
    assert_eq!(queue(&broker, "ad").consumer_count(), 2);
    within(ch.basic_cancel(tags[0].clone(), BasicCancelOptions::default()))
        .await
        .unwrap();
    assert!(queue_exists(&conn, "ad").await, "one consumer left");
    within(ch.basic_cancel(tags[1].clone(), BasicCancelOptions::default()))
        .await
        .unwrap();
    assert!(!queue_exists(&conn, "ad").await, "last consumer gone");
}

#[tokio::test]
async fn auto_delete_queue_without_consumers_ever_stays() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(
        &ch,
        "ad",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish(&ch, "", "ad", b"x").await;
    within(ch.close(200, "bye".into())).await.unwrap();
    assert!(queue_exists(&conn, "ad").await);
}

#[tokio::test]
async fn auto_delete_queue_is_deleted_when_consumer_channel_closes() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue_with(
        &ch,
        "ad",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _c = within(ch.basic_consume(
        "ad".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.close(200, "bye".into())).await.unwrap();
    assert!(!queue_exists(&conn, "ad").await);
}

#[tokio::test]
async fn purge_returns_the_number_of_messages_purged() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "p").await;
    for i in 0..3 {
        publish(&ch, "", "p", format!("m{i}").as_bytes()).await;
    }
    let purged = within(ch.queue_purge("p".into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    assert_eq!(message_count(&ch, "p").await, 0);
    let again = within(ch.queue_purge("p".into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test]
async fn purge_leaves_unacked_messages_alone() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "p").await;
    publish(&ch, "", "p", b"a").await;
    publish(&ch, "", "p", b"b").await;
    let held = get(&ch, "p").await.expect("a message");
    let purged = within(ch.queue_purge("p".into(), QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    // The unacked one comes back when rejected with requeue.
    within(held.delivery.reject(BasicRejectOptions { requeue: true }))
        .await
        .unwrap();
    assert_eq!(drain(&ch, "p").await, ["a"]);
}

#[tokio::test]
async fn delete_if_unused_with_a_consumer_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "busy").await;
    let _c = within(ch.basic_consume(
        "busy".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let ch2 = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch2.queue_delete(
        "busy".into(),
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "in use");
    assert!(queue_exists(&conn, "busy").await);
}

#[tokio::test]
async fn delete_if_empty_with_messages_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "full").await;
    publish(&ch, "", "full", b"x").await;
    let err = expect_amqp_err(ch.queue_delete(
        "full".into(),
        QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        },
    ))
    .await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "not empty");
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(message_count(&ch, "full").await, 1);
}

#[tokio::test]
async fn delete_if_unused_and_if_empty_succeed_when_satisfied() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "idle").await;
    let count = within(ch.queue_delete(
        "idle".into(),
        QueueDeleteOptions {
            if_unused: true,
            if_empty: true,
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(count, 0);
    assert!(!queue_exists(&conn, "idle").await);
}

#[tokio::test]
async fn delete_returns_the_message_count() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "d").await;
    publish(&ch, "", "d", b"1").await;
    publish(&ch, "", "d", b"2").await;
    let count = within(ch.queue_delete("d".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert!(!queue_exists(&conn, "d").await);
}

#[tokio::test]
async fn deleting_a_missing_queue_succeeds() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let count = within(ch.queue_delete("never-there".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(count, 0);
    // The channel is still open.
    declare_queue(&ch, "after").await;
}

#[tokio::test]
async fn declare_ok_reports_message_and_consumer_counts() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let fresh = declare_queue(&ch, "counted").await;
    assert_eq!((fresh.message_count(), fresh.consumer_count()), (0, 0));
    for i in 0..3 {
        publish(&ch, "", "counted", format!("{i}").as_bytes()).await;
    }
    let cch = within(conn.create_channel()).await.unwrap();
    within(cch.basic_qos(1, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = within(cch.basic_consume(
        "counted".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let first = next(&mut consumer).await;
    assert_eq!(first.data, b"0");
    // One is unacked at the consumer; two are ready.
    let again = declare_queue(&ch, "counted").await;
    assert_eq!((again.message_count(), again.consumer_count()), (2, 1));
    let passive = declare_queue_with(
        &ch,
        "counted",
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    assert_eq!((passive.message_count(), passive.consumer_count()), (2, 1));
}

#[tokio::test]
async fn declaring_an_amq_prefixed_queue_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.queue_declare(
        "amq.x".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "amq.x");
    assert!(!queue_exists(&conn, "amq.x").await);
}

#[tokio::test]
async fn consumer_is_cancelled_by_server_when_its_queue_is_deleted() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "doomed").await;
    let mut consumer = within(ch.basic_consume(
        "doomed".into(),
        "watcher".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "", "doomed", b"before").await;
    let d = next(&mut consumer).await;
    assert_eq!(d.data, b"before");
    let other = within(conn.create_channel()).await.unwrap();
    within(other.queue_delete("doomed".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    // basic.cancel from the server ends the consumer's stream.
    let end = within(consumer.next()).await;
    assert!(end.is_none(), "expected the stream to end, got {end:?}");
    // The channel stays open and usable; the tag is free again.
    assert!(ch.status().connected());
    declare_queue(&ch, "doomed2").await;
    within(ch.basic_consume(
        "doomed2".into(),
        "watcher".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
}

//! Permissions: every AMQP operation RabbitMQ guards with configure, write or
//! read (and topic permissions) is refused with 403 ACCESS_REFUSED and
//! RabbitMQ's text when the user's pattern does not match, and allowed when it
//! does. The user "u" gets exactly the patterns each test needs.

mod common;
mod support;

use common::{within, TestBroker};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use support::*;
use warren_core::auth::{Permission, TopicPermission};

/// A broker where guest has declared queue "q" and direct exchange "x" (q bound
/// with key "k"), and user "u" has the given configure/write/read patterns.
async fn setup(configure: &str, write: &str, read: &str) -> (TestBroker, Connection, Channel) {
    let broker = TestBroker::start().await;
    let admin = broker.lapin().await;
    let ch = within(admin.create_channel()).await.unwrap();
    declare_queue(&ch, "q").await;
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    declare_exchange(&ch, "t", ExchangeKind::Topic).await;
    bind(&ch, "q", "x", "k").await;
    let users = &broker.broker.users;
    users.add_user("u", "p", vec![]);
    users.set_permission("u", "/", Permission::new(configure, write, read).unwrap());
    let conn = connect_as(&broker, "u", "p").await;
    let ch = within(conn.create_channel()).await.unwrap();
    (broker, conn, ch)
}

async fn connect_as(broker: &TestBroker, user: &str, pass: &str) -> Connection {
    let uri = format!("amqp://{user}:{pass}@{}/%2f", broker.addr);
    within(Connection::connect(
        &uri,
        lapin::ConnectionProperties::default(),
    ))
    .await
    .expect("connects")
}

#[track_caller]
fn refused(err: &(u16, String), kind: &str, name: &str) {
    assert_reply(
        err,
        403,
        &format!("ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user 'u'"),
    );
}

#[tokio::test]
async fn queue_declare_needs_configure() {
    let (_b, _c, ch) = setup("^mine", ".*", ".*").await;
    declare_queue(&ch, "mine.1").await;
    let err = expect_amqp_err(ch.queue_declare(
        "other".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "queue", "other");
}

#[tokio::test]
async fn passive_queue_declare_needs_no_permission() {
    let (_b, _c, ch) = setup("", "", "").await;
    let q = within(ch.queue_declare(
        "q".into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(q.name().as_str(), "q");
}

#[tokio::test]
async fn queue_delete_needs_configure() {
    let (_b, _c, ch) = setup("^mine", ".*", ".*").await;
    let err = expect_amqp_err(ch.queue_delete("q".into(), QueueDeleteOptions::default())).await;
    refused(&err, "queue", "q");
}

#[tokio::test]
async fn exchange_declare_needs_configure() {
    let (_b, _c, ch) = setup("^mine", ".*", ".*").await;
    declare_exchange(&ch, "mine.x", ExchangeKind::Fanout).await;
    let err = expect_amqp_err(ch.exchange_declare(
        "other.x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "exchange", "other.x");
}

#[tokio::test]
async fn exchange_delete_needs_configure() {
    let (_b, _c, ch) = setup("^mine", ".*", ".*").await;
    let err =
        expect_amqp_err(ch.exchange_delete("x".into(), ExchangeDeleteOptions::default())).await;
    refused(&err, "exchange", "x");
}

#[tokio::test]
async fn publish_needs_write_on_the_exchange() {
    let (b, _c, ch) = setup(".*", "^amq\\.topic$", ".*").await;
    let mut watcher = watch_channel(&ch).await;
    within(ch.basic_publish(
        "x".into(),
        "k".into(),
        BasicPublishOptions::default(),
        b"hello",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let err = closed_with(&mut watcher).await;
    refused(&err, "exchange", "x");
    assert_eq!(queue(&b, "q").message_count(), 0);
}

#[tokio::test]
async fn default_exchange_is_checked_as_amq_default() {
    // rabbit_access_control checks the default exchange as "amq.default", so an
    // empty write pattern ("^$") refuses it (recorded from RabbitMQ 3.10.8 in
    // tests/golden: access-empty-write-pattern-default-exchange).
    let (b, _c, ch) = setup(".*", "", ".*").await;
    let mut watcher = watch_channel(&ch).await;
    publish(&ch, "", "q", b"via default").await;
    let err = closed_with(&mut watcher).await;
    refused(&err, "exchange", "amq.default");
    assert_eq!(queue(&b, "q").message_count(), 0);

    let (b, _c, ch) = setup(".*", "^amq\\.default$", ".*").await;
    publish(&ch, "", "q", b"via default").await;
    let ch2 = within(_c.create_channel()).await.unwrap();
    assert_eq!(
        get_body(&ch2, "q").await.as_deref(),
        Some(&b"via default"[..])
    );
    assert_eq!(queue(&b, "q").message_count(), 0);
}

#[tokio::test]
async fn queue_bind_needs_write_on_the_queue() {
    let (_b, _c, ch) = setup(".*", "^nothing$", ".*").await;
    let err = expect_amqp_err(ch.queue_bind(
        "q".into(),
        "x".into(),
        "k2".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "queue", "q");
}

#[tokio::test]
async fn queue_bind_needs_read_on_the_exchange() {
    let (_b, _c, ch) = setup(".*", ".*", "^q$").await;
    let err = expect_amqp_err(ch.queue_bind(
        "q".into(),
        "x".into(),
        "k2".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "exchange", "x");
}

#[tokio::test]
async fn consume_needs_read() {
    let (_b, _c, ch) = setup(".*", ".*", "^other$").await;
    let err = expect_amqp_err(ch.basic_consume(
        "q".into(),
        "c".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "queue", "q");
}

#[tokio::test]
async fn get_needs_read() {
    let (_b, _c, ch) = setup(".*", ".*", "^other$").await;
    let err = expect_amqp_err(ch.basic_get("q".into(), BasicGetOptions::default())).await;
    refused(&err, "queue", "q");
}

#[tokio::test]
async fn purge_needs_read() {
    let (_b, _c, ch) = setup(".*", ".*", "^other$").await;
    let err = expect_amqp_err(ch.queue_purge("q".into(), QueuePurgeOptions::default())).await;
    refused(&err, "queue", "q");
}

#[tokio::test]
async fn exchange_bind_needs_write_on_destination_and_read_on_source() {
    let (_b, _c, ch) = setup(".*", "^t$", "^x$").await;
    within(ch.exchange_bind(
        "t".into(),
        "x".into(),
        "k".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let err = expect_amqp_err(ch.exchange_bind(
        "x".into(),
        "t".into(),
        "k".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    refused(&err, "exchange", "x");
}

#[tokio::test]
async fn topic_permission_checks_publish_routing_keys() {
    let (b, _c, ch) = setup(".*", ".*", ".*").await;
    b.broker.users.set_topic_permission(
        "u",
        "/",
        TopicPermission {
            exchange: "t".into(),
            write: "^{username}\\.".into(),
            read: ".*".into(),
        },
    );
    publish(&ch, "t", "u.allowed", b"ok").await;
    let mut watcher = watch_channel(&ch).await;
    within(ch.basic_publish(
        "t".into(),
        "v.denied".into(),
        BasicPublishOptions::default(),
        b"no",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let err = closed_with(&mut watcher).await;
    assert_reply(
        &err,
        403,
        "access to topic 'v.denied' in exchange 't' in vhost '/' refused for user 'u'",
    );
}

#[tokio::test]
async fn topic_permission_checks_binding_keys() {
    let (b, _c, ch) = setup(".*", ".*", ".*").await;
    b.broker.users.set_topic_permission(
        "u",
        "/",
        TopicPermission {
            exchange: "t".into(),
            write: ".*".into(),
            read: "^public\\.".into(),
        },
    );
    bind(&ch, "q", "t", "public.#").await;
    let err = expect_amqp_err(ch.queue_bind(
        "q".into(),
        "t".into(),
        "secret.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(
        &err,
        403,
        "access to topic 'secret.#' in exchange 't' in vhost '/' refused for user 'u'",
    );
}

#[tokio::test]
async fn no_permission_in_the_vhost_refuses_the_connection() {
    let broker = TestBroker::start().await;
    broker.broker.users.add_user("nobody", "p", vec![]);
    let uri = format!("amqp://nobody:p@{}/%2f", broker.addr);
    let err = within(Connection::connect(
        &uri,
        lapin::ConnectionProperties::default(),
    ))
    .await
    .expect_err("refused");
    assert_reply(
        &amqp_error(&err),
        530,
        "access to vhost '/' refused for user 'nobody'",
    );
}

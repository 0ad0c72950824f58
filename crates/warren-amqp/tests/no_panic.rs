//! Error replies that embed client-supplied names (a queue, an exchange, a
//! consumer tag, a mechanism, a vhost) can be longer than the 255 bytes of a
//! short string. The broker must still answer with a proper channel.close or
//! connection.close carrying RabbitMQ's reply code and the text truncated as
//! RabbitMQ truncates it (252 bytes and "..."; on a character boundary), and
//! keep serving everyone else. Before, building such a text panicked the
//! connection task: no close was sent and the task's cleanup never ran.

mod common;
mod raw;

use common::TestBroker;
use raw::{queue_declare, CloseInfo, RawClient, Tune, HEADER};
use warren_codec::spec::{basic, exchange, queue};
use warren_codec::{AMQPClass, AMQPValue, FieldTable};
use warren_core::auth::Permission;

/// RabbitMQ's truncation of an ASCII reply text: the first 252 bytes and "...".
fn truncated(full: &str) -> String {
    assert!(full.len() > 255, "the text must need truncating");
    format!("{}...", &full[..252])
}

#[track_caller]
fn assert_close(close: &CloseInfo, code: u16, ids: (u16, u16), text: &str) {
    assert_eq!(
        (close.code, (close.class_id, close.method_id)),
        (code, ids),
        "{close:?}"
    );
    assert_eq!(close.text, text);
    assert!(close.text.len() <= 255);
}

/// A fresh client can still open a connection, declare and delete a queue.
async fn still_serving(broker: &TestBroker) {
    let mut c = RawClient::open(broker).await;
    c.open_channel(1).await;
    c.send(&queue_declare(1, "still-serving", false)).await;
    match c.method().await {
        (1, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))) => {}
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

/// The channel survives its neighbour's error: `ch` can declare again.
async fn channel_works(c: &mut RawClient, ch: u16) {
    c.open_channel(ch).await;
    c.send(&queue_declare(ch, "", false)).await;
    match c.method().await {
        (got, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))) if got == ch => {}
        other => panic!("expected queue.declare-ok on {ch}, got {other:?}"),
    }
}

fn consume(queue: &str, tag: &str, arguments: FieldTable) -> AMQPClass {
    AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
        queue: queue.into(),
        consumer_tag: tag.into(),
        no_local: false,
        no_ack: false,
        exclusive: false,
        nowait: false,
        arguments,
    }))
}

#[tokio::test]
async fn passive_declare_of_a_missing_240_byte_queue_is_a_truncated_404() {
    let broker = TestBroker::start().await;
    let mut bystander = RawClient::open(&broker).await;
    bystander.open_channel(1).await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    let name = "q".repeat(240);
    c.send(&queue_declare(1, &name, true)).await;
    let close = c.expect_channel_close(1).await;
    // What RabbitMQ 3.10.8 answers, byte for byte.
    let full = format!("NOT_FOUND - no queue '{name}' in vhost '/'");
    assert_close(&close, 404, (50, 10), &truncated(&full));
    c.send(&raw::channel_close_ok(1)).await;
    channel_works(&mut c, 2).await;
    channel_works(&mut bystander, 2).await;
    still_serving(&broker).await;
    drop((c, bystander));
    broker.shutdown().await;
}

#[tokio::test]
async fn truncation_of_a_multi_byte_name_never_splits_a_character() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    // "NOT_FOUND - no queue 'a" is 23 bytes, then two-byte characters: byte
    // 252 falls inside one. RabbitMQ cuts it in two (invalid UTF-8); Warren
    // cuts before it.
    for (ch, name) in [(1, format!("a{}", "é".repeat(120))), (2, "é".repeat(120))] {
        c.open_channel(ch).await;
        c.send(&queue_declare(ch, &name, true)).await;
        let close = c.expect_channel_close(ch).await;
        let full = format!("NOT_FOUND - no queue '{name}' in vhost '/'");
        let mut cut = 252;
        while !full.is_char_boundary(cut) {
            cut -= 1;
        }
        assert_close(&close, 404, (50, 10), &format!("{}...", &full[..cut]));
        c.send(&raw::channel_close_ok(ch)).await;
    }
    channel_works(&mut c, 3).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn passive_declare_of_a_missing_long_exchange_is_a_truncated_404() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    let name = "x".repeat(250);
    c.send_method(
        1,
        AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
            exchange: name.as_str().into(),
            kind: "direct".into(),
            passive: true,
            durable: false,
            auto_delete: false,
            internal: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await;
    let close = c.expect_channel_close(1).await;
    let full = format!("NOT_FOUND - no exchange '{name}' in vhost '/'");
    assert_close(&close, 404, (40, 10), &truncated(&full));
    c.send(&raw::channel_close_ok(1)).await;
    channel_works(&mut c, 2).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn reusing_a_250_byte_consumer_tag_is_a_truncated_530() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&queue_declare(1, "tagged", false)).await;
    c.method().await;
    let tag = "t".repeat(250);
    c.send_method(1, consume("tagged", &tag, FieldTable::default()))
        .await;
    match c.method().await {
        (1, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok))) => {
            assert_eq!(ok.consumer_tag.as_str(), tag)
        }
        other => panic!("expected basic.consume-ok, got {other:?}"),
    }
    c.send_method(1, consume("tagged", &tag, FieldTable::default()))
        .await;
    let close = c.expect_connection_close().await;
    let full = format!("NOT_ALLOWED - attempt to reuse consumer tag '{tag}'");
    assert_close(&close, 530, (60, 20), &truncated(&full));
    c.finish_close().await;
    // The closed connection's consumer is gone: the queue can be deleted
    // if-unused by someone else.
    let vhost = broker.broker.vhost("/").unwrap();
    common::eventually(|| vhost.queue("tagged").unwrap().consumer_count() == 0).await;
    still_serving(&broker).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn consuming_from_a_missing_queue_with_long_names_is_a_truncated_404() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    let name = "m".repeat(250);
    c.send_method(1, consume(&name, &"t".repeat(250), FieldTable::default()))
        .await;
    let close = c.expect_channel_close(1).await;
    let full = format!("NOT_FOUND - no queue '{name}' in vhost '/'");
    assert_close(&close, 404, (60, 20), &truncated(&full));
    c.send(&raw::channel_close_ok(1)).await;
    channel_works(&mut c, 2).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn an_invalid_priority_on_a_long_queue_name_is_a_truncated_406() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    let queue = "p".repeat(240);
    c.send(&queue_declare(1, &queue, false)).await;
    c.method().await;
    let mut args = FieldTable::default();
    args.insert("x-priority".into(), AMQPValue::LongString("high".into()));
    c.send_method(1, consume(&queue, "tag", args)).await;
    let close = c.expect_channel_close(1).await;
    assert_eq!((close.code, close.class_id, close.method_id), (406, 60, 20));
    assert_eq!(close.text.len(), 255, "{close:?}");
    assert!(
        close
            .text
            .starts_with("PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'ppp")
            && close.text.ends_with("ppp..."),
        "{close:?}"
    );
    c.send(&raw::channel_close_ok(1)).await;
    channel_works(&mut c, 2).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn another_connections_exclusive_queue_with_a_long_name_is_a_truncated_405() {
    // RabbitMQ's RESOURCE_LOCKED text is long by itself: any name over about
    // 40 bytes made it overflow.
    let broker = TestBroker::start().await;
    let mut owner = RawClient::open(&broker).await;
    owner.open_channel(1).await;
    let name = "exclusive-queue-with-a-name-of-sixty-bytes-for-this-test-ok";
    owner
        .send_method(
            1,
            AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: name.into(),
                passive: false,
                durable: false,
                exclusive: true,
                auto_delete: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        )
        .await;
    owner.method().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&queue_declare(1, name, true)).await;
    let close = c.expect_channel_close(1).await;
    let full = format!(
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost '/'. \
         It could be originally declared on another connection or the exclusive property value \
         does not match that of the original declaration."
    );
    assert_close(&close, 405, (50, 10), &truncated(&full));
    c.send(&raw::channel_close_ok(1)).await;
    channel_works(&mut c, 2).await;
    channel_works(&mut owner, 2).await;
    drop((c, owner));
    broker.shutdown().await;
}

#[tokio::test]
async fn declaring_a_long_queue_name_without_permission_is_a_truncated_403() {
    let broker = TestBroker::start().await;
    let users = &broker.broker.users;
    users.add_user("limited", "secret", vec![]);
    users.set_permission("limited", "/", Permission::new("^$", ".*", ".*").unwrap());
    let mut c = RawClient::connect(&broker).await;
    c.send(HEADER).await;
    c.expect_start().await;
    c.send_start_ok("PLAIN", b"\0limited\0secret").await;
    c.expect_tune().await;
    c.send_tune_ok(Tune::default()).await;
    c.send_open("/").await;
    c.expect_open_ok().await;
    c.open_channel(1).await;
    let name = "r".repeat(250);
    c.send(&queue_declare(1, &name, false)).await;
    let close = c.expect_channel_close(1).await;
    let full = format!(
        "ACCESS_REFUSED - access to queue '{name}' in vhost '/' refused for user 'limited'"
    );
    assert_close(&close, 403, (50, 10), &truncated(&full));
    c.send(&raw::channel_close_ok(1)).await;
    still_serving(&broker).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn an_unknown_210_byte_auth_mechanism_is_a_truncated_503_before_login() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(&broker).await;
    c.send(HEADER).await;
    c.expect_start().await;
    let mechanism = "M".repeat(210);
    c.send_start_ok(&mechanism, b"\0guest\0guest").await;
    let close = c.expect_connection_close().await;
    // RabbitMQ closes the socket without a word after 3 s here; Warren says
    // why (docs/compatibility.md).
    let full = format!("COMMAND_INVALID - unknown authentication mechanism '{mechanism}'");
    assert_close(&close, 503, (0, 0), &truncated(&full));
    c.finish_close().await;
    still_serving(&broker).await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn opening_a_250_byte_vhost_is_a_truncated_530() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::tuned(&broker, Tune::default()).await;
    let vhost = "v".repeat(250);
    c.send_open(&vhost).await;
    let close = c.expect_connection_close().await;
    assert_eq!((close.code, close.class_id, close.method_id), (530, 10, 40));
    assert_eq!(close.text.len(), 255, "{close:?}");
    assert!(
        close.text.starts_with("NOT_ALLOWED - ") && close.text.ends_with("vvv..."),
        "{close:?}"
    );
    c.finish_close().await;
    still_serving(&broker).await;
    drop(c);
    broker.shutdown().await;
}

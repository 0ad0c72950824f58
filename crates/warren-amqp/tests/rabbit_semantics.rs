//! Behaviours measured on RabbitMQ 3.10.8 that clients depend on: the close
//! handshake (the socket stays open after close-ok until the client closes
//! it), connection.update-secret, idempotent unbinds and the x-queue-type
//! declare rules. Raw sockets, so the exact replies and the moment the socket
//! closes are visible.

mod common;
mod raw;

use std::time::Duration;

use common::TestBroker;
use raw::{body, content_header, frame, method_frame, publish, queue_declare, RawClient, Tune};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use warren_codec::spec::{connection, exchange, queue};
use warren_codec::{AMQPClass, AMQPValue, FieldTable, LongString};
use warren_core::auth::Permission;

/// How long a socket must stay open to count as "not closed by the broker".
const STAYS_OPEN: Duration = Duration::from_millis(400);

fn connection_close() -> Vec<u8> {
    method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        })),
    )
}

async fn expect_close_ok(c: &mut RawClient) {
    match c.method().await {
        (0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {}
        other => panic!("expected connection.close-ok, got {other:?}"),
    }
}

/// Asserts the broker neither sends anything nor closes the socket for a while.
async fn expect_still_open(c: &mut RawClient) {
    if let Some(bytes) = c.drain_until_closed(STAYS_OPEN).await {
        panic!(
            "broker closed the socket (after sending {bytes:?}) instead of waiting for the client"
        );
    }
}

/// Ends the client's side and waits for the broker to close its side.
async fn close_our_side(c: &mut RawClient) {
    c.stream.shutdown().await.expect("shut down our side");
    let rest = c
        .drain_until_closed(common::TIMEOUT)
        .await
        .expect("broker closes once the client has");
    assert!(rest.is_empty(), "broker sent {rest:?} after close-ok");
}

fn one_message(queue: &str, text: &[u8]) -> Vec<u8> {
    let mut bytes = publish(1, "", queue, false);
    bytes.extend(content_header(1, text.len() as u64));
    bytes.extend(body(1, text));
    bytes
}

async fn declare(c: &mut RawClient, name: &str) {
    c.send(&queue_declare(1, name, false)).await;
    match c.method().await {
        (1, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))) => {}
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
}

// 1. The close handshake.

#[tokio::test]
async fn after_close_ok_the_socket_stays_open_until_the_client_closes_it() {
    // amqp091-go reports `Exception (501) Reason: "EOF"` to NotifyClose and
    // amqplib gets EPIPE when the broker closes the socket right after
    // close-ok; RabbitMQ keeps reading (and discarding) until the client
    // closes its side.
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    declare(&mut c, "before-close").await;
    expect_ok(
        &mut c,
        queue_declare_with(
            "exclusive-mine",
            (false, true, false),
            FieldTable::default(),
        ),
    )
    .await;
    // One write: publishes, the close, and publishes that follow the close
    // (as when amqplib's close overtakes its buffered publishes).
    let mut burst = Vec::new();
    for i in 0..50u8 {
        burst.extend(one_message("before-close", &[i]));
    }
    burst.extend(connection_close());
    for i in 0..50u8 {
        burst.extend(one_message("before-close", &[i]));
    }
    c.send(&burst).await;
    expect_close_ok(&mut c).await;
    let v = broker.broker.vhost("/").unwrap();
    assert!(
        v.queue("exclusive-mine").is_err(),
        "exclusive queues are deleted before close-ok, as rabbit_reader does"
    );
    expect_still_open(&mut c).await;
    // Still writing after close-ok is not an error for the client.
    c.send(&one_message("before-close", b"late")).await;
    expect_still_open(&mut c).await;
    close_our_side(&mut c).await;
    let queue = v.queue("before-close").unwrap();
    assert_eq!(
        queue.message_count(),
        50,
        "the publishes before the close are routed, those after it dropped"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_closes_is_dropped_after_the_heartbeat_interval() {
    // rabbit_reader closes a closed connection after the heartbeat interval
    // when that is below 30 s; heartbeats go on meanwhile (measured on
    // RabbitMQ 3.10.8 with a 2 s interval: heartbeats at 1 s and 2 s, then the
    // socket is closed).
    let broker = TestBroker::start().await;
    let tune = Tune {
        heartbeat: 1,
        ..Tune::default()
    };
    let mut c = RawClient::open_with(&broker, tune).await;
    c.send(&connection_close()).await;
    expect_close_ok(&mut c).await;
    let closed_at = Instant::now();
    expect_still_open(&mut c).await;
    let rest = c
        .drain_until_closed(Duration::from_secs(5))
        .await
        .expect("the broker gives up on the client after the heartbeat interval");
    let heartbeat = raw::frame(8, 0, b"");
    assert!(
        rest.chunks(heartbeat.len())
            .all(|f| f == heartbeat.as_slice()),
        "only heartbeats after close-ok, got {rest:?}"
    );
    let waited = closed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn after_the_brokers_close_only_close_and_close_ok_count() {
    // rabbit_reader in its closed state: other frames are discarded, the
    // client's own connection.close is answered with close-ok (and the socket
    // stays open), close-ok ends the connection.
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&frame(42, 0, b"")).await;
    c.expect_connection_close()
        .await
        .assert(501, (0, 0), "FRAME_ERROR");
    let mut ignored = raw::channel_open(2);
    ignored.extend(queue_declare(1, "never", false));
    c.send(&ignored).await;
    c.send(&connection_close()).await;
    expect_close_ok(&mut c).await;
    expect_still_open(&mut c).await;
    c.send(&raw::connection_close_ok()).await;
    let rest = c
        .drain_until_closed(common::TIMEOUT)
        .await
        .expect("close-ok ends the connection");
    assert!(rest.is_empty(), "nothing more, got {rest:?}");
    let v = broker.broker.vhost("/").unwrap();
    assert!(v.queue("never").is_err(), "frames after close were ignored");
    broker.shutdown().await;
}

// 2. connection.update-secret.

fn update_secret(secret: &[u8], reason: &str) -> Vec<u8> {
    method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::UpdateSecret(
            connection::UpdateSecret {
                new_secret: LongString::from(secret.to_vec()),
                reason: reason.into(),
            },
        )),
    )
}

#[tokio::test]
async fn update_secret_is_acknowledged_as_with_rabbitmqs_internal_backend() {
    // RabbitMQ 3.10.8 (internal backend) answers update-secret-ok to any new
    // secret, right or wrong, and the connection goes on.
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    for (secret, reason) in [
        (&b"guest"[..], "token refresh"),
        (b"not-the-password", "wrong"),
        (b"", ""),
    ] {
        c.send(&update_secret(secret, reason)).await;
        match c.method().await {
            (0, AMQPClass::Connection(connection::AMQPMethod::UpdateSecretOk(_))) => {}
            other => panic!("expected connection.update-secret-ok, got {other:?}"),
        }
    }
    c.open_channel(1).await;
    declare(&mut c, "after-update-secret").await;
    c.send(&connection_close()).await;
    expect_close_ok(&mut c).await;
    close_our_side(&mut c).await;
    broker.shutdown().await;
}

// 3. Unbinding is idempotent.

fn queue_unbind(q: &str, x: &str, key: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
        queue: q.into(),
        exchange: x.into(),
        routing_key: key.into(),
        arguments: FieldTable::default(),
    }))
}

fn exchange_unbind(destination: &str, source: &str, key: &str) -> AMQPClass {
    AMQPClass::Exchange(exchange::AMQPMethod::Unbind(exchange::Unbind {
        destination: destination.into(),
        source: source.into(),
        routing_key: key.into(),
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

/// Sends `method` on channel 1 and expects its -ok.
async fn expect_ok(c: &mut RawClient, method: AMQPClass) {
    let what = format!("{method:?}");
    c.send_method(1, method).await;
    match c.method().await {
        (1, AMQPClass::Queue(queue::AMQPMethod::UnbindOk(_)))
        | (1, AMQPClass::Queue(queue::AMQPMethod::BindOk(_)))
        | (1, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_)))
        | (1, AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(_)))
        | (1, AMQPClass::Exchange(exchange::AMQPMethod::BindOk(_)))
        | (1, AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(_))) => {}
        other => panic!("{what}: expected its -ok, got {other:?}"),
    }
}

/// Sends `method` on channel 1, expects channel.close with `code` containing
/// `phrase`, and reopens channel 1.
async fn expect_channel_error(c: &mut RawClient, method: AMQPClass, code: u16, phrase: &str) {
    let ids = match &method {
        AMQPClass::Queue(queue::AMQPMethod::Unbind(_)) => (50, 50),
        AMQPClass::Queue(queue::AMQPMethod::Declare(_)) => (50, 10),
        AMQPClass::Exchange(exchange::AMQPMethod::Unbind(_)) => (40, 40),
        other => panic!("no ids for {other:?}"),
    };
    c.send_method(1, method).await;
    c.expect_channel_close(1).await.assert(code, ids, phrase);
    c.send(&raw::channel_close_ok(1)).await;
    c.open_channel(1).await;
}

fn exchange_declare(name: &str) -> AMQPClass {
    AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
        exchange: name.into(),
        kind: "direct".into(),
        passive: false,
        durable: false,
        auto_delete: false,
        internal: false,
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

fn queue_bind(q: &str, x: &str, key: &str) -> AMQPClass {
    AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
        queue: q.into(),
        exchange: x.into(),
        routing_key: key.into(),
        nowait: false,
        arguments: FieldTable::default(),
    }))
}

fn queue_declare_with(name: &str, flags: (bool, bool, bool), arguments: FieldTable) -> AMQPClass {
    let (durable, exclusive, auto_delete) = flags;
    AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
        queue: name.into(),
        passive: false,
        durable,
        exclusive,
        auto_delete,
        nowait: false,
        arguments,
    }))
}

#[tokio::test]
async fn unbinding_what_does_not_exist_is_unbind_ok() {
    // aio-pika's RPC.close() unbinds its auto-deleted reply queue after
    // cancelling the consumer; RabbitMQ answers unbind-ok.
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    expect_ok(&mut c, exchange_declare("ux")).await;
    expect_ok(&mut c, exchange_declare("ux2")).await;
    declare(&mut c, "uq").await;
    expect_ok(&mut c, queue_unbind("no-such-queue", "ux", "k")).await;
    expect_ok(&mut c, queue_unbind("uq", "no-such-exchange", "k")).await;
    expect_ok(
        &mut c,
        queue_unbind("no-such-queue", "no-such-exchange", "k"),
    )
    .await;
    expect_ok(&mut c, queue_unbind("uq", "ux", "never-bound")).await;
    expect_ok(&mut c, exchange_unbind("no-such-exchange", "ux", "k")).await;
    expect_ok(&mut c, exchange_unbind("ux", "no-such-exchange", "k")).await;
    expect_ok(&mut c, exchange_unbind("no-such-1", "no-such-2", "k")).await;
    expect_ok(&mut c, exchange_unbind("ux2", "ux", "never-bound")).await;
    // An existing binding goes, and unbinding it again is fine.
    expect_ok(&mut c, queue_bind("uq", "ux", "k")).await;
    expect_ok(&mut c, queue_unbind("uq", "ux", "k")).await;
    expect_ok(&mut c, queue_unbind("uq", "ux", "k")).await;
    let v = broker.broker.vhost("/").unwrap();
    assert!(!v.exchange("ux").unwrap().has_bindings());
    // Still refused, as RabbitMQ: the default exchange, and no last queue.
    let default = "ACCESS_REFUSED - operation not permitted on the default exchange";
    expect_channel_error(&mut c, queue_unbind("uq", "", "uq"), 403, default).await;
    expect_channel_error(&mut c, queue_unbind("no-such-queue", "", "k"), 403, default).await;
    expect_channel_error(&mut c, exchange_unbind("ux2", "", "k"), 403, default).await;
    expect_channel_error(&mut c, exchange_unbind("", "ux", "k"), 403, default).await;
    expect_channel_error(
        &mut c,
        queue_unbind("", "ux", "k"),
        404,
        "NOT_FOUND - no previously declared queue",
    )
    .await;
    drop(c);
    broker.shutdown().await;
}

#[tokio::test]
async fn unbinding_another_connections_exclusive_queue_is_locked_only_if_bound() {
    let broker = TestBroker::start().await;
    let mut owner = RawClient::open(&broker).await;
    owner.open_channel(1).await;
    expect_ok(&mut owner, exchange_declare("ux")).await;
    expect_ok(
        &mut owner,
        queue_declare_with("exq", (false, true, false), FieldTable::default()),
    )
    .await;
    expect_ok(&mut owner, queue_bind("exq", "ux", "bound")).await;
    let mut other = RawClient::open(&broker).await;
    other.open_channel(1).await;
    expect_ok(&mut other, queue_unbind("exq", "ux", "not-bound")).await;
    expect_channel_error(
        &mut other,
        queue_unbind("exq", "ux", "bound"),
        405,
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'exq' in vhost '/'",
    )
    .await;
    let v = broker.broker.vhost("/").unwrap();
    assert!(v.exchange("ux").unwrap().has_bindings());
    drop((owner, other));
    broker.shutdown().await;
}

#[tokio::test]
async fn unbinding_missing_objects_still_checks_permissions() {
    // RabbitMQ checks write on the destination and read on the source before
    // looking anything up.
    let broker = TestBroker::start().await;
    let users = &broker.broker.users;
    users.add_user("u", "p", vec![]);
    let only_ux = Permission::new(".*", "^ux$", "^ux$").unwrap();
    users.set_permission("u", "/", only_ux);
    let mut c = RawClient::connect(&broker).await;
    c.send(raw::HEADER).await;
    c.expect_start().await;
    c.send_start_ok("PLAIN", b"\0u\0p").await;
    c.expect_tune().await;
    c.send_tune_ok(Tune::default()).await;
    c.send_open("/").await;
    c.expect_open_ok().await;
    c.open_channel(1).await;
    expect_channel_error(
        &mut c,
        queue_unbind("no-such-queue", "ux", "k"),
        403,
        "ACCESS_REFUSED - access to queue 'no-such-queue' in vhost '/' refused for user 'u'",
    )
    .await;
    expect_channel_error(
        &mut c,
        exchange_unbind("no-such-exchange", "ux", "k"),
        403,
        "ACCESS_REFUSED - access to exchange 'no-such-exchange' in vhost '/' refused for user 'u'",
    )
    .await;
    expect_channel_error(
        &mut c,
        exchange_unbind("ux", "no-such-source", "k"),
        403,
        "ACCESS_REFUSED - access to exchange 'no-such-source' in vhost '/' refused for user 'u'",
    )
    .await;
    expect_ok(&mut c, exchange_unbind("ux", "ux", "k")).await;
    drop(c);
    broker.shutdown().await;
}

// 4. x-queue-type.

fn typed(queue_type: &str, more: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from(queue_type.as_bytes().to_vec())),
    );
    for (k, v) in more {
        t.insert((*k).into(), v.clone());
    }
    t
}

#[tokio::test]
async fn quorum_and_stream_declarations_get_rabbitmqs_checks_then_a_clear_refusal() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    let v = broker.broker.vhost("/").unwrap();
    for (t, module) in [
        ("quorum", "rabbit_quorum_queue"),
        ("stream", "rabbit_stream_queue"),
    ] {
        let name = format!("typed-{t}");
        let q =
            |flags, more: &[(&str, AMQPValue)]| queue_declare_with(&name, flags, typed(t, more));
        let property = |p: &str| format!("invalid property '{p}' for queue '{name}' in vhost '/'");
        expect_channel_error(
            &mut c,
            q((false, false, false), &[]),
            406,
            &property("non-durable"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((true, true, false), &[]),
            406,
            &property("exclusive-owner"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((false, true, false), &[]),
            406,
            &property("exclusive-owner"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((true, false, true), &[]),
            406,
            &property("auto-delete"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((true, true, true), &[]),
            406,
            &property("auto-delete"),
        )
        .await;
        expect_channel_error(
            &mut c,
            queue_declare_with("", (true, false, false), typed(t, &[])),
            406,
            &format!("PRECONDITION_FAILED - Cannot declare a server-named queue for type {module}"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((true, false, false), &[("x-max-priority", AMQPValue::LongInt(5))]),
            406,
            &format!("invalid arg 'x-max-priority' for queue '{name}' in vhost '/' of queue type {module}"),
        )
        .await;
        expect_channel_error(
            &mut c,
            q((true, false, false), &[]),
            406,
            &format!("queue type '{t}' is not supported by Warren yet"),
        )
        .await;
        assert!(v.queue(&name).is_err(), "no classic queue in disguise");
    }
    expect_channel_error(
        &mut c,
        queue_declare_with("typed-bogus", (true, false, false), typed("bogus", &[])),
        406,
        "invalid arg 'x-queue-type' for queue 'typed-bogus' in vhost '/': \"unsupported queue type 'bogus'\"",
    )
    .await;
    expect_channel_error(
        &mut c,
        queue_declare_with(
            "typed-classic",
            (false, false, false),
            typed("classic", &[("x-delivery-limit", AMQPValue::LongInt(3))]),
        ),
        406,
        "invalid arg 'x-delivery-limit' for queue 'typed-classic' in vhost '/' of queue type rabbit_classic_queue",
    )
    .await;
    expect_ok(
        &mut c,
        queue_declare_with("typed-classic", (false, true, true), typed("classic", &[])),
    )
    .await;
    // Redeclaring the classic queue as quorum is inequivalent, as RabbitMQ.
    expect_channel_error(
        &mut c,
        queue_declare_with("typed-classic", (false, true, true), typed("quorum", &[])),
        406,
        "inequivalent arg 'x-queue-type' for queue 'typed-classic' in vhost '/': \
         received 'quorum' but current is 'classic'",
    )
    .await;
    // A missing x-queue-type and 'classic' are the same, both ways.
    let plain = |flags| queue_declare_with("typed-classic", flags, FieldTable::default());
    expect_ok(&mut c, plain((false, true, true))).await;
    expect_ok(
        &mut c,
        queue_declare_with("untyped", (false, true, true), FieldTable::default()),
    )
    .await;
    expect_ok(
        &mut c,
        queue_declare_with("untyped", (false, true, true), typed("classic", &[])),
    )
    .await;
    // Only the arguments a type accepts are validated; then foreign ones are refused.
    expect_channel_error(
        &mut c,
        queue_declare_with(
            "typed-stream",
            (true, false, false),
            typed("stream", &[("x-max-length", AMQPValue::LongString(LongString::from(b"abc".to_vec())))]),
        ),
        406,
        "invalid arg 'x-max-length' for queue 'typed-stream' in vhost '/' of queue type rabbit_stream_queue",
    )
    .await;
    drop(c);
    broker.shutdown().await;
}

//! Protocol violations written as raw bytes: the broker must answer each one
//! the way RabbitMQ does (same reply code, same class/method ids, a recognisable
//! text), close only the offending channel or connection, never panic, and
//! never disturb other clients.

mod common;
mod raw;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use common::{eventually, within, TestBroker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use raw::{
    basic_ack, body, channel_close_ok, channel_open, content_header, frame, frame_with_end,
    method_frame, publish, queue_declare, raw_method, RawClient, Tune, HEADER,
};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use warren_amqp::AmqpConfig;
use warren_codec::spec::{channel, connection, queue};
use warren_codec::{AMQPClass, AMQPValue, FrameKind};
use warren_core::BrokerConfig;

/// Waits for queue.declare-ok on `ch` and returns its message count.
async fn expect_declare_ok(c: &mut RawClient, ch: u16) -> u32 {
    match c.method().await {
        (got, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok))) if got == ch => ok.message_count,
        other => panic!("expected queue.declare-ok on {ch}, got {other:?}"),
    }
}

/// A client-initiated connection.close, answered by close-ok; the client then
/// ends its side (the broker waits for that, as RabbitMQ) and the socket closes.
async fn close_cleanly(c: &mut RawClient) {
    c.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        })),
    )
    .await;
    match c.method().await {
        (0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {}
        other => panic!("expected connection.close-ok, got {other:?}"),
    }
    c.stream.shutdown().await.expect("shut down our side");
    c.expect_eof_only().await;
}

/// A lapin connection can still declare, publish and get a message.
async fn lapin_still_works(broker: &TestBroker) {
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
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
    within(ch.basic_publish(
        "".into(),
        q.name().clone(),
        BasicPublishOptions::default(),
        b"still alive",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    let got = within(async {
        loop {
            if let Some(m) = ch
                .basic_get(q.name().clone(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
            {
                return m;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(got.delivery.data, b"still alive");
    within(conn.close(200, "bye".into())).await.unwrap();
}

// 1. Protocol header.

#[tokio::test]
async fn wrong_protocol_header_gets_the_supported_header_and_a_closed_socket() {
    let broker = TestBroker::start().await;
    for header in [
        &b"AMQP\x00\x00\x09\x00"[..], // 0-9-0 (unsupported revision)
        b"AMQP\x00\x00\x0a\x00",      // a future 0-10
        b"HTTP/1.1",
        b"AMQP\x01\x01\x08\x00", // AMQP 0-8
        b"AMQP\x00\x01\x00\x00", // AMQP 1.0
        b"\x00\x00\x00\x00\x00\x00\x00\x00",
    ] {
        let mut c = RawClient::connect(&broker).await;
        c.send(header).await;
        let got = c
            .drain_until_closed(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("socket still open after header {header:?}"));
        assert_eq!(got, HEADER, "reply to header {header:?}");
    }
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn amqp_0_9_header_is_accepted_as_0_9_1_like_rabbitmq() {
    // rabbit_reader: "This is the protocol header for 0-9, which we can safely
    // treat as though it were 0-9-1."
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(&broker).await;
    c.send(b"AMQP\x01\x01\x00\x09").await;
    c.expect_start().await;
    c.send_start_ok("PLAIN", b"\0guest\0guest").await;
    c.expect_tune().await;
    c.send_tune_ok(Tune::default()).await;
    c.send_open("/").await;
    c.expect_open_ok().await;
    c.open_channel(1).await;
    close_cleanly(&mut c).await;
    broker.shutdown().await;
}

// 2-4. Framing errors: connection.close 501, class/method 0.

#[tokio::test]
async fn bad_frame_end_is_a_frame_error() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    let mut bad = channel_open(1);
    *bad.last_mut().unwrap() = 0xAB;
    c.send(&bad).await;
    c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;

    // Also on channel 0 and for an otherwise empty heartbeat frame.
    let mut c = RawClient::open(&broker).await;
    c.send(&frame_with_end(8, 0, b"", 0x00)).await;
    c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn frame_above_negotiated_frame_max_is_a_frame_error() {
    let broker = TestBroker::start().await;
    let tune = Tune {
        frame_max: 4096,
        ..Tune::default()
    };

    // A frame of exactly frame_max (framing included) is fine.
    let mut c = RawClient::open_with(&broker, tune).await;
    c.open_channel(1).await;
    c.send(&queue_declare(1, "frame-max-q", false)).await;
    expect_declare_ok(&mut c, 1).await;
    let fits = vec![b'x'; 4096 - 8];
    c.send(&publish(1, "", "frame-max-q", false)).await;
    c.send(&content_header(1, fits.len() as u64)).await;
    c.send(&body(1, &fits)).await;
    c.send(&queue_declare(1, "frame-max-q", true)).await;
    assert_eq!(expect_declare_ok(&mut c, 1).await, 1);

    // A 10000-byte body frame is not.
    c.send(&publish(1, "", "frame-max-q", false)).await;
    c.send(&content_header(1, 10_000)).await;
    c.send_lossy(&body(1, &[b'y'; 10_000])).await;
    c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn unknown_frame_type_is_a_frame_error() {
    let broker = TestBroker::start().await;
    for (kind, channel) in [(9u8, 0u16), (0, 1), (4, 0), (0xFF, 7)] {
        let mut c = RawClient::open(&broker).await;
        c.open_channel(1).await;
        c.send(&frame(kind, channel, b"\x00\x0a\x00\x0a")).await;
        c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
    }
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

// 5. Unknown class or method.

#[tokio::test]
async fn unknown_class_or_method_is_not_implemented() {
    let broker = TestBroker::start().await;
    for (channel, class_id, method_id) in [
        (1u16, 99u16, 10u16),
        (1, 60, 99),
        (1, 50, 12),
        (0, 10, 99),
        (0, 77, 1),
    ] {
        let mut c = RawClient::open(&broker).await;
        c.open_channel(1).await;
        c.send(&raw_method(channel, class_id, method_id, &[0, 0, 0, 0]))
            .await;
        c.expect_connection_error(540, (class_id, method_id), "NOT_IMPLEMENTED")
            .await;
    }
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

// 6. Content frames out of order: 505, as rabbit_command_assembler reports them.

#[tokio::test]
async fn content_header_without_publish_is_unexpected() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&content_header(1, 3)).await;
    c.expect_connection_error(
        505,
        (0, 0),
        "expected method frame, got non method frame instead",
    )
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn body_without_header_is_unexpected() {
    let broker = TestBroker::start().await;
    // No publish at all.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&body(1, b"abc")).await;
    c.expect_connection_error(
        505,
        (0, 0),
        "expected method frame, got non method frame instead",
    )
    .await;
    // A publish, then a body where the header belongs.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", false)).await;
    c.send(&body(1, b"abc")).await;
    c.expect_connection_error(505, (60, 40), "expected content header for class 60")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn method_in_the_middle_of_content_is_unexpected() {
    let broker = TestBroker::start().await;
    // Between the header and the body.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", false)).await;
    c.send(&content_header(1, 10)).await;
    c.send(&body(1, b"12345")).await;
    c.send(&queue_declare(1, "q", false)).await;
    c.expect_connection_error(
        505,
        (60, 40),
        "expected content body, got non content body frame instead",
    )
    .await;
    // Between the publish and the header.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", false)).await;
    c.send(&queue_declare(1, "q", false)).await;
    c.expect_connection_error(
        505,
        (60, 40),
        "expected content header for class 60, got non content header frame instead",
    )
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn other_content_frame_violations() {
    let broker = TestBroker::start().await;
    // Content header on channel 0.
    let mut c = RawClient::open(&broker).await;
    c.send(&content_header(0, 1)).await;
    c.expect_connection_error(505, (0, 0), "UNEXPECTED_FRAME")
        .await;
    // Content on a channel that was never opened.
    let mut c = RawClient::open(&broker).await;
    c.send(&content_header(3, 1)).await;
    c.expect_connection_error(505, (0, 0), "expected method frame")
        .await;
    // A header of another class.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", false)).await;
    c.send(&frame(2, 1, &[0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]))
        .await;
    c.expect_connection_error(505, (60, 40), "expected content header for class 60")
        .await;
    // More body than the header announced: RabbitMQ calls that a frame error.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", false)).await;
    c.send(&content_header(1, 4)).await;
    c.send(&body(1, b"123456")).await;
    c.expect_connection_error(
        501,
        (60, 40),
        "content body frame exceeds remaining content size",
    )
    .await;
    // A heartbeat frame belongs on channel 0 only.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&frame(8, 1, b"")).await;
    c.expect_connection_error(505, (0, 0), "UNEXPECTED_FRAME")
        .await;
    let mut c = RawClient::open(&broker).await;
    c.send(&frame(8, 9, b"")).await;
    c.expect_connection_error(505, (0, 0), "UNEXPECTED_FRAME")
        .await;
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

// 7-8. Channel numbers.

#[tokio::test]
async fn method_on_a_channel_that_is_not_open_is_a_channel_error() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.send(&queue_declare(5, "q", false)).await;
    c.expect_connection_error(504, (50, 10), "expected 'channel.open'")
        .await;
    // Also after the channel was closed by the client.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(2).await;
    c.send_method(
        2,
        AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        })),
    )
    .await;
    match c.method().await {
        (2, AMQPClass::Channel(channel::AMQPMethod::CloseOk(_))) => {}
        other => panic!("expected channel.close-ok, got {other:?}"),
    }
    c.send(&queue_declare(2, "q", false)).await;
    c.expect_connection_error(504, (50, 10), "expected 'channel.open'")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn channel_open_twice_is_a_channel_error() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&channel_open(1)).await;
    c.expect_connection_error(504, (20, 10), "second 'channel.open' seen")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn channel_number_above_channel_max_is_not_allowed() {
    let broker = TestBroker::start().await;
    let tune = Tune {
        channel_max: 10,
        ..Tune::default()
    };
    let mut c = RawClient::open_with(&broker, tune).await;
    c.open_channel(10).await;
    c.send(&channel_open(11)).await;
    c.expect_connection_error(530, (20, 10), "channel_max")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn non_connection_method_on_channel_0_is_a_channel_error() {
    // rabbit_reader:handle_method0/2: "unexpected method in connection state running".
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.send(&queue_declare(0, "q", false)).await;
    c.expect_connection_error(
        504,
        (50, 10),
        "unexpected method in connection state running",
    )
    .await;
    let mut c = RawClient::open(&broker).await;
    c.send(&publish(0, "", "q", false)).await;
    c.expect_connection_error(
        504,
        (60, 40),
        "unexpected method in connection state running",
    )
    .await;
    // A second connection.open once the connection is running.
    let mut c = RawClient::open(&broker).await;
    c.send_open("/").await;
    c.expect_connection_error(
        504,
        (10, 40),
        "unexpected method in connection state running",
    )
    .await;
    broker.shutdown().await;
}

// 9. Undecodable method arguments: RabbitMQ's generated decoder falls back to
// rabbit_misc:frame_error/2, i.e. 501 "cannot decode", with the method's ids.

#[tokio::test]
async fn malformed_method_arguments_are_a_frame_error() {
    let broker = TestBroker::start().await;
    let cases: [(u16, u16, &[u8]); 5] = [
        // queue.declare: the queue name claims 200 octets, 3 follow.
        (50, 10, &[0, 0, 200, b'a', b'b', b'c']),
        // queue.declare without its flags and arguments table.
        (50, 10, &[0, 0, 1, b'q']),
        // basic.publish (decoded on the fast path), routing key cut short.
        (60, 40, &[0, 0, 0, 9, b'r']),
        // basic.ack with a 4-octet delivery tag.
        (60, 80, &[0, 0, 0, 1]),
        // exchange.declare whose arguments table is longer than the frame.
        (
            40,
            10,
            &[
                0, 0, 1, b'e', 6, b'd', b'i', b'r', b'e', b'c', b't', 0, 0, 0, 0, 99,
            ],
        ),
    ];
    for (class_id, method_id, args) in cases {
        let mut c = RawClient::open(&broker).await;
        c.open_channel(1).await;
        c.send(&raw_method(1, class_id, method_id, args)).await;
        let close = c
            .expect_connection_error(501, (class_id, method_id), "FRAME_ERROR")
            .await;
        assert!(close.text.contains("cannot decode"), "{close:?}");
    }
    // A method frame too short to hold class and method ids.
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&frame(1, 1, &[0, 50])).await;
    c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
    lapin_still_works(&broker).await;
    broker.shutdown().await;
}

// 10. Handshake refusals.

#[tokio::test]
async fn wrong_password_is_access_refused() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(&broker).await;
    c.send(HEADER).await;
    c.expect_start().await;
    c.send_start_ok("PLAIN", b"\0guest\0not-the-password").await;
    c.expect_connection_error(
        403,
        (0, 0),
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
    )
    .await;
    // Unknown user: the same answer (no user enumeration).
    let mut c = RawClient::connect(&broker).await;
    c.send(HEADER).await;
    c.expect_start().await;
    c.send_start_ok("PLAIN", b"\0nobody\0guest").await;
    c.expect_connection_error(403, (0, 0), "Login was refused")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn unknown_mechanism_closes_the_connection() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(&broker).await;
    c.send(HEADER).await;
    c.expect_start().await;
    c.send_start_ok("NOT-A-MECHANISM", b"\0guest\0guest").await;
    // RabbitMQ raises 503 COMMAND_INVALID "unknown authentication mechanism"
    // (and, this early in the handshake, closes the socket without a close
    // frame); a connection.close, if sent, must say exactly that. Never a tune.
    let start = Instant::now();
    match c.frame().await {
        None => {}
        Some(f) => {
            assert_eq!(f.kind, FrameKind::Method, "{f:?}");
            match raw::parse_method(&f.payload) {
                AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                    assert_eq!(close.reply_code, 503, "{close:?}");
                    assert!(
                        close
                            .reply_text
                            .as_str()
                            .contains("unknown authentication mechanism 'NOT-A-MECHANISM'"),
                        "{close:?}"
                    );
                    c.finish_close().await;
                }
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    broker.shutdown().await;
}

#[tokio::test]
async fn missing_vhost_is_not_allowed() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::tuned(&broker, Tune::default()).await;
    c.send_open("no-such-vhost").await;
    // RabbitMQ tags the error with the method that failed: connection.open,
    // and tells a missing vhost from a refused one (3.10.8: "vhost X not found").
    c.expect_connection_error(530, (10, 40), "NOT_ALLOWED - vhost no-such-vhost not found")
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn frame_max_out_of_bounds_is_not_allowed() {
    let broker = TestBroker::start().await;
    for (frame_max, phrase) in [
        (
            100,
            "negotiated frame_max = 100 is lower than the minimum allowed value (4096)",
        ),
        (
            1 << 20,
            "negotiated frame_max = 1048576 is higher than the maximum allowed value (131072)",
        ),
    ] {
        let mut c = RawClient::connect(&broker).await;
        c.send(HEADER).await;
        c.expect_start().await;
        c.send_start_ok("PLAIN", b"\0guest\0guest").await;
        c.expect_tune().await;
        c.send_tune_ok(Tune {
            frame_max,
            ..Tune::default()
        })
        .await;
        c.send_open("/").await;
        // RabbitMQ tags the error with connection.tune.
        c.expect_connection_error(530, (10, 30), phrase).await;
    }
    broker.shutdown().await;
}

// 11. Handshake timeout.

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    let broker = TestBroker::start_amqp(AmqpConfig {
        handshake_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // Nothing at all.
    let start = Instant::now();
    let mut silent = RawClient::connect(&broker).await;
    // Stalls after the protocol header.
    let mut stalled = RawClient::connect(&broker).await;
    stalled.send(HEADER).await;
    stalled.expect_start().await;

    let got = silent
        .drain_until_closed(Duration::from_secs(3))
        .await
        .expect("silent client still connected 3 s after a 300 ms handshake timeout");
    assert!(got.is_empty(), "broker wrote {got:?} to a silent client");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the handshake timeout",
        start.elapsed()
    );
    stalled
        .drain_until_closed(Duration::from_secs(3))
        .await
        .expect("stalled client still connected 3 s after a 300 ms handshake timeout");
    // A client that completes the handshake in time is not affected.
    let mut ok = RawClient::open(&broker).await;
    ok.open_channel(1).await;
    close_cleanly(&mut ok).await;
    broker.shutdown().await;
}

// 12. Heartbeats.

#[tokio::test]
async fn heartbeats_are_sent_and_a_silent_peer_is_dropped() {
    let broker = TestBroker::start().await;
    let tune = Tune {
        heartbeat: 1,
        ..Tune::default()
    };
    let mut silent = RawClient::open_with(&broker, tune).await;
    let opened = Instant::now();
    let mut chatty = RawClient::open_with(&broker, tune).await;

    // The chatty client answers with a heartbeat for every one it gets.
    let chatty_task = tokio::spawn(async move {
        let until = Instant::now() + Duration::from_millis(2500);
        let mut heartbeats = 0;
        while Instant::now() < until {
            let f = chatty
                .frame()
                .await
                .expect("chatty client was disconnected");
            assert_eq!(
                (f.kind, f.channel, f.payload.len()),
                (FrameKind::Heartbeat, 0, 0)
            );
            heartbeats += 1;
            chatty.send(&frame(8, 0, b"")).await;
        }
        chatty.open_channel(1).await;
        close_cleanly(&mut chatty).await;
        heartbeats
    });

    let mut heartbeats = 0;
    let closed_after = within(async {
        while let Some(f) = silent.frame().await {
            assert_eq!(
                (f.kind, f.channel, f.payload.len()),
                (FrameKind::Heartbeat, 0, 0),
                "{f:?}"
            );
            heartbeats += 1;
        }
        opened.elapsed()
    })
    .await;
    assert!(heartbeats >= 1, "no heartbeat received before the close");
    assert!(
        closed_after >= Duration::from_millis(1500),
        "silent peer dropped after {closed_after:?}, before two missed heartbeats"
    );
    assert!(
        closed_after <= Duration::from_secs(4),
        "silent peer dropped only after {closed_after:?}"
    );
    let chatty_heartbeats = within(chatty_task).await.unwrap();
    assert!(chatty_heartbeats >= 3, "{chatty_heartbeats}");
    broker.shutdown().await;
}

// 13. Channel-level errors close only the channel.

#[tokio::test]
async fn channel_errors_close_only_that_channel() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.open_channel(2).await;

    // basic.ack of a tag never delivered: 406 on channel 1 only.
    c.send(&basic_ack(1, 99)).await;
    c.send(&queue_declare(2, "survivor", false)).await;
    c.expect_channel_close(1).await.assert(
        406,
        (60, 80),
        "PRECONDITION_FAILED - unknown delivery tag 99",
    );
    assert_eq!(expect_declare_ok(&mut c, 2).await, 0);

    // Until close-ok, the closing channel ignores everything else.
    c.send(&queue_declare(1, "ignored", false)).await;
    c.send(&channel_close_ok(1)).await;
    c.send(&queue_declare(2, "survivor", true)).await;
    expect_declare_ok(&mut c, 2).await;
    assert!(broker.broker.vhost("/").unwrap().queue("ignored").is_err());

    // The channel number can be opened again and fails independently again.
    c.open_channel(1).await;
    c.send(&queue_declare(1, "missing", true)).await;
    c.expect_channel_close(1).await.assert(
        404,
        (50, 10),
        "NOT_FOUND - no queue 'missing' in vhost '/'",
    );
    c.send(&channel_close_ok(1)).await;
    c.open_channel(1).await;
    c.send(&queue_declare(1, "survivor", true)).await;
    expect_declare_ok(&mut c, 1).await;
    c.send(&queue_declare(2, "survivor", true)).await;
    expect_declare_ok(&mut c, 2).await;
    close_cleanly(&mut c).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn frames_sent_just_before_a_half_close_are_still_processed() {
    // A client that publishes and then shuts down its sending side (no
    // connection.close): RabbitMQ's reader handles every byte it received
    // before the FIN, so the messages are routed.
    let broker = TestBroker::start().await;
    for round in 0..20 {
        let mut c = RawClient::open(&broker).await;
        c.open_channel(1).await;
        c.send(&queue_declare(1, "half-closed", false)).await;
        expect_declare_ok(&mut c, 1).await;
        let mut burst = publish(1, "", "half-closed", false);
        burst.extend(content_header(1, 2));
        burst.extend(body(1, b"hi"));
        c.send(&burst).await;
        c.stream.shutdown().await.unwrap();
        c.drain_until_closed(Duration::from_secs(5))
            .await
            .expect("broker closes after the client's FIN");
        let queue = broker
            .broker
            .vhost("/")
            .unwrap()
            .queue("half-closed")
            .unwrap();
        assert_eq!(queue.message_count(), round + 1, "round {round}");
    }
    broker.shutdown().await;
}

// 14. Isolation.

/// One misbehaving connection; returns once the broker has dealt with it.
async fn misbehave(broker: &TestBroker, round: usize) {
    match round % 7 {
        0 => {
            let mut c = RawClient::connect(broker).await;
            c.send(b"GET / HTTP/1.1\r\n").await;
            c.drain_until_closed(Duration::from_secs(5))
                .await
                .expect("closed after a bad header");
        }
        1 => {
            let mut c = RawClient::open(broker).await;
            c.send(&frame_with_end(1, 0, b"\x00\x0a\x00\x33", 0x00))
                .await;
            c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
        }
        2 => {
            let mut c = RawClient::open(broker).await;
            c.send(&frame(42, 0, b"")).await;
            c.expect_connection_error(501, (0, 0), "FRAME_ERROR").await;
        }
        3 => {
            let mut c = RawClient::open(broker).await;
            c.open_channel(1).await;
            c.send(&content_header(1, 1)).await;
            c.expect_connection_error(505, (0, 0), "UNEXPECTED_FRAME")
                .await;
        }
        4 => {
            let mut c = RawClient::open(broker).await;
            c.open_channel(1).await;
            c.send(&raw_method(1, 50, 10, &[0, 0, 250])).await;
            c.expect_connection_error(501, (50, 10), "FRAME_ERROR")
                .await;
        }
        5 => {
            let mut c = RawClient::open(broker).await;
            c.open_channel(1).await;
            c.send(&basic_ack(1, 7)).await;
            c.expect_channel_close(1)
                .await
                .assert(406, (60, 80), "unknown delivery tag 7");
            c.send(&channel_close_ok(1)).await;
            close_cleanly(&mut c).await;
        }
        _ => {
            // Random bytes after a good handshake, then a half-close.
            let mut c = RawClient::open(broker).await;
            let mut rng = Rng(round as u64 * 7919 + 1);
            let junk = rng.some_bytes(300);
            c.send_lossy(&junk).await;
            let _ = c.stream.shutdown().await;
            c.drain_until_closed(Duration::from_secs(5))
                .await
                .expect("closed after junk and a half-close");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_one_connection_does_not_disturb_others() {
    let broker = Arc::new(TestBroker::start().await);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (broker, stop, rounds) = (broker.clone(), stop.clone(), rounds.clone());
        workers.push(tokio::spawn(async move {
            let mut round = w;
            while !stop.load(Ordering::Relaxed) {
                misbehave(&broker, round).await;
                rounds.fetch_add(1, Ordering::Relaxed);
                round += 3;
            }
        }));
    }

    let consumer_conn = broker.lapin().await;
    let publisher_conn = broker.lapin().await;
    let cch = within(consumer_conn.create_channel()).await.unwrap();
    let pch = within(publisher_conn.create_channel()).await.unwrap();
    within(cch.queue_declare(
        "isolation".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut consumer = within(cch.basic_consume(
        "isolation".into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(pch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .unwrap();
    eventually(|| rounds.load(Ordering::Relaxed) >= 7).await;

    // Exchange messages (publisher confirm + delivery + ack for each) until at
    // least 300 went through and 10 more misbehaving connections were handled
    // meanwhile.
    let before = rounds.load(Ordering::Relaxed);
    let mut i = 0usize;
    while i < 300 || rounds.load(Ordering::Relaxed) < before + 10 {
        let payload = format!("message {i}");
        let confirm = within(pch.basic_publish(
            "".into(),
            "isolation".into(),
            BasicPublishOptions::default(),
            payload.as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        assert!(within(confirm).await.unwrap().is_ack(), "message {i}");
        let d = within(consumer.next()).await.unwrap().unwrap();
        assert_eq!(d.data, payload.as_bytes());
        assert!(!d.redelivered);
        within(d.ack(BasicAckOptions::default())).await.unwrap();
        i += 1;
        assert!(i < 100_000, "misbehaving clients made no progress");
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        within(w).await.expect("misbehaving client task failed");
    }
    assert!(consumer_conn.status().connected() && publisher_conn.status().connected());
    within(consumer_conn.close(200, "bye".into()))
        .await
        .unwrap();
    within(publisher_conn.close(200, "bye".into()))
        .await
        .unwrap();
    Arc::into_inner(broker).unwrap().shutdown().await;
}

// 15. max_message_size.

#[tokio::test]
async fn message_above_max_message_size_is_precondition_failed() {
    let broker = TestBroker::start_with(BrokerConfig {
        max_message_size: 1000,
        ..Default::default()
    })
    .await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.open_channel(2).await;
    c.send(&queue_declare(1, "sized", false)).await;
    expect_declare_ok(&mut c, 1).await;

    c.send(&publish(1, "", "sized", false)).await;
    c.send(&content_header(1, 2000)).await;
    c.send(&body(1, &[7; 2000])).await;
    c.expect_channel_close(1).await.assert(
        406,
        (60, 40),
        "PRECONDITION_FAILED - message size 2000 is larger than configured max size 1000",
    );
    c.send(&channel_close_ok(1)).await;

    // The limit itself is fine, on the other channel and on the reopened one.
    for ch in [2, 1] {
        if ch == 1 {
            c.open_channel(1).await;
        }
        c.send(&publish(ch, "", "sized", false)).await;
        c.send(&content_header(ch, 1000)).await;
        c.send(&body(ch, &[7; 1000])).await;
    }
    c.send(&queue_declare(2, "sized", true)).await;
    assert_eq!(expect_declare_ok(&mut c, 2).await, 2);
    close_cleanly(&mut c).await;
    broker.shutdown().await;
}

// 16. immediate=true.

#[tokio::test]
async fn publish_with_immediate_is_not_implemented() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(&broker).await;
    c.open_channel(1).await;
    c.send(&publish(1, "", "q", true)).await;
    c.send(&content_header(1, 2)).await;
    c.send(&body(1, b"hi")).await;
    c.expect_connection_error(540, (60, 40), "NOT_IMPLEMENTED - immediate=true")
        .await;
    broker.shutdown().await;
}

// 17. Shutdown.

#[tokio::test]
async fn shutdown_closes_connections_with_connection_forced() {
    let broker = TestBroker::start().await;
    let mut idle = RawClient::open(&broker).await;
    let mut busy = RawClient::open(&broker).await;
    busy.open_channel(1).await;
    busy.open_channel(2).await;
    let shutdown = tokio::spawn(broker.shutdown());
    for c in [&mut idle, &mut busy] {
        c.expect_connection_error(
            320,
            (0, 0),
            "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        )
        .await;
    }
    within(shutdown).await.unwrap();
}

// 18. Fuzzing after a good handshake.

/// xorshift64*: small, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn some_bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max) as usize;
        self.bytes(n)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Class/method pairs worth hitting with random arguments (client methods, a
/// few server-only ones, and RabbitMQ extensions).
const METHODS: &[(u16, u16)] = &[
    (10, 50),
    (10, 51),
    (10, 11),
    (20, 10),
    (20, 11),
    (20, 20),
    (20, 40),
    (20, 41),
    (30, 10),
    (40, 10),
    (40, 20),
    (40, 30),
    (40, 40),
    (50, 10),
    (50, 20),
    (50, 30),
    (50, 40),
    (50, 50),
    (60, 10),
    (60, 20),
    (60, 30),
    (60, 40),
    (60, 60),
    (60, 70),
    (60, 80),
    (60, 90),
    (60, 100),
    (60, 110),
    (60, 120),
    (85, 10),
    (90, 10),
    (90, 20),
    (90, 30),
];

/// A small argument table, sometimes with values of the wrong type.
fn some_table(rng: &mut Rng) -> FieldTable {
    let mut t = FieldTable::default();
    match rng.below(6) {
        0 => {
            t.insert("x-priority".into(), AMQPValue::LongString("high".into()));
        }
        1 => {
            t.insert("x-max-length".into(), AMQPValue::LongLongInt(-1));
            t.insert("x-message-ttl".into(), AMQPValue::Boolean(true));
        }
        2 => {
            t.insert("x-match".into(), AMQPValue::LongString("any".into()));
            t.insert("k".into(), AMQPValue::LongString("v".into()));
        }
        3 => {
            t.insert("x-priority".into(), AMQPValue::LongLongInt(7));
            t.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString("fz.x".into()),
            );
        }
        _ => {}
    }
    t
}

/// A well-formed client method with random (often conflicting) fields, so the
/// channel handlers themselves get exercised.
fn well_formed(rng: &mut Rng) -> AMQPClass {
    use warren_codec::spec::{basic as b, confirm as cf, exchange as e, queue as q, tx};
    let queue = rng.pick(&["fz", "fz2", "", "amq.fz", "amq.rabbitmq.reply-to"]);
    let exchange = rng.pick(&["", "amq.direct", "amq.topic", "fz.x", "amq.fz", "nope"]);
    let key = rng.pick(&["fz", "#", "a.*", ""]);
    let tag = rng.pick(&["", "t1", "t2"]);
    let flag = |rng: &mut Rng| rng.below(2) == 0;
    match rng.below(20) {
        0 | 1 => AMQPClass::Queue(q::AMQPMethod::Declare(q::Declare {
            queue: queue.into(),
            passive: rng.below(4) == 0,
            durable: flag(rng),
            exclusive: flag(rng),
            auto_delete: flag(rng),
            nowait: rng.below(4) == 0,
            arguments: some_table(rng),
        })),
        2 => AMQPClass::Queue(q::AMQPMethod::Bind(q::Bind {
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: key.into(),
            nowait: flag(rng),
            arguments: some_table(rng),
        })),
        3 => AMQPClass::Queue(q::AMQPMethod::Unbind(q::Unbind {
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: key.into(),
            arguments: some_table(rng),
        })),
        4 => AMQPClass::Queue(q::AMQPMethod::Purge(q::Purge {
            queue: queue.into(),
            nowait: flag(rng),
        })),
        5 => AMQPClass::Queue(q::AMQPMethod::Delete(q::Delete {
            queue: queue.into(),
            if_unused: flag(rng),
            if_empty: flag(rng),
            nowait: flag(rng),
        })),
        6 => AMQPClass::Exchange(e::AMQPMethod::Declare(e::Declare {
            exchange: exchange.into(),
            kind: rng
                .pick(&["direct", "topic", "fanout", "headers", "x-bogus"])
                .into(),
            passive: rng.below(4) == 0,
            durable: flag(rng),
            auto_delete: flag(rng),
            internal: rng.below(4) == 0,
            nowait: flag(rng),
            arguments: some_table(rng),
        })),
        7 => AMQPClass::Exchange(e::AMQPMethod::Delete(e::Delete {
            exchange: exchange.into(),
            if_unused: flag(rng),
            nowait: flag(rng),
        })),
        8 => AMQPClass::Exchange(e::AMQPMethod::Bind(e::Bind {
            destination: exchange.into(),
            source: rng.pick(&["amq.fanout", "fz.x", "", "nope"]).into(),
            routing_key: key.into(),
            nowait: flag(rng),
            arguments: some_table(rng),
        })),
        9 => AMQPClass::Basic(b::AMQPMethod::Qos(b::Qos {
            prefetch_count: rng.below(4) as u16,
            global: flag(rng),
        })),
        10 | 11 => AMQPClass::Basic(b::AMQPMethod::Consume(b::Consume {
            queue: queue.into(),
            consumer_tag: tag.into(),
            no_local: false,
            no_ack: flag(rng),
            exclusive: rng.below(4) == 0,
            nowait: rng.below(4) == 0,
            arguments: some_table(rng),
        })),
        12 => AMQPClass::Basic(b::AMQPMethod::Cancel(b::Cancel {
            consumer_tag: tag.into(),
            nowait: flag(rng),
        })),
        13 => AMQPClass::Basic(b::AMQPMethod::Get(b::Get {
            queue: queue.into(),
            no_ack: flag(rng),
        })),
        14 => AMQPClass::Basic(b::AMQPMethod::Nack(b::Nack {
            delivery_tag: rng.below(4),
            multiple: flag(rng),
            requeue: flag(rng),
        })),
        15 => AMQPClass::Basic(b::AMQPMethod::Reject(b::Reject {
            delivery_tag: rng.below(4),
            requeue: flag(rng),
        })),
        16 => AMQPClass::Basic(b::AMQPMethod::Recover(b::Recover {
            requeue: rng.below(4) != 0,
        })),
        17 => AMQPClass::Tx(match rng.below(3) {
            0 => tx::AMQPMethod::Select(tx::Select {}),
            1 => tx::AMQPMethod::Commit(tx::Commit {}),
            _ => tx::AMQPMethod::Rollback(tx::Rollback {}),
        }),
        18 => AMQPClass::Confirm(cf::AMQPMethod::Select(cf::Select { nowait: flag(rng) })),
        _ => AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow {
            active: rng.below(4) != 0,
        })),
    }
}

/// A random but often nearly valid byte sequence to send after the handshake.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(4) {
        3 => {
            out.extend(channel_open(1));
            out.extend(channel_open(2));
            for _ in 0..3 + rng.below(12) {
                let ch = rng.pick(&[1u16, 1, 2]);
                match rng.below(5) {
                    0 => {
                        let size = rng.below(20);
                        let exchange = rng.pick(&["", "amq.direct", "amq.topic", "fz.x"]);
                        let key = rng.pick(&["fz", "fz2", "a.b"]);
                        out.extend(publish(ch, exchange, key, false));
                        out.extend(content_header(ch, size));
                        out.extend(body(ch, &rng.bytes(size as usize)));
                    }
                    1 => out.extend(basic_ack(ch, rng.below(4))),
                    _ => out.extend(method_frame(ch, &well_formed(rng))),
                }
            }
        }
        0 => out = rng.some_bytes(256),
        1 => {
            for _ in 0..1 + rng.below(6) {
                let kind = rng.pick(&[1u8, 2, 3, 8, 1, 0, 9]);
                let channel = rng.pick(&[0u16, 1, 1, 2, 65535]);
                let payload = rng.some_bytes(64);
                let end = if rng.below(10) == 0 {
                    rng.next() as u8
                } else {
                    0xCE
                };
                out.extend(frame_with_end(kind, channel, &payload, end));
            }
        }
        _ => {
            out.extend(channel_open(1));
            if rng.below(2) == 0 {
                out.extend(method_frame(
                    1,
                    &AMQPClass::Confirm(warren_codec::spec::confirm::AMQPMethod::Select(
                        warren_codec::spec::confirm::Select { nowait: false },
                    )),
                ));
            }
            for _ in 0..1 + rng.below(8) {
                match rng.below(6) {
                    0..=2 => {
                        let (class_id, method_id) = rng.pick(METHODS);
                        let args = rng.some_bytes(40);
                        out.extend(raw_method(
                            rng.pick(&[1, 1, 1, 0, 2]),
                            class_id,
                            method_id,
                            &args,
                        ));
                    }
                    3 => {
                        let size = rng.below(20);
                        out.extend(publish(1, "", "fuzz", rng.below(8) == 0));
                        out.extend(content_header(1, size));
                        out.extend(body(1, &rng.bytes(size as usize)));
                    }
                    4 => {
                        let mut header = vec![0, 60, 0, 0];
                        header.extend_from_slice(&rng.below(32).to_be_bytes());
                        header.extend(rng.some_bytes(24));
                        out.extend(frame(2, 1, &header));
                    }
                    _ => out.extend(body(1, &rng.some_bytes(16))),
                }
            }
        }
    }
    out
}

const ALLOWED_CONNECTION_CODES: &[u16] = &[
    320, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540,
];
const ALLOWED_CHANNEL_CODES: &[u16] = &[403, 404, 405, 406];

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on threads that set WATCHING (the fuzz test runs the broker
/// on its own single-threaded runtime, so a broker panic lands there).
fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if WATCHING.with(Cell::get) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Sends one garbage sequence on a fresh connection and checks every answer.
async fn fuzz_one(broker: &TestBroker, seed: u64) {
    let mut rng = Rng(seed);
    let bytes = garbage(&mut rng);
    let mut c = RawClient::open(broker).await;
    c.send_lossy(&bytes).await;
    // Let the broker answer what it can parse, then end our side so it stops
    // waiting for the rest of a partial frame.
    let mut closed = false;
    let mut check = |f: warren_codec::Frame| {
        if f.kind != FrameKind::Method {
            return;
        }
        match raw::parse_method(&f.payload) {
            AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                assert!(
                    ALLOWED_CONNECTION_CODES.contains(&close.reply_code),
                    "seed {seed}: {close:?}"
                );
                closed = true;
            }
            AMQPClass::Channel(channel::AMQPMethod::Close(close)) => assert!(
                ALLOWED_CHANNEL_CODES.contains(&close.reply_code),
                "seed {seed}: {close:?}"
            ),
            // The garbage may hold a connection.close of its own: answered
            // with close-ok even after the broker's close, as RabbitMQ does.
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => {}
            _ => assert!(!closed, "seed {seed}: frame after connection.close: {f:?}"),
        }
    };
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(30), c.frame()).await {
        match frame {
            Some(f) => check(f),
            None => return,
        }
    }
    let _ = c.stream.shutdown().await;
    while let Some(f) = c.frame().await {
        check(f);
    }
}

#[tokio::test]
async fn random_bytes_after_the_handshake_never_break_the_broker() {
    install_panic_counter();
    WATCHING.with(|w| w.set(true));
    let broker = Arc::new(TestBroker::start().await);
    let seeds: Vec<u64> = (1..=200).map(|i| i * 0x9E37_79B9 + 17).collect();
    // Batches run concurrently to keep the test fast; every sequence is
    // followed by a fresh lapin connection that must still work.
    for batch in seeds.chunks(20) {
        let mut tasks = tokio::task::JoinSet::new();
        for &seed in batch {
            let broker = broker.clone();
            tasks.spawn(async move {
                fuzz_one(&broker, seed).await;
                lapin_still_works(&broker).await;
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("fuzz task failed");
        }
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the broker panicked");
    }
    WATCHING.with(|w| w.set(false));
    Arc::into_inner(broker).unwrap().shutdown().await;
}

//! The seed corpus of the cargo-fuzz targets in `fuzz/`: valid frames built with
//! the codec's own encoders, so the fuzzer starts from what real clients send.
//!
//! `seeds_decode_cleanly` checks every seed (and so the encoders against the
//! decoders) on each test run. To rewrite `fuzz/corpus/{frame,method,content}`:
//!
//! ```text
//! cargo test -p warren-codec --test fuzz_seeds -- --ignored
//! ```

use std::path::PathBuf;

use bytes::BytesMut;
use warren_codec::content::decode_content_header;
use warren_codec::encode::{self, ContentRef};
use warren_codec::frame::decode_frame;
use warren_codec::method::decode_method;
use warren_codec::properties::{decode_properties, encode_properties};
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::spec::{basic, channel, confirm, connection, exchange, queue, tx};
use warren_codec::{AMQPClass, AMQPValue, FieldTable, FrameKind, LongString, PROTOCOL_HEADER};

/// Named inputs of one fuzz target.
type Seeds = Vec<(&'static str, Vec<u8>)>;

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// A table with the argument kinds clients send: strings, numbers, booleans,
/// a nested table and an array.
fn queue_arguments() -> FieldTable {
    let mut nested = FieldTable::default();
    nested.insert("level".into(), AMQPValue::ShortShortUInt(2));
    nested.insert("ratio".into(), AMQPValue::Double(0.5));
    let mut args = FieldTable::default();
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(60_000));
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(10_000));
    args.insert("x-dead-letter-exchange".into(), long("dlx"));
    args.insert("x-queue-type".into(), long("classic"));
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    args.insert("nested".into(), AMQPValue::FieldTable(nested));
    args.insert(
        "list".into(),
        AMQPValue::FieldArray(vec![AMQPValue::LongInt(1), long("two"), AMQPValue::Void].into()),
    );
    args
}

fn client_properties() -> FieldTable {
    let mut caps = FieldTable::default();
    for cap in ["publisher_confirms", "consumer_cancel_notify", "basic.nack"] {
        caps.insert(cap.into(), AMQPValue::Boolean(true));
    }
    let mut props = FieldTable::default();
    props.insert("product".into(), long("fuzz-seed"));
    props.insert("platform".into(), long("Rust"));
    props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
    props.insert("connection_name".into(), long("seed"));
    props
}

/// Method frames a client sends, named, with their channel (the first three
/// open a connection).
fn methods() -> Vec<(&'static str, u16, AMQPClass)> {
    use AMQPClass as C;
    let mut plain = vec![0u8];
    plain.extend_from_slice(b"guest\0guest");
    vec![
        (
            "connection-start-ok",
            0,
            C::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: client_properties(),
                mechanism: "PLAIN".into(),
                response: LongString::from(plain),
                locale: "en_US".into(),
            })),
        ),
        (
            "connection-tune-ok",
            0,
            C::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 60,
            })),
        ),
        (
            "connection-open",
            0,
            C::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: "/".into(),
            })),
        ),
        (
            "connection-close",
            0,
            C::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: 200,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            })),
        ),
        (
            "channel-open",
            1,
            C::Channel(channel::AMQPMethod::Open(channel::Open {})),
        ),
        (
            "channel-close",
            1,
            C::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: 200,
                reply_text: "ok".into(),
                class_id: 0,
                method_id: 0,
            })),
        ),
        (
            "exchange-declare",
            1,
            C::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                exchange: "logs".into(),
                kind: "topic".into(),
                passive: false,
                durable: true,
                auto_delete: false,
                internal: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        ),
        (
            "exchange-bind",
            1,
            C::Exchange(exchange::AMQPMethod::Bind(exchange::Bind {
                destination: "dst".into(),
                source: "logs".into(),
                routing_key: "a.*.c".into(),
                nowait: false,
                arguments: queue_arguments(),
            })),
        ),
        (
            "queue-declare-args",
            1,
            C::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "orders".into(),
                passive: false,
                durable: true,
                exclusive: false,
                auto_delete: false,
                nowait: false,
                arguments: queue_arguments(),
            })),
        ),
        (
            "queue-bind-headers",
            1,
            C::Queue(queue::AMQPMethod::Bind(queue::Bind {
                queue: "orders".into(),
                exchange: "amq.headers".into(),
                routing_key: "".into(),
                nowait: false,
                arguments: {
                    let mut t = FieldTable::default();
                    t.insert("x-match".into(), long("any"));
                    t.insert("region".into(), long("eu"));
                    t
                },
            })),
        ),
        (
            "queue-unbind",
            1,
            C::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
                queue: "orders".into(),
                exchange: "logs".into(),
                routing_key: "a.b".into(),
                arguments: FieldTable::default(),
            })),
        ),
        (
            "queue-purge",
            1,
            C::Queue(queue::AMQPMethod::Purge(queue::Purge {
                queue: "orders".into(),
                nowait: false,
            })),
        ),
        (
            "queue-delete",
            1,
            C::Queue(queue::AMQPMethod::Delete(queue::Delete {
                queue: "orders".into(),
                if_unused: true,
                if_empty: false,
                nowait: false,
            })),
        ),
        (
            "basic-qos",
            1,
            C::Basic(basic::AMQPMethod::Qos(basic::Qos {
                prefetch_count: 100,
                global: false,
            })),
        ),
        (
            "basic-consume-args",
            1,
            C::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: "orders".into(),
                consumer_tag: "ctag-1".into(),
                no_local: false,
                no_ack: false,
                exclusive: false,
                nowait: false,
                arguments: {
                    let mut t = FieldTable::default();
                    t.insert("x-priority".into(), AMQPValue::LongInt(5));
                    t
                },
            })),
        ),
        (
            "basic-cancel",
            1,
            C::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                consumer_tag: "ctag-1".into(),
                nowait: false,
            })),
        ),
        (
            "basic-get",
            1,
            C::Basic(basic::AMQPMethod::Get(basic::Get {
                queue: "orders".into(),
                no_ack: true,
            })),
        ),
        (
            "basic-ack",
            1,
            C::Basic(basic::AMQPMethod::Ack(basic::Ack {
                delivery_tag: 42,
                multiple: true,
            })),
        ),
        (
            "basic-nack",
            1,
            C::Basic(basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag: 7,
                multiple: false,
                requeue: true,
            })),
        ),
        (
            "basic-reject",
            1,
            C::Basic(basic::AMQPMethod::Reject(basic::Reject {
                delivery_tag: 8,
                requeue: false,
            })),
        ),
        (
            "confirm-select",
            1,
            C::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            })),
        ),
        ("tx-select", 1, C::Tx(tx::AMQPMethod::Select(tx::Select {}))),
        // The server's method, which a hostile client may send all the same.
        (
            "connection-start",
            0,
            C::Connection(connection::AMQPMethod::Start(connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: client_properties(),
                mechanisms: LongString::from(b"PLAIN AMQPLAIN".to_vec()),
                locales: LongString::from(b"en_US".to_vec()),
            })),
        ),
    ]
}

fn publish_method() -> AMQPClass {
    AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
        exchange: "".into(),
        routing_key: "orders".into(),
        mandatory: true,
        immediate: false,
    }))
}

/// Property sets: none, the usual ones, and every property with headers.
fn properties() -> Vec<(&'static str, AMQPProperties)> {
    let mut headers = queue_arguments();
    headers.insert("x-death-count".into(), AMQPValue::LongLongInt(3));
    vec![
        ("none", AMQPProperties::default()),
        (
            "persistent-json",
            AMQPProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        ),
        (
            "all",
            AMQPProperties::default()
                .with_content_type("text/plain".into())
                .with_content_encoding("gzip".into())
                .with_headers(headers)
                .with_delivery_mode(1)
                .with_priority(9)
                .with_correlation_id("c-1".into())
                .with_reply_to("amq.rabbitmq.reply-to".into())
                .with_expiration("60000".into())
                .with_message_id("m-1".into())
                .with_timestamp(1_700_000_000)
                .with_type("order.created".into())
                .with_user_id("guest".into())
                .with_app_id("seed".into())
                .with_cluster_id("c".into()),
        ),
    ]
}

/// A content header payload: class 60, weight 0, body size, raw properties.
fn header_payload(body_size: u64, props: &AMQPProperties) -> Vec<u8> {
    let mut p = vec![0, 60, 0, 0];
    p.extend_from_slice(&body_size.to_be_bytes());
    p.extend_from_slice(&encode_properties(props));
    p
}

fn method_frame(channel: u16, method: &AMQPClass) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode::write_method(&mut buf, channel, method);
    buf.to_vec()
}

/// A publish, its content header and `body` split at `frame_max`.
fn publish_frames(props: &AMQPProperties, body: &[u8], frame_max: usize) -> Vec<u8> {
    let mut buf = BytesMut::from(&method_frame(1, &publish_method())[..]);
    encode::write_content(&mut buf, 1, &encode_properties(props), body, frame_max);
    buf.to_vec()
}

/// The payload of a method frame (without type, channel, size and frame end).
fn method_payload(channel: u16, method: &AMQPClass) -> Vec<u8> {
    let frame = method_frame(channel, method);
    frame[7..frame.len() - 1].to_vec()
}

/// Seeds of the `method` target: method frame payloads.
fn method_seeds() -> Seeds {
    let mut seeds: Seeds = methods()
        .into_iter()
        .map(|(name, ch, m)| (name, method_payload(ch, &m)))
        .collect();
    seeds.push(("basic-publish", method_payload(1, &publish_method())));
    seeds
}

/// Seeds of the `content` target: content header payloads.
fn content_seeds() -> Seeds {
    let mut seeds: Seeds = properties()
        .into_iter()
        .map(|(name, props)| (name, header_payload(11, &props)))
        .collect();
    seeds.push(("empty-body", header_payload(0, &AMQPProperties::default())));
    seeds
}

/// Seeds of the `frame` target: byte streams as a client writes them.
fn frame_seeds() -> Seeds {
    let mut seeds: Seeds = Vec::new();
    let mut handshake = PROTOCOL_HEADER.to_vec();
    for (name, _, m) in methods().iter().take(3) {
        debug_assert!(name.starts_with("connection-"));
        handshake.extend_from_slice(&method_frame(0, m));
    }
    seeds.push(("handshake", handshake.clone()));
    for (name, ch, m) in methods() {
        seeds.push((name, method_frame(ch, &m)));
    }
    let mut heartbeat = BytesMut::new();
    encode::write_heartbeat(&mut heartbeat);
    seeds.push(("heartbeat", heartbeat.to_vec()));
    let props = properties();
    seeds.push((
        "publish-hello",
        publish_frames(&props[0].1, b"hello world", 131_072),
    ));
    seeds.push((
        "publish-all-properties",
        publish_frames(&props[2].1, b"{\"id\":1}", 131_072),
    ));
    seeds.push((
        "publish-three-bodies",
        publish_frames(&props[1].1, &[b'x'; 10_000], 4096),
    ));
    seeds.push(("publish-empty-body", publish_frames(&props[0].1, b"", 4096)));
    let mut deliver = BytesMut::new();
    let raw = encode_properties(&props[1].1);
    encode::write_deliver(
        &mut deliver,
        1,
        b"ctag-1",
        1,
        false,
        ContentRef {
            exchange: b"",
            routing_key: b"orders",
            properties: &raw,
            body: b"hello",
        },
        131_072,
    );
    seeds.push(("deliver", deliver.to_vec()));
    // A whole session: handshake, channel, confirms, a queue, publishes, acks, close.
    let mut session = handshake;
    for name in [
        "channel-open",
        "confirm-select",
        "queue-declare-args",
        "basic-qos",
        "basic-consume-args",
    ] {
        session.extend_from_slice(&seeds.iter().find(|s| s.0 == name).unwrap().1);
    }
    session.extend_from_slice(&publish_frames(&props[1].1, b"one", 131_072));
    session.extend_from_slice(&publish_frames(&props[0].1, b"two", 131_072));
    for name in [
        "basic-ack",
        "heartbeat",
        "channel-close",
        "connection-close",
    ] {
        session.extend_from_slice(&seeds.iter().find(|s| s.0 == name).unwrap().1);
    }
    seeds.push(("session", session));
    seeds
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fuzz/corpus/{target}"))
}

#[test]
fn seeds_decode_cleanly() {
    for (name, payload) in method_seeds() {
        decode_method(payload.into()).unwrap_or_else(|e| panic!("method seed {name}: {e}"));
    }
    for (name, payload) in content_seeds() {
        let header = decode_content_header(payload.into())
            .unwrap_or_else(|e| panic!("content seed {name}: {e}"));
        decode_properties(&header.properties).unwrap();
    }
    for (name, bytes) in frame_seeds() {
        let input = bytes.strip_prefix(&PROTOCOL_HEADER[..]).unwrap_or(&bytes);
        let mut buf = BytesMut::from(input);
        while let Some(frame) = decode_frame(&mut buf, 131_072).unwrap() {
            match frame.kind {
                FrameKind::Method => {
                    decode_method(frame.payload).unwrap();
                }
                FrameKind::Header => {
                    decode_content_header(frame.payload).unwrap();
                }
                FrameKind::Body | FrameKind::Heartbeat => {}
            }
        }
        assert!(buf.is_empty(), "frame seed {name} has trailing bytes");
    }
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand when the seeds change"]
fn write_fuzz_corpus() {
    for (target, seeds) in [
        ("frame", frame_seeds()),
        ("method", method_seeds()),
        ("content", content_seeds()),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

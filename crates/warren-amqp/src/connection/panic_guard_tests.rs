//! A panic inside a connection task must not leave its registrations behind:
//! a test-only hook (a method frame on [`PANIC_CHANNEL`]) makes the task
//! panic, and the test checks that its consumer left a single-active-consumer
//! queue (the next consumer gets the messages), its exclusive queue is gone
//! and it left the registry.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::decode_frame;
use warren_codec::properties::encode_properties;
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::spec::{self, basic, channel, connection, queue};
use warren_codec::{encode, FieldTable, Frame, FrameKind, LongString};
use warren_core::value::{Table, Value};
use warren_core::vhost::QueueDeclare;
use warren_core::{Broker, BrokerConfig, Message};

use crate::Server;

/// A method frame on this channel makes the connection task panic (tests only).
pub(super) const PANIC_CHANNEL: u16 = u16::MAX;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Client {
    stream: TcpStream,
    input: BytesMut,
}

impl Client {
    async fn open(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut c = Client {
            stream,
            input: BytesMut::new(),
        };
        c.write(b"AMQP\x00\x00\x09\x01").await;
        c.expect(|m| {
            matches!(
                m,
                spec::AMQPClass::Connection(connection::AMQPMethod::Start(_))
            )
        })
        .await;
        c.send(
            0,
            spec::AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: FieldTable::default(),
                mechanism: "PLAIN".into(),
                response: LongString::from(b"\0guest\0guest".to_vec()),
                locale: "en_US".into(),
            })),
        )
        .await;
        c.expect(|m| {
            matches!(
                m,
                spec::AMQPClass::Connection(connection::AMQPMethod::Tune(_))
            )
        })
        .await;
        c.send(
            0,
            spec::AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 0,
            })),
        )
        .await;
        c.send(
            0,
            spec::AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: "/".into(),
            })),
        )
        .await;
        c.expect(|m| {
            matches!(
                m,
                spec::AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
            )
        })
        .await;
        c.send(
            1,
            spec::AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        )
        .await;
        c.expect(|m| matches!(m, spec::AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))))
            .await;
        c
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn send(&mut self, ch: u16, method: spec::AMQPClass) {
        let mut out = BytesMut::new();
        encode::write_method(&mut out, ch, &method);
        self.write(&out).await;
    }

    /// The next frame, or None at end of stream.
    async fn frame(&mut self) -> Option<Frame> {
        let read = async {
            loop {
                if let Some(f) = decode_frame(&mut self.input, 0).expect("decodable frame") {
                    return Some(f);
                }
                match self.stream.read_buf(&mut self.input).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(TIMEOUT, read)
            .await
            .expect("timed out waiting for a frame")
    }

    /// Waits for a method matching `want`, skipping content frames.
    async fn expect(&mut self, want: impl Fn(&spec::AMQPClass) -> bool) -> spec::AMQPClass {
        loop {
            let frame = self.frame().await.expect("socket closed");
            if frame.kind != FrameKind::Method {
                continue;
            }
            let (_, method) = spec::parse_class(&frame.payload[..]).expect("a method");
            assert!(want(&method), "unexpected {method:?}");
            return method;
        }
    }

    async fn consume(&mut self, queue: &str, tag: &str) {
        self.send(
            1,
            spec::AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                queue: queue.into(),
                consumer_tag: tag.into(),
                no_local: false,
                no_ack: true,
                exclusive: false,
                nowait: false,
                arguments: FieldTable::default(),
            })),
        )
        .await;
        self.expect(|m| matches!(m, spec::AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))))
            .await;
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_connection_task_releases_everything_it_registered() {
    let broker = Broker::new(BrokerConfig::default());
    let server = Server::bind(broker.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.start();
    let vhost = broker.vhost("/").unwrap();
    let mut sac_args = Table::new();
    sac_args.insert("x-single-active-consumer", Value::Bool(true));
    let sac = vhost
        .declare_queue(
            QueueDeclare {
                name: "sac".into(),
                arguments: sac_args,
                ..Default::default()
            },
            0,
        )
        .unwrap()
        .queue;

    // A: an exclusive queue and the active consumer of "sac".
    let mut a = Client::open(addr).await;
    a.send(
        1,
        spec::AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: "exclusive-of-a".into(),
            passive: false,
            durable: false,
            exclusive: true,
            auto_delete: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await;
    a.expect(|m| matches!(m, spec::AMQPClass::Queue(queue::AMQPMethod::DeclareOk(_))))
        .await;
    a.consume("sac", "a").await;
    // B: waits behind A on "sac".
    let mut b = Client::open(addr).await;
    b.consume("sac", "b").await;
    assert_eq!(broker.registry.connections().len(), 2);

    // A's task panics.
    a.send(
        PANIC_CHANNEL,
        spec::AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
    .await;
    assert!(a.frame().await.is_none(), "A's socket closes");

    eventually("A leaves the registry", || {
        broker.registry.connections().len() == 1
    })
    .await;
    eventually("A's exclusive queue is deleted", || {
        vhost.queue("exclusive-of-a").is_err()
    })
    .await;
    // B became the active consumer: a message published now reaches it.
    sac.publish(Arc::new(Message {
        exchange: Bytes::new(),
        routing_key: Bytes::from_static(b"sac"),
        content: warren_core::message::Content::new(
            warren_core::message::FormatId::AMQP_091,
            encode_properties(&AMQPProperties::default()),
        ),
        body: Bytes::from_static(b"after the panic"),
        ann: Default::default(),
    }));
    let deliver = b
        .expect(|m| matches!(m, spec::AMQPClass::Basic(basic::AMQPMethod::Deliver(_))))
        .await;
    let spec::AMQPClass::Basic(basic::AMQPMethod::Deliver(d)) = deliver else {
        unreachable!()
    };
    assert_eq!(d.consumer_tag.as_str(), "b");
    // The broker still accepts and serves new connections.
    let mut c = Client::open(addr).await;
    c.consume("sac", "c").await;
    drop((a, b, c));
    handle.shutdown().await;
}

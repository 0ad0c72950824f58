//! A raw AMQP 0-9-1 client for protocol-violation tests: it writes exactly the
//! bytes a test asks for and decodes whatever the broker answers, so tests can
//! check reply codes, class/method ids and the moment the socket closes.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::decode_frame;
use warren_codec::spec::{self, basic, channel, connection, queue};
use warren_codec::{encode, AMQPClass, AMQPValue, FieldTable, Frame, FrameKind, LongString};

use crate::common::{within, TestBroker};

/// The AMQP 0-9-1 protocol header.
pub const HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// What the client answers to connection.tune.
#[derive(Debug, Clone, Copy)]
pub struct Tune {
    /// Highest channel number the client wants.
    pub channel_max: u16,
    /// Largest frame, framing included.
    pub frame_max: u32,
    /// Heartbeat interval in seconds (0: none).
    pub heartbeat: u16,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        }
    }
}

/// Bytes of one frame: type, channel, size, payload, frame-end.
pub fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    frame_with_end(kind, channel, payload, 0xCE)
}

/// Like [`frame`] with a chosen frame-end octet.
pub fn frame_with_end(kind: u8, channel: u16, payload: &[u8], end: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 8);
    b.push(kind);
    b.extend_from_slice(&channel.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b.push(end);
    b
}

/// A method frame whose arguments are given as raw bytes.
pub fn raw_method(channel: u16, class_id: u16, method_id: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = class_id.to_be_bytes().to_vec();
    payload.extend_from_slice(&method_id.to_be_bytes());
    payload.extend_from_slice(args);
    frame(1, channel, &payload)
}

/// A well-formed method frame.
pub fn method_frame(channel: u16, method: &AMQPClass) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode::write_method(&mut buf, channel, method);
    buf.to_vec()
}

/// A content header frame for class 60 with no properties.
pub fn content_header(channel: u16, body_size: u64) -> Vec<u8> {
    let mut payload = vec![0, 60, 0, 0];
    payload.extend_from_slice(&body_size.to_be_bytes());
    payload.extend_from_slice(&[0, 0]); // property flags: none
    frame(2, channel, &payload)
}

/// A content body frame.
pub fn body(channel: u16, bytes: &[u8]) -> Vec<u8> {
    frame(3, channel, bytes)
}

/// `basic.publish` to `exchange` with `routing_key`.
pub fn publish(channel: u16, exchange: &str, routing_key: &str, immediate: bool) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory: false,
            immediate,
        })),
    )
}

/// `queue.declare` of `name` (non-durable, not exclusive).
pub fn queue_declare(channel: u16, name: &str, passive: bool) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: name.into(),
            passive,
            durable: false,
            exclusive: false,
            auto_delete: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
}

/// `basic.ack` of `tag`.
pub fn basic_ack(channel: u16, tag: u64) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: tag,
            multiple: false,
        })),
    )
}

/// `channel.open`.
pub fn channel_open(channel: u16) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
}

/// `channel.close-ok`.
pub fn channel_close_ok(channel: u16) -> Vec<u8> {
    method_frame(
        channel,
        &AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
    )
}

/// `connection.close-ok`.
pub fn connection_close_ok() -> Vec<u8> {
    method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
    )
}

/// Parses a method frame's payload the way a client would.
pub fn parse_method(payload: &[u8]) -> AMQPClass {
    match spec::parse_class(payload) {
        Ok((_, class)) => class,
        Err(e) => panic!("broker sent an undecodable method {payload:?}: {e:?}"),
    }
}

/// The reply code, text and offending class/method of a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// Reply code.
    pub code: u16,
    /// Reply text.
    pub text: String,
    /// Class id of the offending method (0 if none).
    pub class_id: u16,
    /// Method id of the offending method (0 if none).
    pub method_id: u16,
}

impl CloseInfo {
    /// Asserts the reply code, the offending method's ids and that the text
    /// contains `phrase`.
    #[track_caller]
    pub fn assert(&self, code: u16, ids: (u16, u16), phrase: &str) {
        assert_eq!(self.code, code, "reply code of {self:?}");
        assert_eq!(
            (self.class_id, self.method_id),
            ids,
            "class/method ids of {self:?}"
        );
        assert!(
            self.text.contains(phrase),
            "reply text {:?} does not contain {phrase:?}",
            self.text
        );
    }
}

/// connection.start-ok from a client announcing `authentication_failure_close`.
pub fn start_ok(mechanism: &str, response: &[u8]) -> AMQPClass {
    let mut caps = FieldTable::default();
    caps.insert(
        "authentication_failure_close".into(),
        AMQPValue::Boolean(true),
    );
    let mut props = FieldTable::default();
    props.insert("capabilities".into(), AMQPValue::FieldTable(caps));
    props.insert(
        "product".into(),
        AMQPValue::LongString(LongString::from(b"raw test client".to_vec())),
    );
    AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
        client_properties: props,
        mechanism: mechanism.into(),
        response: LongString::from(response.to_vec()),
        locale: "en_US".into(),
    }))
}

/// Everything a client sends to open a connection as guest on "/" (protocol
/// header, start-ok, tune-ok with `tune`, open), for a single write: the broker
/// reads them in order without waiting for its own replies to be read.
pub fn pipelined_handshake(tune: Tune) -> Vec<u8> {
    let mut bytes = HEADER.to_vec();
    bytes.extend_from_slice(&method_frame(0, &start_ok("PLAIN", b"\0guest\0guest")));
    bytes.extend_from_slice(&method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
            channel_max: tune.channel_max,
            frame_max: tune.frame_max,
            heartbeat: tune.heartbeat,
        })),
    ));
    bytes.extend_from_slice(&method_frame(
        0,
        &AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
            virtual_host: "/".into(),
        })),
    ));
    bytes
}

/// A raw connection to the broker.
pub struct RawClient {
    /// The socket.
    pub stream: TcpStream,
    input: BytesMut,
}

impl RawClient {
    /// Opens a TCP connection and sends nothing.
    pub async fn connect(broker: &TestBroker) -> RawClient {
        RawClient {
            stream: broker.raw().await,
            input: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// Connects and completes the handshake with default tuning (no heartbeats).
    pub async fn open(broker: &TestBroker) -> RawClient {
        Self::open_with(broker, Tune::default()).await
    }

    /// Connects and logs in as guest up to tune-ok (with `tune`), leaving
    /// connection.open to the test.
    pub async fn tuned(broker: &TestBroker, tune: Tune) -> RawClient {
        let mut c = Self::connect(broker).await;
        c.send(HEADER).await;
        c.expect_start().await;
        c.send_start_ok("PLAIN", b"\0guest\0guest").await;
        c.expect_tune().await;
        c.send_tune_ok(tune).await;
        c
    }

    /// Connects and completes the handshake with `tune` as the tune-ok values.
    pub async fn open_with(broker: &TestBroker, tune: Tune) -> RawClient {
        let mut c = Self::tuned(broker, tune).await;
        c.send_open("/").await;
        c.expect_open_ok().await;
        c
    }

    /// Connects and opens the connection with the whole handshake in one write
    /// ([`pipelined_handshake`]), then reads start, tune and open-ok.
    pub async fn open_pipelined(broker: &TestBroker, tune: Tune) -> RawClient {
        let mut c = Self::connect(broker).await;
        c.send(&pipelined_handshake(tune)).await;
        c.expect_start().await;
        c.expect_tune().await;
        c.expect_open_ok().await;
        c
    }

    /// Writes bytes, failing the test if the socket refuses them.
    pub async fn send(&mut self, bytes: &[u8]) {
        within(self.stream.write_all(bytes))
            .await
            .expect("write to broker");
    }

    /// Writes bytes, ignoring errors (the broker may already have closed).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = within(self.stream.write_all(bytes)).await;
    }

    /// Sends a well-formed method.
    pub async fn send_method(&mut self, channel: u16, method: AMQPClass) {
        self.send(&method_frame(channel, &method)).await;
    }

    /// Waits for connection.start and checks it offers AMQP 0-9 with PLAIN.
    pub async fn expect_start(&mut self) -> connection::Start {
        match self.method().await {
            (0, AMQPClass::Connection(connection::AMQPMethod::Start(s))) => {
                assert_eq!((s.version_major, s.version_minor), (0, 9));
                let mechanisms = String::from_utf8_lossy(s.mechanisms.as_bytes()).to_string();
                assert!(mechanisms.split(' ').any(|m| m == "PLAIN"), "{mechanisms}");
                s
            }
            other => panic!("expected connection.start, got {other:?}"),
        }
    }

    /// Sends connection.start-ok, announcing `authentication_failure_close`
    /// like current clients do (RabbitMQ then reports login failures with 403).
    pub async fn send_start_ok(&mut self, mechanism: &str, response: &[u8]) {
        self.send_method(0, start_ok(mechanism, response)).await;
    }

    /// Waits for connection.tune.
    pub async fn expect_tune(&mut self) -> connection::Tune {
        match self.method().await {
            (0, AMQPClass::Connection(connection::AMQPMethod::Tune(t))) => t,
            other => panic!("expected connection.tune, got {other:?}"),
        }
    }

    /// Sends connection.tune-ok.
    pub async fn send_tune_ok(&mut self, tune: Tune) {
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: tune.channel_max,
                frame_max: tune.frame_max,
                heartbeat: tune.heartbeat,
            })),
        )
        .await;
    }

    /// Sends connection.open for `vhost`.
    pub async fn send_open(&mut self, vhost: &str) {
        self.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: vhost.into(),
            })),
        )
        .await;
    }

    /// Waits for connection.open-ok.
    pub async fn expect_open_ok(&mut self) {
        match self.method().await {
            (0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => {}
            other => panic!("expected connection.open-ok, got {other:?}"),
        }
    }

    /// Opens `channel` and waits for channel.open-ok.
    pub async fn open_channel(&mut self, ch: u16) {
        self.send(&channel_open(ch)).await;
        match self.method().await {
            (c, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))) if c == ch => {}
            other => panic!("expected channel.open-ok on {ch}, got {other:?}"),
        }
    }

    /// The next frame, or None once the broker has closed the socket. Fails the
    /// test if nothing happens within the harness timeout.
    pub async fn frame(&mut self) -> Option<Frame> {
        within(self.next_frame()).await
    }

    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match decode_frame(&mut self.input, 0) {
                Ok(Some(f)) => return Some(f),
                Ok(None) => {}
                Err(e) => panic!("broker sent an undecodable frame: {e}"),
            }
            match self.stream.read_buf(&mut self.input).await {
                Ok(0) => {
                    assert!(
                        self.input.is_empty(),
                        "socket closed in the middle of a frame: {:?}",
                        &self.input[..]
                    );
                    return None;
                }
                Ok(_) => {}
                Err(e) if is_reset(&e) => return None,
                Err(e) => panic!("read from broker: {e}"),
            }
        }
    }

    /// The next method (heartbeats skipped) with its channel; fails the test on
    /// a closed socket or a content frame.
    pub async fn method(&mut self) -> (u16, AMQPClass) {
        loop {
            let frame = self
                .frame()
                .await
                .expect("broker closed the socket while a method was expected");
            match frame.kind {
                FrameKind::Heartbeat => continue,
                FrameKind::Method => return (frame.channel, parse_method(&frame.payload)),
                other => panic!("expected a method frame, got {other:?} {frame:?}"),
            }
        }
    }

    /// Waits for connection.close and returns what it says.
    pub async fn expect_connection_close(&mut self) -> CloseInfo {
        match self.method().await {
            (0, AMQPClass::Connection(connection::AMQPMethod::Close(c))) => CloseInfo {
                code: c.reply_code,
                text: c.reply_text.as_str().to_string(),
                class_id: c.class_id,
                method_id: c.method_id,
            },
            other => panic!("expected connection.close, got {other:?}"),
        }
    }

    /// Waits for channel.close on `ch` and returns what it says.
    pub async fn expect_channel_close(&mut self, ch: u16) -> CloseInfo {
        match self.method().await {
            (c, AMQPClass::Channel(channel::AMQPMethod::Close(cl))) if c == ch => CloseInfo {
                code: cl.reply_code,
                text: cl.reply_text.as_str().to_string(),
                class_id: cl.class_id,
                method_id: cl.method_id,
            },
            other => panic!("expected channel.close on {ch}, got {other:?}"),
        }
    }

    /// Answers a connection.close with close-ok and checks that the broker
    /// sends nothing more (heartbeats aside) and closes the socket.
    pub async fn finish_close(&mut self) {
        self.send_lossy(&connection_close_ok()).await;
        self.expect_eof_only().await;
    }

    /// Waits for connection.close, checks it, answers close-ok and waits for
    /// the socket to close.
    #[track_caller]
    pub fn expect_connection_error<'a>(
        &'a mut self,
        code: u16,
        ids: (u16, u16),
        phrase: &'a str,
    ) -> impl std::future::Future<Output = CloseInfo> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let close = self.expect_connection_close().await;
            if close.code != code
                || (close.class_id, close.method_id) != ids
                || !close.text.contains(phrase)
            {
                panic!(
                    "at {caller}: expected connection.close {code} {ids:?} containing \
                     {phrase:?}, got {close:?}"
                );
            }
            self.finish_close().await;
            close
        }
    }

    /// Reads until the socket closes; any frame other than a heartbeat fails.
    pub async fn expect_eof_only(&mut self) {
        while let Some(f) = self.frame().await {
            assert_eq!(
                f.kind,
                FrameKind::Heartbeat,
                "broker sent a frame after connection.close: {f:?}"
            );
        }
    }

    /// Reads until the socket closes, discarding anything received, for at most
    /// `bound`. Returns the raw bytes received, or None if still open.
    pub async fn drain_until_closed(&mut self, bound: Duration) -> Option<Vec<u8>> {
        let mut got = std::mem::take(&mut self.input).to_vec();
        let read_all = async {
            let mut chunk = [0u8; 4096];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) => return,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) if is_reset(&e) => return,
                    Err(e) => panic!("read from broker: {e}"),
                }
            }
        };
        match tokio::time::timeout(bound, read_all).await {
            Ok(()) => Some(got),
            Err(_) => None,
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

//! Handler-level fuzzing: the input is a script of well-formed AMQP methods
//! whose names, tags, keys and table keys have boundary lengths (0, 1, 254,
//! 255 bytes, multi-byte UTF-8 ending at the boundary; long strings of 256
//! and more), driven through a real in-process broker over a loopback socket:
//! the connection task, its channels and the core all run on it, not only
//! the codec.
//!
//! Each input gets a fresh broker. The script is a login (sometimes with a
//! boundary-length mechanism, vhost or a wrong password), the methods, and
//! connection.close; the target then reads the broker's answer to the end
//! and checks that
//! - nothing panics anywhere in the process (libFuzzer's panic hook aborts),
//! - every frame the broker sends decodes as a client would decode it,
//! - the broker closes the connection within a few seconds, and
//! - the connection leaves the registry (its cleanup ran).
//!
//! Input format: bytes are read front to back, a missing byte reads as 0.
//! The first byte picks the login; then each op is one byte (`op % OPS`)
//! followed by its parameters, each taken from one byte: a channel, a short
//! or long string (length class and fill), a flags byte, a field table
//! (entries, keys, value kinds). The seeds in `fuzz/corpus/session` are named
//! after the scenario they script (boundary names, a 404 and a 530 with long
//! texts, publish and get, dead-lettering, a headers exchange, confirms and
//! transactions, update-secret, odd logins). With `FUZZ_SESSION_TRACE=1` the
//! target prints every method the broker answers (to replay a crash).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use warren_amqp::Server;
use warren_codec::content::decode_content_header;
use warren_codec::frame::decode_frame;
use warren_codec::properties::encode_properties;
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::spec::{self, basic, channel, confirm, connection, exchange, queue, tx};
use warren_codec::{
    encode, AMQPClass, AMQPValue, FieldTable, FrameKind, LongString, ShortString, PROTOCOL_HEADER,
};
use warren_core::{Broker, BrokerConfig};

/// How long the broker may take to answer a whole script and close.
const DEADLINE: Duration = Duration::from_secs(8);
/// Most ops taken from one input.
const MAX_OPS: usize = 48;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Reads the input one byte at a time; past its end every byte is 0.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte() as usize % from.len()]
    }

    fn channel(&mut self) -> u16 {
        self.pick(&[1, 2, 1, 3, 1, 2, 0, 7])
    }

    /// A name of a boundary length: byte % 8 picks the length class, the
    /// next bits the fill (ASCII, 2-byte, 3-byte or 4-byte characters, the
    /// remainder padded with ASCII in front so the length is exact), and
    /// some values give well-known names instead.
    fn short(&mut self) -> String {
        let b = self.byte();
        if b >= 224 {
            return [
                "",
                "amq.direct",
                "amq.fanout",
                "amq.topic",
                "amq.headers",
                "amq.rabbitmq.reply-to",
                "amq.gen-fuzz",
                "q",
            ][(b - 224) as usize % 8]
                .to_string();
        }
        let len = [0, 1, 2, 8, 253, 254, 255, 255][b as usize % 8];
        boundary_string(len, (b / 8) % 4)
    }

    /// A long string: the short-string lengths and some longer than 255.
    fn long(&mut self) -> String {
        let b = self.byte();
        match b % 4 {
            0 => boundary_string([256, 257, 300, 1000][(b as usize / 4) % 4], (b / 16) % 4),
            _ => self.short_from(b),
        }
    }

    fn short_from(&mut self, b: u8) -> String {
        let len = [0, 1, 2, 8, 253, 254, 255, 255][(b as usize / 4) % 8];
        boundary_string(len, (b / 32) % 4)
    }

    /// A number of a boundary value.
    fn number(&mut self) -> i64 {
        self.pick(&[
            0,
            1,
            -1,
            2,
            10,
            255,
            256,
            1000,
            65_535,
            65_536,
            i32::MAX as i64,
            i32::MIN as i64,
            u32::MAX as i64,
            i64::MAX,
            i64::MIN,
            100,
        ])
    }

    fn value(&mut self, depth: u8) -> AMQPValue {
        match self.byte() % 10 {
            0 | 1 => AMQPValue::LongString(LongString::from(self.long().into_bytes())),
            2 => AMQPValue::LongLongInt(self.number()),
            3 => AMQPValue::LongInt(self.number() as i32),
            4 => AMQPValue::Boolean(self.flag()),
            5 => AMQPValue::ShortShortUInt(self.byte()),
            6 if depth < 2 => AMQPValue::FieldTable(self.table(depth + 1)),
            7 if depth < 2 => AMQPValue::FieldArray(
                (0..self.byte() % 3)
                    .map(|_| self.value(depth + 1))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            8 => AMQPValue::Double(self.number() as f64 / 3.0),
            _ => AMQPValue::Void,
        }
    }

    /// A table: known x-arguments and boundary-length keys.
    fn table(&mut self, depth: u8) -> FieldTable {
        let mut table = FieldTable::default();
        for _ in 0..self.byte() % 4 {
            let b = self.byte();
            let key = if b % 2 == 0 {
                KNOWN_KEYS[(b as usize / 2) % KNOWN_KEYS.len()].to_string()
            } else {
                self.short_from(b)
            };
            table.insert(short(&key), self.value(depth));
        }
        table
    }

    fn properties(&mut self) -> AMQPProperties {
        let set = self.byte();
        let mut p = AMQPProperties::default();
        if set & 1 != 0 {
            p = p.with_headers(self.table(0));
        }
        if set & 2 != 0 {
            let expiration = self.pick(&["0", "1", "100", "-1", "abc", "", "99999999999999999999"]);
            p = p.with_expiration(short(expiration));
        }
        if set & 4 != 0 {
            p = p.with_reply_to(short(&self.short()));
        }
        if set & 8 != 0 {
            p = p.with_correlation_id(short(&self.short()));
        }
        if set & 16 != 0 {
            let user = if self.flag() {
                "guest".to_string()
            } else {
                self.short()
            };
            p = p.with_user_id(short(&user));
        }
        if set & 32 != 0 {
            p = p.with_priority(self.byte());
        }
        if set & 64 != 0 {
            p = p.with_delivery_mode(self.pick(&[1, 2, 0, 3]));
        }
        if set & 128 != 0 {
            p = p
                .with_message_id(short(&self.short()))
                .with_content_type(short(&self.short()))
                .with_app_id(short(&self.short()))
                .with_type(short(&self.short()))
                .with_timestamp(self.number() as u64);
        }
        p
    }
}

/// Argument and header names the broker interprets.
const KNOWN_KEYS: &[&str] = &[
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "x-single-active-consumer",
    "x-max-priority",
    "x-queue-type",
    "x-queue-mode",
    "x-priority",
    "x-match",
    "alternate-exchange",
    "x-consumer-timeout",
    "CC",
    "BCC",
    "x-death",
];

/// Exactly `len` bytes: characters of `fill` (a, é, €, 😀) padded in front
/// with ASCII so that a multi-byte character ends right at the boundary.
fn boundary_string(len: usize, fill: u8) -> String {
    let c = ['a', 'é', '€', '😀'][fill as usize % 4];
    let count = len / c.len_utf8();
    let pad = len - count * c.len_utf8();
    let mut s = "p".repeat(pad);
    s.extend(std::iter::repeat_n(c, count));
    s
}

fn short(s: &str) -> ShortString {
    ShortString::try_new(s).unwrap_or_default()
}

/// The bytes a client sends for one input.
struct Script {
    bytes: Vec<u8>,
}

impl Script {
    fn method(&mut self, channel: u16, method: AMQPClass) {
        let mut out = BytesMut::new();
        encode::write_method(&mut out, channel, &method);
        self.bytes.extend_from_slice(&out);
    }

    fn content(&mut self, channel: u16, properties: &AMQPProperties, body: &[u8]) {
        let mut out = BytesMut::new();
        encode::write_content(
            &mut out,
            channel,
            &encode_properties(properties),
            body,
            4096,
        );
        self.bytes.extend_from_slice(&out);
    }

    fn build(data: &[u8]) -> Script {
        let mut input = Input { data };
        let mut script = Script {
            bytes: PROTOCOL_HEADER.to_vec(),
        };
        script.login(&mut input);
        let mut ops = 0;
        while !input.is_empty() && ops < MAX_OPS {
            script.op(&mut input);
            ops += 1;
        }
        script.method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: 200,
                reply_text: short("fuzz script done"),
                class_id: 0,
                method_id: 0,
            })),
        );
        script
    }

    fn login(&mut self, input: &mut Input) {
        // Mostly a good login: the refused ones cost the broker's 500 ms grace.
        let variant = input.byte() % 64;
        let mechanism = if variant == 0 {
            input.short()
        } else {
            "PLAIN".into()
        };
        let password: &[u8] = if variant == 2 { b"wrong" } else { b"guest" };
        let mut response = b"\0guest\0".to_vec();
        response.extend_from_slice(password);
        self.method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: input.table(0),
                mechanism: short(&mechanism),
                response: LongString::from(response),
                locale: short("en_US"),
            })),
        );
        self.method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 16,
                frame_max: 131_072,
                heartbeat: 0,
            })),
        );
        let vhost = if variant == 1 {
            input.short()
        } else {
            "/".into()
        };
        self.method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: short(&vhost),
            })),
        );
        self.method(
            1,
            AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
        );
    }

    fn op(&mut self, input: &mut Input) {
        const OPS: u8 = 28;
        let op = input.byte() % OPS;
        let ch = input.channel();
        let method = match op {
            0 => AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
            1 => AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: 200,
                reply_text: short(&input.short()),
                class_id: 0,
                method_id: 0,
            })),
            2 => AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
            3 => {
                let kind = match input.byte() % 6 {
                    0 => "direct".to_string(),
                    1 => "fanout".into(),
                    2 => "topic".into(),
                    3 => "headers".into(),
                    4 => "x-unknown".into(),
                    _ => input.short(),
                };
                let flags = input.byte();
                AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
                    exchange: short(&input.short()),
                    kind: short(&kind),
                    passive: flags & 1 != 0,
                    durable: flags & 2 != 0,
                    auto_delete: flags & 4 != 0,
                    internal: flags & 8 != 0,
                    nowait: flags & 16 != 0,
                    arguments: input.table(0),
                }))
            }
            4 => AMQPClass::Exchange(exchange::AMQPMethod::Delete(exchange::Delete {
                exchange: short(&input.short()),
                if_unused: input.flag(),
                nowait: false,
            })),
            5 | 6 => {
                let (destination, source, routing_key) = (
                    short(&input.short()),
                    short(&input.short()),
                    short(&input.short()),
                );
                let arguments = input.table(0);
                if op == 5 {
                    AMQPClass::Exchange(exchange::AMQPMethod::Bind(exchange::Bind {
                        destination,
                        source,
                        routing_key,
                        nowait: false,
                        arguments,
                    }))
                } else {
                    AMQPClass::Exchange(exchange::AMQPMethod::Unbind(exchange::Unbind {
                        destination,
                        source,
                        routing_key,
                        nowait: false,
                        arguments,
                    }))
                }
            }
            7 => {
                let flags = input.byte();
                AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                    queue: short(&input.short()),
                    passive: flags & 1 != 0,
                    durable: flags & 2 != 0,
                    exclusive: flags & 4 != 0,
                    auto_delete: flags & 8 != 0,
                    nowait: flags & 16 != 0,
                    arguments: input.table(0),
                }))
            }
            8 | 9 => {
                let (queue_name, exchange_name, routing_key) = (
                    short(&input.short()),
                    short(&input.short()),
                    short(&input.short()),
                );
                let arguments = input.table(0);
                if op == 8 {
                    AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
                        queue: queue_name,
                        exchange: exchange_name,
                        routing_key,
                        nowait: false,
                        arguments,
                    }))
                } else {
                    AMQPClass::Queue(queue::AMQPMethod::Unbind(queue::Unbind {
                        queue: queue_name,
                        exchange: exchange_name,
                        routing_key,
                        arguments,
                    }))
                }
            }
            10 => AMQPClass::Queue(queue::AMQPMethod::Purge(queue::Purge {
                queue: short(&input.short()),
                nowait: false,
            })),
            11 => AMQPClass::Queue(queue::AMQPMethod::Delete(queue::Delete {
                queue: short(&input.short()),
                if_unused: input.flag(),
                if_empty: input.flag(),
                nowait: false,
            })),
            12 => AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
                prefetch_count: input.pick(&[0, 1, 2, 65_535]),
                global: input.flag(),
            })),
            13 => {
                let flags = input.byte();
                AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
                    queue: short(&input.short()),
                    consumer_tag: short(&input.short()),
                    no_local: flags & 1 != 0,
                    no_ack: flags & 2 != 0,
                    exclusive: flags & 4 != 0,
                    nowait: flags & 8 != 0,
                    arguments: input.table(0),
                }))
            }
            14 => AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
                consumer_tag: short(&input.short()),
                nowait: input.flag(),
            })),
            15 => {
                let publish = basic::Publish {
                    exchange: short(&input.short()),
                    routing_key: short(&input.short()),
                    mandatory: input.flag(),
                    immediate: input.byte() == 255,
                };
                let properties = input.properties();
                let body = boundary_string([0, 1, 255, 5000][input.byte() as usize % 4], 0);
                self.method(ch, AMQPClass::Basic(basic::AMQPMethod::Publish(publish)));
                self.content(ch, &properties, body.as_bytes());
                return;
            }
            16 => AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
                queue: short(&input.short()),
                no_ack: input.flag(),
            })),
            17 => AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
                delivery_tag: input.byte() as u64 % 5,
                multiple: input.flag(),
            })),
            18 => AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag: input.byte() as u64 % 5,
                multiple: input.flag(),
                requeue: input.flag(),
            })),
            19 => AMQPClass::Basic(basic::AMQPMethod::Reject(basic::Reject {
                delivery_tag: input.byte() as u64 % 5,
                requeue: input.flag(),
            })),
            20 => AMQPClass::Basic(basic::AMQPMethod::Recover(basic::Recover {
                requeue: input.flag(),
            })),
            21 => AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
                nowait: false,
            })),
            22 => AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})),
            23 => AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})),
            24 => AMQPClass::Tx(tx::AMQPMethod::Rollback(tx::Rollback {})),
            25 => AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow {
                active: input.flag(),
            })),
            26 => {
                let update = connection::UpdateSecret {
                    new_secret: LongString::from(input.long().into_bytes()),
                    reason: short(&input.short()),
                };
                let method = AMQPClass::Connection(connection::AMQPMethod::UpdateSecret(update));
                // Channel 0 mostly; elsewhere it is a protocol error.
                self.method(if ch == 7 { ch } else { 0 }, method);
                return;
            }
            _ => {
                self.bytes
                    .extend_from_slice(&[FrameKind::Heartbeat as u8, 0, 0, 0, 0, 0, 0, 0xCE]);
                return;
            }
        };
        self.method(ch, method);
    }
}

/// Whether to print the broker's answers (`FUZZ_SESSION_TRACE` set).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_SESSION_TRACE").is_some())
}

/// What the client does after a frame of the broker's, as a real client would.
enum Reply {
    /// Answer the broker's connection.close with close-ok.
    CloseOk,
    /// The broker answered the client's connection.close: close the socket
    /// (RabbitMQ, and Warren, wait for the client to do so).
    Hangup,
}

/// Checks that a frame the broker sent decodes as a client would decode it,
/// and says what the client does next, if anything.
fn check_frame(kind: FrameKind, payload: bytes::Bytes) -> Option<Reply> {
    match kind {
        FrameKind::Method => match spec::parse_class(&payload[..]) {
            Ok((_, method)) => {
                if trace() {
                    eprintln!("broker: {method:?}");
                }
                match method {
                    AMQPClass::Connection(connection::AMQPMethod::Close(_)) => Some(Reply::CloseOk),
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => {
                        Some(Reply::Hangup)
                    }
                    _ => None,
                }
            }
            Err(e) => panic!("the broker sent an undecodable method {payload:?}: {e:?}"),
        },
        FrameKind::Header => {
            if let Err(e) = decode_content_header(payload.clone()) {
                panic!("the broker sent an undecodable content header {payload:?}: {e}");
            }
            None
        }
        FrameKind::Body | FrameKind::Heartbeat => None,
    }
}

/// connection.close-ok, as bytes.
fn close_ok() -> Vec<u8> {
    let mut out = BytesMut::new();
    let ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
    encode::write_method(&mut out, 0, &AMQPClass::Connection(ok));
    out.to_vec()
}

async fn run(script: Script) {
    let broker = Broker::new(BrokerConfig::default());
    let server = Server::bind(broker.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind a loopback port");
    let addr = server.local_addr();
    let handle = server.start();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the broker");
    let (mut reader, mut writer) = stream.into_split();
    // The reader asks the writer to answer the broker's connection.close,
    // or to close the socket once the broker has sent close-ok.
    let (answer, mut answers) = tokio::sync::mpsc::unbounded_channel::<Reply>();
    let write = async move {
        // The broker may close before reading everything: not an error.
        let _ = writer.write_all(&script.bytes).await;
        while let Some(reply) = answers.recv().await {
            match reply {
                Reply::CloseOk => {
                    let _ = writer.write_all(&close_ok()).await;
                }
                Reply::Hangup => {
                    let _ = writer.shutdown().await;
                    break;
                }
            }
        }
        writer
    };
    let read = async move {
        let mut input = BytesMut::new();
        loop {
            while let Some(frame) = decode_frame(&mut input, 0)
                .unwrap_or_else(|e| panic!("the broker sent an undecodable frame: {e}"))
            {
                if let Some(reply) = check_frame(frame.kind, frame.payload) {
                    let _ = answer.send(reply);
                }
            }
            match reader.read_buf(&mut input).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        assert!(
            input.is_empty(),
            "the broker closed in the middle of a frame: {:?}",
            &input[..]
        );
        drop(answer);
    };
    let started = std::time::Instant::now();
    let both = async { tokio::join!(write, read) };
    let (_writer, ()) = tokio::time::timeout(DEADLINE, both)
        .await
        .expect("the broker answers the script and closes the connection");
    // The connection's cleanup runs right after its socket closes.
    let gone = async {
        while !broker.registry.connections().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), gone)
        .await
        .expect("the closed connection leaves the registry");
    let closed = started.elapsed();
    handle.shutdown().await;
    broker.close();
    if trace() {
        eprintln!(
            "closed after {closed:?}, shut down after {:?}",
            started.elapsed()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let script = Script::build(data);
    runtime().block_on(run(script));
});

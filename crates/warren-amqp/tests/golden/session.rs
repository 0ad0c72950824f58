//! Runs a scenario against a broker address and records, for each step, the
//! frames the broker answered with, rendered as golden-file lines.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::script::{Action, Scenario, Step};
use super::spec::MethodSpec;
use super::value::Value;
use super::wire;

/// How long a step waits for its reply before recording `TIMEOUT`: above
/// RabbitMQ's 3 s delay before it closes a socket after a handshake error.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one step sent and received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's line.
    pub text: String,
    /// The replies, one rendered frame (or event) per line.
    pub replies: Vec<String>,
}

/// Values that legitimately differ between runs and brokers, and what
/// replaces them.
pub struct Masks(Vec<(Regex, &'static str)>);

impl Masks {
    /// Server-generated queue names, consumer tags and reply-to addresses.
    pub fn new() -> Self {
        let m = |re: &str, to| (Regex::new(re).expect("mask regex"), to);
        Masks(vec![
            m(r"amq\.gen-[A-Za-z0-9_\-]+", "amq.gen-*"),
            m(r"amq\.ctag-[A-Za-z0-9_\-]+", "amq.ctag-*"),
            m(
                r"amq\.rabbitmq\.reply-to\.[A-Za-z0-9_.=+/\-]+",
                "amq.rabbitmq.reply-to.*",
            ),
            // x-death's time: when the message died; its bytes then vary too.
            m(r#""time"=T:[0-9]+"#, r#""time"=T:*"#),
            m(r"(x-death.*) bytes=[0-9a-f]+", "$1 bytes=*"),
        ])
    }

    fn apply(&self, line: String) -> String {
        self.0
            .iter()
            .fold(line, |l, (re, to)| re.replace_all(&l, *to).into_owned())
    }
}

enum Event {
    Frame {
        kind: u8,
        channel: u16,
        payload: Vec<u8>,
        end: u8,
    },
    ProtocolHeader(Vec<u8>),
    /// Bytes left over when the socket closed mid-frame.
    Partial(Vec<u8>),
    Eof,
    Timeout,
}

struct Conn {
    stream: TcpStream,
    input: BytesMut,
    closed: bool,
    /// Body bytes still due for the last content-bearing method, if any.
    content_due: Option<Option<u64>>,
}

/// One scenario's run: its connections and what has been recorded.
struct Run<'a> {
    addr: SocketAddr,
    methods: &'a [MethodSpec],
    conns: Vec<Option<Conn>>,
}

/// Runs `scenario` against the broker at `addr`; with `expected`, stops
/// after the first step whose record differs (later steps would only wait on
/// a channel the difference closed).
pub async fn run(
    addr: SocketAddr,
    scenario: &Scenario,
    methods: &[MethodSpec],
    masks: &Masks,
    expected: Option<&[StepRecord]>,
) -> Vec<StepRecord> {
    let mut run = Run {
        addr,
        methods,
        conns: Vec::new(),
    };
    let mut out = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let replies = run.step(step).await;
        let record = StepRecord {
            text: step.text.clone(),
            replies: replies.into_iter().map(|l| masks.apply(l)).collect(),
        };
        let differs = expected.is_some_and(|e| e.get(i) != Some(&record));
        out.push(record);
        if differs {
            break;
        }
    }
    out
}

impl Run<'_> {
    async fn step(&mut self, step: &Step) -> Vec<String> {
        if let Action::Connect { .. } = step.action {
            return self.connect(step).await;
        }
        if let Action::Send { .. } = step.action {
            if self.conns.get(step.conn).is_none_or(|c| c.is_none()) {
                if let Err(e) = self.open_socket(step.conn).await {
                    return vec![format!("(connect failed: {e})")];
                }
            }
        }
        let methods = self.methods;
        let Some(Some(conn)) = self.conns.get_mut(step.conn) else {
            return vec![format!("(connection @{} is not open)", step.conn)];
        };
        if conn.closed {
            return vec!["(socket closed)".into()];
        }
        let mut lines = Vec::new();
        match &step.action {
            Action::Send {
                bytes,
                channel,
                replies,
            } => {
                if conn.stream.write_all(bytes).await.is_err() {
                    lines.push("(write failed)".into());
                }
                if !replies.is_empty() {
                    collect(conn, methods, *channel, replies, false, &mut lines).await;
                }
            }
            Action::Expect { channel, method } => {
                collect(
                    conn,
                    methods,
                    *channel,
                    &[method.as_str()],
                    false,
                    &mut lines,
                )
                .await;
            }
            Action::Eof => collect(conn, methods, 0, &[], true, &mut lines).await,
            Action::Connect { .. } => unreachable!(),
        }
        lines
    }

    /// Opens a bare TCP connection as connection `n` (for raw `send` steps).
    async fn open_socket(&mut self, n: usize) -> std::io::Result<()> {
        let stream = TcpStream::connect(self.addr).await?;
        let _ = stream.set_nodelay(true);
        while self.conns.len() <= n {
            self.conns.push(None);
        }
        self.conns[n] = Some(Conn {
            stream,
            input: BytesMut::new(),
            closed: false,
            content_due: None,
        });
        Ok(())
    }

    async fn connect(&mut self, step: &Step) -> Vec<String> {
        let Action::Connect {
            user,
            password,
            vhost,
            channel_max,
            frame_max,
        } = &step.action
        else {
            unreachable!()
        };
        let mut lines = Vec::new();
        let stream = match TcpStream::connect(self.addr).await {
            Ok(s) => s,
            Err(e) => return vec![format!("(connect failed: {e})")],
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            input: BytesMut::new(),
            closed: false,
            content_due: None,
        };
        let methods = self.methods;
        let handshake = async {
            send(&mut conn, b"AMQP\x00\x00\x09\x01").await;
            let mut seen = Vec::new();
            collect(
                &mut conn,
                methods,
                0,
                &["connection.start"],
                false,
                &mut seen,
            )
            .await;
            if seen.len() != 1 || !seen[0].starts_with("0 connection.start ") {
                lines.extend(seen);
                return;
            }
            let mut response = vec![0];
            response.extend_from_slice(user.as_bytes());
            response.push(0);
            response.extend_from_slice(password.as_bytes());
            send(&mut conn, &start_ok(methods, &response)).await;
            let mut seen = Vec::new();
            collect(
                &mut conn,
                methods,
                0,
                &["connection.tune"],
                false,
                &mut seen,
            )
            .await;
            if seen.len() != 1 || !seen[0].starts_with("0 connection.tune ") {
                lines.extend(seen);
                return;
            }
            let tune_ok = method_bytes(
                methods,
                "connection.tune-ok",
                &[
                    ("channel-max", channel_max.to_string()),
                    ("frame-max", frame_max.to_string()),
                    ("heartbeat", "0".into()),
                ],
            );
            let open = method_bytes(
                methods,
                "connection.open",
                &[("virtual-host", vhost.clone())],
            );
            send(&mut conn, &[tune_ok, open].concat()).await;
            collect(
                &mut conn,
                methods,
                0,
                &["connection.open-ok"],
                false,
                &mut lines,
            )
            .await;
        };
        handshake.await;
        while self.conns.len() <= step.conn {
            self.conns.push(None);
        }
        self.conns[step.conn] = Some(conn);
        lines
    }
}

async fn send(conn: &mut Conn, bytes: &[u8]) {
    let _ = conn.stream.write_all(bytes).await;
}

fn method_bytes(methods: &[MethodSpec], name: &str, args: &[(&str, String)]) -> Vec<u8> {
    let spec = methods
        .iter()
        .find(|m| m.name == name)
        .expect("known method");
    let args: Vec<(String, Value)> = args
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Word(v.clone())))
        .collect();
    let payload = wire::encode_method(spec, &args).expect("encodes");
    wire::frame(1, 0, &payload, 0xCE)
}

/// connection.start-ok announcing the capabilities current clients announce.
fn start_ok(methods: &[MethodSpec], response: &[u8]) -> Vec<u8> {
    let yes = || Value::Word("true".into());
    let caps: Vec<(Vec<u8>, Value)> = [
        "authentication_failure_close",
        "consumer_cancel_notify",
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "per_consumer_qos",
    ]
    .iter()
    .map(|c| (c.as_bytes().to_vec(), yes()))
    .collect();
    let props = Value::Table(vec![
        (
            b"product".to_vec(),
            Value::Str(b"warren golden harness".to_vec()),
        ),
        (b"capabilities".to_vec(), Value::Table(caps)),
    ]);
    let spec = methods
        .iter()
        .find(|m| m.name == "connection.start-ok")
        .expect("start-ok");
    let args = vec![
        ("client-properties".to_string(), props),
        ("mechanism".to_string(), Value::Word("PLAIN".into())),
        ("response".to_string(), Value::Str(response.to_vec())),
        ("locale".to_string(), Value::Word("en_US".into())),
    ];
    wire::frame(
        1,
        0,
        &wire::encode_method(spec, &args).expect("encodes"),
        0xCE,
    )
}

/// Reads frames into `lines` until one of `until` arrives on `channel` (with
/// its content, if it carries any), a channel.close on `channel`, a
/// connection.close, the end of the socket (all of it if `to_eof`) or the
/// timeout.
async fn collect(
    conn: &mut Conn,
    methods: &[MethodSpec],
    channel: u16,
    until: &[&str],
    to_eof: bool,
    lines: &mut Vec<String>,
) {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut done = false;
    loop {
        if done && conn.content_due.is_none() {
            return;
        }
        match next_event(conn, deadline).await {
            Event::Eof => {
                lines.push("EOF".into());
                conn.closed = true;
                return;
            }
            Event::Timeout => {
                lines.push("TIMEOUT".into());
                return;
            }
            Event::ProtocolHeader(bytes) => {
                lines.push(format!("protocol-header {}", super::value::quote(&bytes)))
            }
            Event::Partial(bytes) => {
                lines.push(format!("partial-frame {}", wire::hex(&bytes)));
            }
            Event::Frame {
                kind,
                channel: ch,
                payload,
                end,
            } => {
                let bad_end = if end == 0xCE {
                    String::new()
                } else {
                    format!(" frame-end={end}")
                };
                match kind {
                    1 => {
                        let (name, text) = wire::render_method(methods, &payload);
                        lines.push(format!("{ch} {text}{bad_end}"));
                        if methods.iter().any(|m| m.name == name && m.has_content) {
                            conn.content_due = Some(None);
                        }
                        let closes = name == "connection.close"
                            || (name == "channel.close" && ch == channel);
                        if !to_eof && (closes || (ch == channel && until.contains(&name.as_str())))
                        {
                            done = true;
                        }
                    }
                    2 => {
                        lines.push(format!("{ch} {}{bad_end}", wire::render_header(&payload)));
                        let size = wire::header_body_size(&payload).unwrap_or(0);
                        conn.content_due = if size == 0 { None } else { Some(Some(size)) };
                    }
                    3 => {
                        lines.push(format!(
                            "{ch} body {}{bad_end}",
                            super::value::quote(&payload)
                        ));
                        if let Some(Some(due)) = conn.content_due {
                            let left = due.saturating_sub(payload.len() as u64);
                            conn.content_due = if left == 0 { None } else { Some(Some(left)) };
                        }
                    }
                    8 => lines.push(format!("{ch} heartbeat{bad_end}")),
                    other => lines.push(format!("{ch} frame-type-{other} {}", wire::hex(&payload))),
                }
            }
        }
    }
}

async fn next_event(conn: &mut Conn, deadline: Instant) -> Event {
    loop {
        if conn.input.len() >= 8 && &conn.input[..4] == b"AMQP" {
            let header = conn.input.split_to(8).to_vec();
            return Event::ProtocolHeader(header);
        }
        if conn.input.len() >= 7 {
            let size =
                u32::from_be_bytes([conn.input[3], conn.input[4], conn.input[5], conn.input[6]])
                    as usize;
            if conn.input.len() >= size + 8 {
                let kind = conn.input[0];
                let channel = u16::from_be_bytes([conn.input[1], conn.input[2]]);
                conn.input.advance(7);
                let payload = conn.input.split_to(size).to_vec();
                let end = conn.input[0];
                conn.input.advance(1);
                return Event::Frame {
                    kind,
                    channel,
                    payload,
                    end,
                };
            }
        }
        let read = tokio::time::timeout_at(deadline, conn.stream.read_buf(&mut conn.input)).await;
        match read {
            Err(_) => return Event::Timeout,
            Ok(Ok(0)) | Ok(Err(_)) => {
                if !conn.input.is_empty() {
                    let rest = conn.input.split().to_vec();
                    return Event::Partial(rest);
                }
                return Event::Eof;
            }
            Ok(Ok(_)) => {}
        }
    }
}

//! Scenario files: `scenario NAME` starts a scenario, each following line is a
//! step (see tests/golden/README.md for the syntax); `#` starts a comment line.

use super::spec::{self, MethodSpec};
use super::value::{Cursor, Value};
use super::wire;

/// One scenario of a scenario file.
#[derive(Debug)]
pub struct Scenario {
    /// Unique name (also the key in the golden file).
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// One line of a scenario.
#[derive(Debug)]
pub struct Step {
    /// The line as written (trimmed); golden files repeat it.
    pub text: String,
    /// Which of the scenario's connections (1 unless `@N` is given).
    pub conn: usize,
    /// What to do.
    pub action: Action,
}

/// What a step does.
#[derive(Debug)]
pub enum Action {
    /// Open connection `conn` with a full handshake and record its outcome.
    Connect {
        user: String,
        password: String,
        vhost: String,
        channel_max: u16,
        frame_max: u32,
    },
    /// Send these bytes, then wait for one of `replies` on `channel` (none:
    /// do not wait). `content` adds a header and one body frame.
    Send {
        bytes: Vec<u8>,
        channel: u16,
        replies: Vec<&'static str>,
    },
    /// Wait for `method` on `channel`, recording everything before it.
    Expect { channel: u16, method: String },
    /// Read until the broker closes the socket.
    Eof,
}

/// Parses a scenario file.
pub fn parse(text: &str, methods: &[MethodSpec]) -> Result<Vec<Scenario>, String> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |e: String| format!("line {}: {e}: {line}", n + 1);
        if let Some(name) = line.strip_prefix("scenario ") {
            let name = name.trim().to_string();
            if scenarios.iter().any(|s| s.name == name) {
                return Err(fail("duplicate scenario name".into()));
            }
            scenarios.push(Scenario {
                name,
                steps: Vec::new(),
            });
            continue;
        }
        let step = parse_step(line, methods).map_err(fail)?;
        scenarios
            .last_mut()
            .ok_or_else(|| fail("step before any scenario".into()))?
            .steps
            .push(step);
    }
    Ok(scenarios)
}

fn parse_step(line: &str, methods: &[MethodSpec]) -> Result<Step, String> {
    let mut c = Cursor::new(line);
    let mut first = c.word().map_err(|e| e.0)?;
    let mut conn = 1;
    if let Some(n) = first.strip_prefix('@') {
        conn = n.parse().map_err(|_| "bad @connection".to_string())?;
        c.skip_spaces();
        first = c.word().map_err(|e| e.0)?;
    }
    let action = match first.as_str() {
        "connect" => connect(&args(&mut c)?)?,
        "eof" => Action::Eof,
        "expect" => {
            c.skip_spaces();
            let channel = number(&c.word().map_err(|e| e.0)?)?;
            c.skip_spaces();
            let method = c.word().map_err(|e| e.0)?;
            if !methods.iter().any(|m| m.name == method) {
                return Err(format!("unknown method {method}"));
            }
            Action::Expect { channel, method }
        }
        "send" => {
            c.skip_spaces();
            let bytes = match c.value().map_err(|e| e.0)? {
                Value::Str(b) => b,
                other => return Err(format!("send takes a string, got {other:?}")),
            };
            Action::Send {
                bytes,
                channel: 0,
                replies: Vec::new(),
            }
        }
        "frame" => raw_frame(&args(&mut c)?)?,
        ch => {
            let channel = number(ch)?;
            c.skip_spaces();
            let name = c.word().map_err(|e| e.0)?;
            let a = args(&mut c)?;
            match name.as_str() {
                "header" => content_header(channel, &a)?,
                "body" => Action::Send {
                    bytes: wire::frame(3, channel, &bytes_arg(&a, "data")?, 0xCE),
                    channel,
                    replies: Vec::new(),
                },
                _ => method(channel, &name, a, methods)?,
            }
        }
    };
    Ok(Step {
        text: line.to_string(),
        conn,
        action,
    })
}

fn args(c: &mut Cursor) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    while c.skip_spaces() {
        let key = c.word().map_err(|e| e.0)?;
        c.expect('=').map_err(|e| e.0)?;
        let value = c.value().map_err(|e| e.0)?;
        out.push((key, value));
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(w: &str) -> Result<T, String> {
    w.parse().map_err(|_| format!("not a number: {w}"))
}

fn word_arg(a: &[(String, Value)], key: &str) -> Option<String> {
    a.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
        Value::Word(w) => Some(w.clone()),
        Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    })
}

fn bytes_arg(a: &[(String, Value)], key: &str) -> Result<Vec<u8>, String> {
    match a.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(Value::Word(w)) => Ok(w.clone().into_bytes()),
        None => Ok(Vec::new()),
        Some(other) => Err(format!("{key}: expected a string, got {other:?}")),
    }
}

fn connect(a: &[(String, Value)]) -> Result<Action, String> {
    let user = word_arg(a, "user").unwrap_or_else(|| "guest".into());
    Ok(Action::Connect {
        password: word_arg(a, "password").unwrap_or_else(|| user.clone()),
        user,
        vhost: word_arg(a, "vhost").unwrap_or_else(|| "/".into()),
        channel_max: word_arg(a, "channel-max").map_or(Ok(2047), |w| number(&w))?,
        frame_max: word_arg(a, "frame-max").map_or(Ok(131_072), |w| number(&w))?,
    })
}

fn raw_frame(a: &[(String, Value)]) -> Result<Action, String> {
    let kind = word_arg(a, "type").map_or(Ok(1), |w| number(&w))?;
    let channel = word_arg(a, "channel").map_or(Ok(0), |w| number(&w))?;
    let end = word_arg(a, "end").map_or(Ok(0xCE), |w| number(&w))?;
    let payload = bytes_arg(a, "payload")?;
    let mut bytes = wire::frame(kind, channel, &payload, end);
    if let Some(size) = word_arg(a, "size") {
        // A lying size field, for frame-size violations.
        let size: u32 = number(&size)?;
        bytes[3..7].copy_from_slice(&size.to_be_bytes());
    }
    Ok(Action::Send {
        bytes,
        channel,
        replies: Vec::new(),
    })
}

fn content_header(channel: u16, a: &[(String, Value)]) -> Result<Action, String> {
    let size: u64 = word_arg(a, "body-size").map_or(Ok(0), |w| number(&w))?;
    let props = properties(a)?;
    Ok(Action::Send {
        bytes: wire::frame(2, channel, &wire::content_header(size, &props), 0xCE),
        channel,
        replies: Vec::new(),
    })
}

fn properties(a: &[(String, Value)]) -> Result<Vec<u8>, String> {
    match a.iter().find(|(k, _)| k == "props").map(|(_, v)| v) {
        None => wire::encode_properties(&[]),
        Some(Value::Table(t)) => wire::encode_properties(t),
        Some(other) => Err(format!("props: expected a table, got {other:?}")),
    }
}

/// A method step; for content-bearing methods `props=` and `body=` give the
/// content (sent as a header and one body frame, none if the body is empty).
fn method(
    channel: u16,
    name: &str,
    a: Vec<(String, Value)>,
    methods: &[MethodSpec],
) -> Result<Action, String> {
    let spec = methods
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| format!("unknown method {name}"))?;
    let (content_args, fields): (Vec<_>, Vec<_>) = a
        .into_iter()
        .partition(|(k, _)| spec.has_content && (k == "props" || k == "body"));
    let nowait = fields
        .iter()
        .any(|(k, v)| (k == "no-wait") && *v == Value::Word("1".into()));
    let payload = wire::encode_method(spec, &fields)?;
    let mut bytes = wire::frame(1, channel, &payload, 0xCE);
    if spec.has_content {
        let body = bytes_arg(&content_args, "body")?;
        let props = properties(&content_args)?;
        bytes.extend(wire::frame(
            2,
            channel,
            &wire::content_header(body.len() as u64, &props),
            0xCE,
        ));
        if !body.is_empty() {
            bytes.extend(wire::frame(3, channel, &body, 0xCE));
        }
    }
    let replies = if nowait {
        Vec::new()
    } else {
        spec::replies_to(name).to_vec()
    };
    Ok(Action::Send {
        bytes,
        channel,
        replies,
    })
}

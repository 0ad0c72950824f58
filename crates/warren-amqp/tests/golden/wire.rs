//! Encoding scenario steps into frames and rendering received frames as the
//! text lines that golden files hold, with the [`spec`](super::spec) table.

use std::fmt::Write;

use super::spec::{FieldType, MethodSpec, BASIC_PROPERTIES};
use super::value::{quote, Value};

/// Bytes of one frame.
pub fn frame(kind: u8, channel: u16, payload: &[u8], end: u8) -> Vec<u8> {
    let mut b = vec![kind];
    b.extend_from_slice(&channel.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b.push(end);
    b
}

/// Encodes a method's arguments; `args` gives values by field name, the
/// others take their zero value.
pub fn encode_method(spec: &MethodSpec, args: &[(String, Value)]) -> Result<Vec<u8>, String> {
    for (name, _) in args {
        if !spec.fields.iter().any(|(f, _)| f == name) {
            return Err(format!("{} has no field {name}", spec.name));
        }
    }
    let mut out = spec.class_id.to_be_bytes().to_vec();
    out.extend_from_slice(&spec.method_id.to_be_bytes());
    let mut bits: Option<(usize, u8)> = None;
    for (field, ty) in &spec.fields {
        let value = args.iter().find(|(n, _)| n == field).map(|(_, v)| v);
        if *ty == FieldType::Bit {
            let (at, bit) = match bits {
                Some((at, bit)) if bit < 8 => (at, bit),
                _ => {
                    out.push(0);
                    (out.len() - 1, 0)
                }
            };
            if value.map(as_bool).transpose()?.unwrap_or(false) {
                out[at] |= 1 << bit;
            }
            bits = Some((at, bit + 1));
            continue;
        }
        bits = None;
        encode_field(&mut out, *ty, value)?;
    }
    Ok(out)
}

fn encode_field(out: &mut Vec<u8>, ty: FieldType, value: Option<&Value>) -> Result<(), String> {
    match ty {
        FieldType::Octet => out.push(value.map(as_int).transpose()?.unwrap_or(0) as u8),
        FieldType::Short => out
            .extend_from_slice(&(value.map(as_int).transpose()?.unwrap_or(0) as u16).to_be_bytes()),
        FieldType::Long => out
            .extend_from_slice(&(value.map(as_int).transpose()?.unwrap_or(0) as u32).to_be_bytes()),
        FieldType::LongLong => out
            .extend_from_slice(&(value.map(as_int).transpose()?.unwrap_or(0) as u64).to_be_bytes()),
        FieldType::ShortStr => {
            let s = value.map(as_bytes).transpose()?.unwrap_or_default();
            // Deliberately unchecked: scenarios send over-long names on purpose
            // only through raw frames; here the length must fit.
            let len =
                u8::try_from(s.len()).map_err(|_| format!("shortstr of {} bytes", s.len()))?;
            out.push(len);
            out.extend_from_slice(&s);
        }
        FieldType::LongStr => {
            let s = value.map(as_bytes).transpose()?.unwrap_or_default();
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(&s);
        }
        FieldType::Table => {
            let entries = match value {
                None => Vec::new(),
                Some(Value::Table(e)) => e.clone(),
                Some(other) => return Err(format!("expected a table, got {other:?}")),
            };
            encode_table(out, &entries)?;
        }
        FieldType::Bit => unreachable!("bits are packed by the caller"),
    }
    Ok(())
}

fn as_int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Word(w) => w.parse().map_err(|_| format!("not a number: {w}")),
        other => Err(format!("not a number: {other:?}")),
    }
}

fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Word(w) if w == "1" || w == "true" => Ok(true),
        Value::Word(w) if w == "0" || w == "false" => Ok(false),
        other => Err(format!("not a bit: {other:?}")),
    }
}

fn as_bytes(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Word(w) => Ok(w.clone().into_bytes()),
        other => Err(format!("not a string: {other:?}")),
    }
}

/// Encodes a field table (4-byte length, then entries).
pub fn encode_table(out: &mut Vec<u8>, entries: &[(Vec<u8>, Value)]) -> Result<(), String> {
    let mut body = Vec::new();
    for (key, value) in entries {
        body.push(u8::try_from(key.len()).map_err(|_| "table key too long".to_string())?);
        body.extend_from_slice(key);
        encode_field_value(&mut body, value)?;
    }
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

fn encode_field_value(out: &mut Vec<u8>, value: &Value) -> Result<(), String> {
    let (tag, inner) = match value {
        Value::Typed(tag, inner) => (*tag, inner.as_ref()),
        Value::Str(_) => ('S', value),
        Value::Table(_) => ('F', value),
        Value::Array(_) => ('A', value),
        Value::Word(w) if w == "true" || w == "false" => ('t', value),
        Value::Word(w) if w.parse::<i32>().is_ok() => ('I', value),
        Value::Word(_) => ('S', value),
    };
    out.push(tag as u8);
    match tag {
        't' => out.push(as_bool(inner)? as u8),
        'b' | 'B' => out.push(as_int(inner)? as u8),
        's' | 'u' => out.extend_from_slice(&(as_int(inner)? as u16).to_be_bytes()),
        'I' | 'i' => out.extend_from_slice(&(as_int(inner)? as u32).to_be_bytes()),
        'l' | 'T' => out.extend_from_slice(&(as_int(inner)? as u64).to_be_bytes()),
        'f' => out.extend_from_slice(&(as_float(inner)? as f32).to_be_bytes()),
        'd' => out.extend_from_slice(&as_float(inner)?.to_be_bytes()),
        'D' => {
            let (scale, digits) = match inner {
                Value::Word(w) => w.split_once('e').ok_or("decimal as SCALEeDIGITS")?,
                _ => return Err("decimal as SCALEeDIGITS".into()),
            };
            out.push(scale.parse::<u8>().map_err(|e| e.to_string())?);
            out.extend_from_slice(
                &digits
                    .parse::<u32>()
                    .map_err(|e| e.to_string())?
                    .to_be_bytes(),
            );
        }
        'S' | 'x' => {
            let s = as_bytes(inner)?;
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(&s);
        }
        'F' => match inner {
            Value::Table(e) => encode_table(out, e)?,
            other => return Err(format!("F: expected a table, got {other:?}")),
        },
        'A' => match inner {
            Value::Array(items) => {
                let mut body = Vec::new();
                for item in items {
                    encode_field_value(&mut body, item)?;
                }
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(&body);
            }
            other => return Err(format!("A: expected an array, got {other:?}")),
        },
        'V' => {}
        other => return Err(format!("unknown field type tag {other}")),
    }
    Ok(())
}

fn as_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Word(w) => w.parse().map_err(|_| format!("not a float: {w}")),
        other => Err(format!("not a float: {other:?}")),
    }
}

/// Encodes basic properties (flags, then the present fields) from a table
/// of property names.
pub fn encode_properties(props: &[(Vec<u8>, Value)]) -> Result<Vec<u8>, String> {
    let mut flags: u16 = 0;
    let mut body = Vec::new();
    for (i, (name, ty)) in BASIC_PROPERTIES.iter().enumerate() {
        let Some((_, value)) = props.iter().find(|(k, _)| k == name.as_bytes()) else {
            continue;
        };
        flags |= 1 << (15 - i);
        encode_field(&mut body, *ty, Some(value))?;
    }
    for (key, _) in props {
        if !BASIC_PROPERTIES
            .iter()
            .any(|(n, _)| n.as_bytes() == key.as_slice())
        {
            return Err(format!("unknown property {}", String::from_utf8_lossy(key)));
        }
    }
    let mut out = flags.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// A content header frame's payload for class 60.
pub fn content_header(body_size: u64, properties: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, 60, 0, 0];
    payload.extend_from_slice(&body_size.to_be_bytes());
    payload.extend_from_slice(properties);
    payload
}

/// A reader over received bytes that fails softly (returns None) on short
/// input, so undecodable replies are rendered instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }
    fn shortstr(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn longstr(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Renders a method payload as `name field=value ...` (reserved fields left
/// out); `None` if the payload does not decode. Also returns the method name.
pub fn render_method(methods: &[MethodSpec], payload: &[u8]) -> (String, String) {
    match try_render_method(methods, payload) {
        Some(r) => r,
        None => ("?".into(), format!("undecodable-method {}", hex(payload))),
    }
}

fn try_render_method(methods: &[MethodSpec], payload: &[u8]) -> Option<(String, String)> {
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let class_id = r.u16()?;
    let method_id = r.u16()?;
    let spec = methods
        .iter()
        .find(|m| m.class_id == class_id && m.method_id == method_id)?;
    let mut out = spec.name.to_string();
    let mut bits: Option<(u8, u8)> = None;
    for (field, ty) in &spec.fields {
        let rendered = match ty {
            FieldType::Bit => {
                let (byte, bit) = match bits {
                    Some((byte, bit)) if bit < 8 => (byte, bit),
                    _ => (r.u8()?, 0),
                };
                bits = Some((byte, bit + 1));
                ((byte >> bit) & 1).to_string()
            }
            other => {
                bits = None;
                render_field(&mut r, *other)?
            }
        };
        if field.starts_with("reserved") {
            continue;
        }
        let rendered = if *field == "server-properties" {
            "*".to_string()
        } else {
            rendered
        };
        let _ = write!(out, " {field}={rendered}");
    }
    if r.pos != payload.len() {
        let _ = write!(out, " trailing={}", hex(&payload[r.pos..]));
    }
    Some((spec.name.to_string(), out))
}

fn render_field(r: &mut Reader, ty: FieldType) -> Option<String> {
    Some(match ty {
        FieldType::Octet => r.u8()?.to_string(),
        FieldType::Short => r.u16()?.to_string(),
        FieldType::Long => r.u32()?.to_string(),
        FieldType::LongLong => r.u64()?.to_string(),
        FieldType::ShortStr => quote(r.shortstr()?),
        FieldType::LongStr => quote(r.longstr()?),
        FieldType::Table => render_table(r.longstr()?)?,
        FieldType::Bit => unreachable!("bits are unpacked by the caller"),
    })
}

fn render_table(bytes: &[u8]) -> Option<String> {
    let mut r = Reader { bytes, pos: 0 };
    let mut parts = Vec::new();
    while r.pos < bytes.len() {
        let key = quote(r.shortstr()?);
        parts.push(format!("{key}={}", render_field_value(&mut r)?));
    }
    Some(format!("{{{}}}", parts.join(", ")))
}

fn render_field_value(r: &mut Reader) -> Option<String> {
    let tag = r.u8()? as char;
    let inner = match tag {
        't' => (r.u8()? != 0).to_string(),
        'b' => (r.u8()? as i8).to_string(),
        'B' => r.u8()?.to_string(),
        's' => (r.u16()? as i16).to_string(),
        'u' => r.u16()?.to_string(),
        'I' => (r.u32()? as i32).to_string(),
        'i' => r.u32()?.to_string(),
        'l' => (r.u64()? as i64).to_string(),
        'T' => r.u64()?.to_string(),
        'f' => f32::from_bits(r.u32()?).to_string(),
        'd' => f64::from_bits(r.u64()?).to_string(),
        'D' => {
            let scale = r.u8()?;
            format!("{scale}e{}", r.u32()?)
        }
        'S' | 'x' => quote(r.longstr()?),
        'F' => render_table(r.longstr()?)?,
        'A' => {
            let body = r.longstr()?;
            let mut inner = Reader {
                bytes: body,
                pos: 0,
            };
            let mut items = Vec::new();
            while inner.pos < body.len() {
                items.push(render_field_value(&mut inner)?);
            }
            format!("[{}]", items.join(", "))
        }
        'V' => String::new(),
        _ => return None,
    };
    Some(format!("{tag}:{inner}"))
}

/// Renders a content header payload: class, body size, decoded properties
/// and their exact bytes.
pub fn render_header(payload: &[u8]) -> String {
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let parsed = (|| {
        let class_id = r.u16()?;
        let _weight = r.u16()?;
        let size = r.u64()?;
        let start = r.pos;
        let flags = r.u16()?;
        let mut props = Vec::new();
        for (i, (name, ty)) in BASIC_PROPERTIES.iter().enumerate() {
            if flags & (1 << (15 - i)) != 0 {
                props.push(format!("{name}={}", render_field(&mut r, *ty)?));
            }
        }
        Some(format!(
            "header class-id={class_id} body-size={size} props={{{}}} bytes={}",
            props.join(", "),
            hex(&payload[start..])
        ))
    })();
    parsed.unwrap_or_else(|| format!("undecodable-header {}", hex(payload)))
}

/// The body size a content header announces.
pub fn header_body_size(payload: &[u8]) -> Option<u64> {
    let mut r = Reader {
        bytes: payload,
        pos: 4,
    };
    r.u64()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

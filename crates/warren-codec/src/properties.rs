//! Read access to raw basic properties without decoding all of them, and full
//! decoding/encoding through `amq-protocol` when a property must change.

use amq_protocol::protocol::basic::{gen_properties, parse_properties, AMQPProperties};
use bytes::Bytes;

use crate::CodecError;

/// Property flag bits, in wire order (bit 15 first).
const FLAG_CONTENT_TYPE: u16 = 1 << 15;
const FLAG_CONTENT_ENCODING: u16 = 1 << 14;
const FLAG_HEADERS: u16 = 1 << 13;
const FLAG_DELIVERY_MODE: u16 = 1 << 12;
const FLAG_PRIORITY: u16 = 1 << 11;
const FLAG_CORRELATION_ID: u16 = 1 << 10;
const FLAG_REPLY_TO: u16 = 1 << 9;
const FLAG_EXPIRATION: u16 = 1 << 8;
const FLAG_MESSAGE_ID: u16 = 1 << 7;
const FLAG_TIMESTAMP: u16 = 1 << 6;
const FLAG_TYPE: u16 = 1 << 5;
const FLAG_USER_ID: u16 = 1 << 4;
const FLAG_APP_ID: u16 = 1 << 3;
const FLAG_CLUSTER_ID: u16 = 1 << 2;

/// How each property is laid out on the wire.
#[derive(Clone, Copy)]
enum Layout {
    ShortStr,
    Table,
    Octet,
    LongLong,
}

const LAYOUT: [(u16, Layout); 14] = [
    (FLAG_CONTENT_TYPE, Layout::ShortStr),
    (FLAG_CONTENT_ENCODING, Layout::ShortStr),
    (FLAG_HEADERS, Layout::Table),
    (FLAG_DELIVERY_MODE, Layout::Octet),
    (FLAG_PRIORITY, Layout::Octet),
    (FLAG_CORRELATION_ID, Layout::ShortStr),
    (FLAG_REPLY_TO, Layout::ShortStr),
    (FLAG_EXPIRATION, Layout::ShortStr),
    (FLAG_MESSAGE_ID, Layout::ShortStr),
    (FLAG_TIMESTAMP, Layout::LongLong),
    (FLAG_TYPE, Layout::ShortStr),
    (FLAG_USER_ID, Layout::ShortStr),
    (FLAG_APP_ID, Layout::ShortStr),
    (FLAG_CLUSTER_ID, Layout::ShortStr),
];

/// The properties a broker reads from every message, found in one walk of
/// the property list by [`RawProperties::scan`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The raw headers table (length prefix included).
    pub headers: Option<&'a [u8]>,
    /// The delivery mode (2 = persistent).
    pub delivery_mode: Option<u8>,
    /// The priority.
    pub priority: Option<u8>,
    /// The per-message TTL string.
    pub expiration: Option<&'a [u8]>,
    /// The timestamp (seconds since the Unix epoch).
    pub timestamp: Option<u64>,
    /// The reply-to address.
    pub reply_to: Option<&'a [u8]>,
    /// The user id the publisher claims.
    pub user_id: Option<&'a [u8]>,
}

/// A borrowed view of raw property bytes (flags followed by the property list).
#[derive(Clone, Copy)]
pub struct RawProperties<'a> {
    raw: &'a [u8],
}

impl<'a> RawProperties<'a> {
    /// Wraps raw property bytes as found in a content header after the body size.
    pub fn new(raw: &'a [u8]) -> Self {
        RawProperties { raw }
    }

    fn flags(&self) -> u16 {
        match self.raw {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    /// Checks that every present property fits in the bytes and nothing is left over
    /// beyond the list (continuation flags are not used by AMQP 0-9-1).
    pub fn validate(&self) -> Result<(), CodecError> {
        if self.raw.len() < 2 || self.flags() & 1 != 0 {
            return Err(CodecError::BadContentHeader);
        }
        let end = self.walk(None).ok_or(CodecError::BadContentHeader)?;
        if end.0 != self.raw.len() {
            return Err(CodecError::BadContentHeader);
        }
        self.check_headers_depth()
    }

    /// Rejects a headers table nested deeper than [`crate::depth::MAX_TABLE_DEPTH`].
    pub fn check_headers_depth(&self) -> Result<(), CodecError> {
        match self.walk(Some(FLAG_HEADERS)) {
            Some((start, end)) => crate::depth::check_table(&self.raw[start..end]),
            None => Ok(()),
        }
    }

    /// Walks the property list; with `want`, stops at that property and returns its
    /// (start, end) span; without, returns (end of list, end of list).
    fn walk(&self, want: Option<u16>) -> Option<(usize, usize)> {
        let flags = self.flags();
        let mut pos = 2usize;
        for (flag, layout) in LAYOUT {
            if flags & flag == 0 {
                if want == Some(flag) {
                    return None;
                }
                continue;
            }
            let start = pos;
            pos += field_len(self.raw, pos, layout)?;
            if pos > self.raw.len() {
                return None;
            }
            if want == Some(flag) {
                return Some((start, pos));
            }
        }
        Some((pos, pos))
    }

    /// The headers, delivery mode, priority, expiration, timestamp, reply-to
    /// and user id, in one walk; None if the property list is malformed.
    pub fn scan(&self) -> Option<Scan<'a>> {
        let flags = self.flags();
        let mut pos = 2usize;
        let mut scan = Scan::default();
        for (flag, layout) in LAYOUT {
            if flags & flag == 0 {
                continue;
            }
            let start = pos;
            pos += field_len(self.raw, pos, layout)?;
            let value = self.raw.get(start..pos)?;
            match flag {
                FLAG_HEADERS => scan.headers = Some(value),
                FLAG_DELIVERY_MODE => scan.delivery_mode = Some(value[0]),
                FLAG_PRIORITY => scan.priority = Some(value[0]),
                FLAG_EXPIRATION => scan.expiration = Some(&value[1..]),
                FLAG_TIMESTAMP => scan.timestamp = Some(u64::from_be_bytes(value.try_into().ok()?)),
                FLAG_REPLY_TO => scan.reply_to = Some(&value[1..]),
                FLAG_USER_ID => scan.user_id = Some(&value[1..]),
                _ => {}
            }
        }
        Some(scan)
    }

    fn short_str(&self, flag: u16) -> Option<&'a [u8]> {
        let (start, end) = self.walk(Some(flag))?;
        Some(&self.raw[start + 1..end])
    }

    fn octet(&self, flag: u16) -> Option<u8> {
        let (start, _) = self.walk(Some(flag))?;
        Some(self.raw[start])
    }

    /// The delivery mode (2 = persistent), if set.
    pub fn delivery_mode(&self) -> Option<u8> {
        self.octet(FLAG_DELIVERY_MODE)
    }

    /// The message priority, if set.
    pub fn priority(&self) -> Option<u8> {
        self.octet(FLAG_PRIORITY)
    }

    /// The reply-to address, if set.
    pub fn reply_to(&self) -> Option<&'a [u8]> {
        self.short_str(FLAG_REPLY_TO)
    }

    /// The per-message TTL string (milliseconds), if set.
    pub fn expiration(&self) -> Option<&'a [u8]> {
        self.short_str(FLAG_EXPIRATION)
    }

    /// The user-id property, if set.
    pub fn user_id(&self) -> Option<&'a [u8]> {
        self.short_str(FLAG_USER_ID)
    }

    /// Whether a headers table is present.
    pub fn has_headers(&self) -> bool {
        self.flags() & FLAG_HEADERS != 0
    }

    /// The raw headers table (length prefix included), if present.
    pub fn headers_table(&self) -> Option<&'a [u8]> {
        let (start, end) = self.walk(Some(FLAG_HEADERS))?;
        Some(&self.raw[start..end])
    }

    /// The same property bytes with `headers` (a length-prefixed table) as
    /// the headers and no `expiration`, every other property copied as it is:
    /// what a dead-lettered message carries. None if the bytes are malformed.
    pub fn with_headers_without_expiration(&self, headers: &[u8]) -> Option<Bytes> {
        let flags = self.flags();
        let new_flags = (flags | FLAG_HEADERS) & !FLAG_EXPIRATION;
        let mut out = Vec::with_capacity(self.raw.len() + headers.len());
        out.extend_from_slice(&new_flags.to_be_bytes());
        for (flag, _) in LAYOUT {
            if flag == FLAG_HEADERS {
                out.extend_from_slice(headers);
            } else if new_flags & flag != 0 {
                let (start, end) = self.walk(Some(flag))?;
                out.extend_from_slice(&self.raw[start..end]);
            }
        }
        Some(Bytes::from(out))
    }

    /// The same property bytes without `expiration`, every other property
    /// copied as it is. None if the bytes are malformed.
    pub fn without_expiration(&self) -> Option<Bytes> {
        let flags = self.flags() & !FLAG_EXPIRATION;
        let mut out = Vec::with_capacity(self.raw.len());
        out.extend_from_slice(&flags.to_be_bytes());
        for (flag, _) in LAYOUT {
            if flags & flag != 0 {
                let (start, end) = self.walk(Some(flag))?;
                out.extend_from_slice(&self.raw[start..end]);
            }
        }
        Some(Bytes::from(out))
    }

    /// The same property bytes with the reply-to (which must be present)
    /// replaced by `address`, spliced without decoding the rest: what direct
    /// reply-to does for every request. None if reply-to is absent or the
    /// address does not fit a short string.
    pub fn with_reply_to(&self, address: &[u8]) -> Option<Bytes> {
        let len = u8::try_from(address.len()).ok()?;
        let (start, end) = self.walk(Some(FLAG_REPLY_TO))?;
        let mut out = Vec::with_capacity(self.raw.len() - (end - start) + 1 + address.len());
        out.extend_from_slice(&self.raw[..start]);
        out.push(len);
        out.extend_from_slice(address);
        out.extend_from_slice(&self.raw[end..]);
        Some(Bytes::from(out))
    }
}

/// Parses a length-prefixed AMQP field table.
pub use amq_protocol::types::parsing::parse_field_table;

/// Decodes raw property bytes into `amq-protocol`'s structure.
pub fn decode_properties(raw: &[u8]) -> Result<AMQPProperties, CodecError> {
    RawProperties::new(raw).check_headers_depth()?;
    parse_properties(raw)
        .map(|(_, props)| props)
        .map_err(|_| CodecError::BadContentHeader)
}

/// Encodes properties into raw property bytes (flags followed by the list).
pub fn encode_properties(props: &AMQPProperties) -> Bytes {
    match cookie_factory::gen(gen_properties(props), Vec::new()) {
        Ok((buf, _)) => Bytes::from(buf),
        // Writing into a Vec cannot run out of space; an empty property set is the
        // only sane fallback should the generator ever fail.
        Err(_) => Bytes::from_static(&[0, 0]),
    }
}

/// The length of the property field of `layout` starting at `pos` (None if
/// its length prefix runs past the end).
fn field_len(raw: &[u8], pos: usize, layout: Layout) -> Option<usize> {
    Some(match layout {
        Layout::ShortStr => 1 + *raw.get(pos)? as usize,
        Layout::Table => {
            let len = raw.get(pos..pos.checked_add(4)?)?;
            4 + u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize
        }
        Layout::Octet => 1,
        Layout::LongLong => 8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::{AMQPValue, FieldTable, ShortString};

    #[test]
    fn reads_fields_behind_a_headers_table() {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from("k"), AMQPValue::LongInt(7));
        let props = AMQPProperties::default()
            .with_content_type(ShortString::from("text/plain"))
            .with_headers(headers)
            .with_delivery_mode(2)
            .with_priority(5)
            .with_reply_to(ShortString::from("amq.rabbitmq.reply-to"))
            .with_expiration(ShortString::from("1000"));
        let raw = encode_properties(&props);
        let view = RawProperties::new(&raw);
        view.validate().unwrap();
        assert_eq!(view.delivery_mode(), Some(2));
        assert_eq!(view.priority(), Some(5));
        assert_eq!(view.reply_to(), Some(&b"amq.rabbitmq.reply-to"[..]));
        assert_eq!(view.expiration(), Some(&b"1000"[..]));
        assert_eq!(view.user_id(), None);
        assert_eq!(decode_properties(&raw).unwrap(), props);
        let scan = view.scan().unwrap();
        assert_eq!(scan.headers, view.headers_table());
        assert_eq!(
            (scan.delivery_mode, scan.priority, scan.expiration),
            (Some(2), Some(5), Some(&b"1000"[..]))
        );
        assert_eq!(scan.timestamp, None);
        let stamped = encode_properties(&props.clone().with_timestamp(77));
        assert_eq!(
            RawProperties::new(&stamped).scan().unwrap().timestamp,
            Some(77)
        );
        let without = view.without_expiration().unwrap();
        let expected = decode_properties(&raw).unwrap();
        let got = decode_properties(&without).unwrap();
        assert_eq!(got.expiration(), &None);
        assert_eq!(got.headers(), expected.headers());
        assert!(RawProperties::new(&raw[..raw.len() - 2]).scan().is_none());
    }

    #[test]
    fn splicing_reply_to_equals_decoding_and_re_encoding() {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from("k"), AMQPValue::LongString("v".into()));
        let address = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0NTY3OAAAAAEAAAAAZ2AB3Q==";
        let cases = [
            AMQPProperties::default().with_reply_to("amq.rabbitmq.reply-to".into()),
            AMQPProperties::default()
                .with_content_type("application/json".into())
                .with_headers(headers)
                .with_delivery_mode(2)
                .with_priority(3)
                .with_correlation_id("42".into())
                .with_reply_to("amq.rabbitmq.reply-to".into())
                .with_expiration("60000".into())
                .with_message_id("m-1".into())
                .with_timestamp(1_700_000_000)
                .with_app_id("rpc".into()),
        ];
        for props in cases {
            let raw = encode_properties(&props);
            let spliced = RawProperties::new(&raw)
                .with_reply_to(address.as_bytes())
                .expect("reply-to present");
            let expected = encode_properties(&props.clone().with_reply_to(address.into()));
            assert_eq!(spliced, expected);
            RawProperties::new(&spliced).validate().unwrap();
        }
        let none = encode_properties(&AMQPProperties::default().with_priority(1));
        assert!(RawProperties::new(&none).with_reply_to(b"x").is_none());
        let raw = encode_properties(&AMQPProperties::default().with_reply_to("r".into()));
        assert!(RawProperties::new(&raw)
            .with_reply_to(&[b'a'; 256])
            .is_none());
    }

    #[test]
    fn replacing_headers_and_dropping_expiration_keeps_the_rest() {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from("new"), AMQPValue::LongInt(1));
        let raw_headers = cookie_factory::gen(
            amq_protocol::types::generation::gen_field_table(&headers),
            Vec::new(),
        )
        .unwrap()
        .0;
        let mut old = FieldTable::default();
        old.insert(ShortString::from("old"), AMQPValue::Boolean(true));
        let full = |h: FieldTable| {
            AMQPProperties::default()
                .with_content_type("text/plain".into())
                .with_headers(h)
                .with_priority(4)
        };
        let cases = [
            (
                full(old)
                    .with_expiration("500".into())
                    .with_app_id("app".into()),
                full(headers.clone()).with_app_id("app".into()),
            ),
            (
                AMQPProperties::default().with_delivery_mode(2),
                AMQPProperties::default()
                    .with_headers(headers.clone())
                    .with_delivery_mode(2),
            ),
        ];
        for (props, expected) in cases {
            let raw = encode_properties(&props);
            let view = RawProperties::new(&raw);
            let rebuilt = view.with_headers_without_expiration(&raw_headers).unwrap();
            assert_eq!(rebuilt, encode_properties(&expected));
        }
    }

    #[test]
    fn truncated_properties_fail_validation() {
        let raw = encode_properties(&AMQPProperties::default().with_reply_to("abc".into()));
        assert!(RawProperties::new(&raw[..raw.len() - 1])
            .validate()
            .is_err());
        assert!(RawProperties::new(&[0x00]).validate().is_err());
    }
}

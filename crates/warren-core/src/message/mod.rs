//! A published message. It is allocated once and shared (`Arc<Message>`) by every
//! queue it is routed to and every consumer it is delivered to.

use bytes::Bytes;

mod annotations;
mod format;
mod stored;

pub use annotations::{Annotations, Death, Extra, FirstDeath};
pub use format::{content_format, register_format, ContentFormat};
pub use stored::{decode_annotations, encode_annotations, AnnotationsError};

/// Which protocol's encoding a message's content is in. The core knows the
/// numbers only; each adapter registers a [`ContentFormat`] for its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormatId(pub u8);

impl FormatId {
    /// AMQP 0-9-1: the content is the raw basic properties.
    pub const AMQP_091: FormatId = FormatId(1);
}

/// A message's content other than its body, in its protocol's own encoding
/// (for AMQP 0-9-1 the raw basic properties, delivered byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The encoding.
    pub format: FormatId,
    /// The encoded content.
    pub bytes: Bytes,
}

impl Content {
    /// Content of `format` from its encoded bytes.
    pub fn new(format: FormatId, bytes: Bytes) -> Content {
        Content { format, bytes }
    }
}

/// An immutable message: where it was published, its content in its
/// protocol's encoding, its body and the annotations the broker works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Exchange it was published to.
    pub exchange: Bytes,
    /// Routing key it was published with.
    pub routing_key: Bytes,
    /// Everything but the body, in the publishing protocol's encoding.
    pub content: Content,
    /// The body.
    pub body: Bytes,
    /// What the broker needs to know, computed once at ingress.
    pub ann: Annotations,
}

impl Message {
    /// The message as a store record with the given id.
    pub fn to_record(&self, id: u64) -> warren_store::StoredMessage {
        warren_store::StoredMessage {
            id,
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            format: self.content.format.0,
            annotations: Some(encode_annotations(&self.ann)),
            content: self.content.bytes.clone(),
            body: self.body.clone(),
        }
    }

    /// A message read back from the store. A record written before
    /// annotations were stored gets them from its content format; annotations
    /// that do not decode are reported and recomputed the same way.
    pub fn from_record(record: warren_store::StoredMessage) -> Message {
        let content = Content::new(FormatId(record.format), record.content);
        let ann = match record.annotations.as_ref().map(decode_annotations) {
            Some(Ok(ann)) => ann,
            Some(Err(e)) => {
                tracing::warn!("stored message {}: {e}; recomputing them", record.id);
                content.annotate()
            }
            None => content.annotate(),
        };
        Message {
            exchange: record.exchange,
            routing_key: record.routing_key,
            content,
            body: record.body,
            ann,
        }
    }

    /// Whether the publisher asked for persistence (delivery_mode 2).
    pub fn is_persistent(&self) -> bool {
        self.ann.durable
    }

    /// The per-message TTL in milliseconds.
    pub fn expiration_ms(&self) -> Option<u64> {
        self.ann.expiry_ms
    }

    /// The content as delivered (see [`Content::render`]): borrowed, without
    /// touching the buffer's reference count, when the annotations change
    /// nothing (every delivery of a fanout would otherwise contend on it).
    pub fn rendered_content(&self) -> std::borrow::Cow<'_, Bytes> {
        if self.ann.changes_content() {
            std::borrow::Cow::Owned(self.content.render(&self.ann))
        } else {
            std::borrow::Cow::Borrowed(&self.content.bytes)
        }
    }

    /// Body size in bytes, as counted by queue byte limits and statistics.
    pub fn body_size(&self) -> usize {
        self.body.len()
    }
}

/// Parses an `expiration` property as RabbitMQ's `rabbit_basic:parse_expiration`;
/// the error is RabbitMQ's reason term (`no_integer`, `{value_negative,-1}`,
/// `{leftover_string,"x"}`, `{value_too_large,N}`).
pub fn parse_expiration(raw: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(raw);
    let digits_end = text
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, rest) = text.split_at(digits_end);
    let value: i64 = match number.parse::<i128>() {
        Ok(v) => v.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        Err(_) => return Err("no_integer".into()),
    };
    if !rest.is_empty() {
        return Err(format!("{{leftover_string,\"{rest}\"}}"));
    }
    crate::args::check_expiry(value)?;
    Ok(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in format that annotates every message as durable.
    struct Durable;

    impl ContentFormat for Durable {
        fn id(&self) -> FormatId {
            FormatId(251)
        }
        fn headers(&self, _: &Bytes) -> Option<crate::value::Table> {
            None
        }
        fn annotate(&self, _: &Bytes) -> Annotations {
            Annotations {
                durable: true,
                ..Annotations::default()
            }
        }
        fn render(&self, content: &Bytes, _: &Annotations) -> Bytes {
            content.clone()
        }
    }

    fn record(format: u8, annotations: Option<Bytes>) -> warren_store::StoredMessage {
        warren_store::StoredMessage {
            id: 1,
            exchange: Bytes::from_static(b"x"),
            routing_key: Bytes::from_static(b"k"),
            format,
            annotations,
            content: Bytes::from_static(b"c"),
            body: Bytes::from_static(b"b"),
        }
    }

    #[test]
    fn records_round_trip_and_old_ones_are_annotated_by_their_format() {
        static FORMAT: Durable = Durable;
        register_format(&FORMAT);
        register_format(&FORMAT);
        let m = Message::from_record(record(251, None));
        assert!(m.ann.durable, "annotated by the registered format");
        let back = Message::from_record(m.to_record(1));
        assert_eq!(back, m);
        let unknown = Message::from_record(record(252, None));
        assert_eq!(unknown.ann, Annotations::default());
        let garbage = Message::from_record(record(251, Some(Bytes::from_static(&[1]))));
        assert!(
            garbage.ann.durable,
            "undecodable annotations are recomputed"
        );
    }

    #[test]
    fn message_size() {
        // Four `Bytes` (128 bytes) before annotations; see the report.
        eprintln!(
            "Message {} Annotations {} Content {}",
            std::mem::size_of::<Message>(),
            std::mem::size_of::<Annotations>(),
            std::mem::size_of::<Content>()
        );
        assert!(std::mem::size_of::<Message>() <= 184);
        assert!(std::mem::size_of::<Annotations>() <= 48);
    }

    #[test]
    fn expiration_parsing_follows_rabbitmq() {
        assert_eq!(parse_expiration(b"1000"), Ok(1000));
        assert_eq!(parse_expiration(b"0"), Ok(0));
        assert_eq!(parse_expiration(b"abc"), Err("no_integer".into()));
        assert_eq!(parse_expiration(b""), Err("no_integer".into()));
        assert_eq!(parse_expiration(b"-5"), Err("{value_negative,-5}".into()));
        assert_eq!(
            parse_expiration(b"10x"),
            Err("{leftover_string,\"x\"}".into())
        );
        assert_eq!(
            parse_expiration(b"4294967296"),
            Err("{value_too_large,4294967296}".into())
        );
    }
}

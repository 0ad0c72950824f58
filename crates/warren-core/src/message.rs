//! A published message. It is allocated once and shared (`Arc<Message>`) by every
//! queue it is routed to and every consumer it is delivered to.

use bytes::Bytes;
use warren_codec::properties::RawProperties;

/// An immutable message: where it was published and its raw content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Exchange it was published to.
    pub exchange: Bytes,
    /// Routing key it was published with.
    pub routing_key: Bytes,
    /// Raw basic properties (flags and property list), delivered byte for byte.
    pub properties: Bytes,
    /// The body.
    pub body: Bytes,
}

impl Message {
    /// The message as a store record with the given id.
    pub fn to_record(&self, id: u64) -> warren_store::StoredMessage {
        warren_store::StoredMessage {
            id,
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            properties: self.properties.clone(),
            body: self.body.clone(),
        }
    }

    /// A message read back from the store.
    pub fn from_record(record: warren_store::StoredMessage) -> Message {
        Message {
            exchange: record.exchange,
            routing_key: record.routing_key,
            properties: record.properties,
            body: record.body,
        }
    }

    /// A view of the properties for reading single fields.
    pub fn raw_properties(&self) -> RawProperties<'_> {
        RawProperties::new(&self.properties)
    }

    /// Whether the publisher asked for persistence (delivery_mode 2).
    pub fn is_persistent(&self) -> bool {
        self.raw_properties().delivery_mode() == Some(2)
    }

    /// The per-message TTL from the `expiration` property, in milliseconds
    /// (None if absent or not a valid non-negative integer).
    pub fn expiration_ms(&self) -> Option<u64> {
        let raw = self.raw_properties().expiration()?;
        parse_expiration(raw).ok()
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
    use super::parse_expiration;

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

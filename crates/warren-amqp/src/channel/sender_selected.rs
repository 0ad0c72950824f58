//! Sender-selected distribution: the `CC` and `BCC` headers of a published
//! message add routing keys (arrays of strings); `BCC` is removed from the
//! message before it is enqueued, as in RabbitMQ.

use bytes::Bytes;
use warren_codec::properties::{decode_properties, encode_properties, RawProperties};
use warren_codec::AMQPValue;
use warren_core::BrokerError;

/// Whether raw properties may carry a CC or BCC header (a cheap byte scan
/// before decoding; false positives only cost a decode).
fn may_have_routing_headers(properties: &[u8]) -> bool {
    RawProperties::new(properties).has_headers()
        && properties
            .windows(3)
            .any(|w| w == b"\x02CC" || w == b"\x03BC")
}

/// The extra routing keys of a message and, if it had a BCC header, its
/// properties without it.
pub fn sender_routes(properties: &Bytes) -> Result<(Vec<Bytes>, Option<Bytes>), BrokerError> {
    if !may_have_routing_headers(properties) {
        return Ok((Vec::new(), None));
    }
    let Ok(props) = decode_properties(properties) else {
        return Ok((Vec::new(), None));
    };
    let Some(headers) = props.headers().as_ref() else {
        return Ok((Vec::new(), None));
    };
    let mut keys = Vec::new();
    for name in ["CC", "BCC"] {
        match headers.inner().get(name) {
            None => {}
            Some(AMQPValue::FieldArray(routes)) => {
                keys.extend(routes.as_slice().iter().filter_map(|v| match v {
                    AMQPValue::LongString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
                    _ => None,
                }))
            }
            Some(other) => {
                return Err(BrokerError::PreconditionFailed(format!(
                    "invalid message: {{unacceptable_type_in_header,\"{name}\",{}}}",
                    crate::value::to_value(other).type_name()
                )))
            }
        }
    }
    if !headers.contains_key("BCC") {
        return Ok((keys, None));
    }
    let mut stripped = headers.inner().clone();
    stripped.remove("BCC");
    let rewritten = props.clone().with_headers(stripped.into());
    Ok((keys, Some(encode_properties(&rewritten))))
}

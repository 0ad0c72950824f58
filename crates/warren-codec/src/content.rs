//! Content header frames: body size and the raw property bytes.

use bytes::{Buf, Bytes};

use crate::CodecError;

/// A decoded content header; `properties` are kept raw (flags + property list) so
/// they are delivered byte for byte as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHeader {
    /// Class of the content (60, basic, is the only one in AMQP 0-9-1).
    pub class_id: u16,
    /// Total size of the body that follows in body frames.
    pub body_size: u64,
    /// Property flags and property list, exactly as received.
    pub properties: Bytes,
}

/// Decodes the payload of a content header frame.
pub fn decode_content_header(mut payload: Bytes) -> Result<ContentHeader, CodecError> {
    if payload.len() < 14 {
        return Err(CodecError::BadContentHeader);
    }
    let class_id = payload.get_u16();
    let _weight = payload.get_u16();
    let body_size = payload.get_u64();
    crate::properties::RawProperties::new(&payload).validate()?;
    Ok(ContentHeader {
        class_id,
        body_size,
        properties: payload,
    })
}

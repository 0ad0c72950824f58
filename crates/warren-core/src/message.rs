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
    /// A view of the properties for reading single fields.
    pub fn raw_properties(&self) -> RawProperties<'_> {
        RawProperties::new(&self.properties)
    }

    /// Whether the publisher asked for persistence (delivery_mode 2).
    pub fn is_persistent(&self) -> bool {
        self.raw_properties().delivery_mode() == Some(2)
    }

    /// Body size in bytes, as counted by queue byte limits and statistics.
    pub fn body_size(&self) -> usize {
        self.body.len()
    }
}

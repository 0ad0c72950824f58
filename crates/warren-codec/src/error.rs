//! Errors found while decoding bytes from a peer.

/// A violation of the AMQP 0-9-1 framing or method syntax, with the reply code a
/// broker answers it with (RabbitMQ closes the connection for all of these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The frame does not end with the frame-end octet 0xCE (501).
    #[error("FRAME_ERROR - frame end octet not 0xCE (got {0:#04x})")]
    BadFrameEnd(u8),
    /// The frame type octet is not one of method, header, body or heartbeat (501).
    #[error("FRAME_ERROR - unknown frame type {0}")]
    UnknownFrameType(u8),
    /// The frame's payload is larger than the negotiated frame_max (501).
    #[error("FRAME_ERROR - frame size {size} exceeds negotiated frame_max {max}")]
    FrameTooLarge {
        /// Size announced by the frame header, including the 8 framing octets.
        size: usize,
        /// Negotiated maximum.
        max: usize,
    },
    /// The class or method id is not part of AMQP 0-9-1 (540).
    #[error("NOT_IMPLEMENTED - unknown method {class_id}.{method_id}")]
    UnknownMethod {
        /// Class id read from the frame.
        class_id: u16,
        /// Method id read from the frame.
        method_id: u16,
    },
    /// The method's arguments could not be decoded (501, like RabbitMQ's
    /// `rabbit_misc:frame_error/2`: "cannot decode ...").
    #[error("FRAME_ERROR - cannot decode arguments of method {class_id}.{method_id}")]
    BadMethod {
        /// Class id read from the frame.
        class_id: u16,
        /// Method id read from the frame.
        method_id: u16,
    },
    /// A content header frame could not be decoded (502).
    #[error("SYNTAX_ERROR - malformed content header")]
    BadContentHeader,
    /// A field table nests tables or arrays deeper than the broker accepts (502).
    #[error("SYNTAX_ERROR - field table nested deeper than {0} levels")]
    TableTooDeep(usize),
    /// A frame's payload is too short to contain what its type requires (501).
    #[error("FRAME_ERROR - truncated {0} frame")]
    Truncated(&'static str),
}

impl CodecError {
    /// The AMQP reply code for this error (RabbitMQ's choice).
    pub fn reply_code(&self) -> u16 {
        match self {
            CodecError::BadFrameEnd(_)
            | CodecError::UnknownFrameType(_)
            | CodecError::FrameTooLarge { .. }
            | CodecError::Truncated(_)
            | CodecError::BadMethod { .. } => 501,
            CodecError::UnknownMethod { .. } => 540,
            CodecError::BadContentHeader | CodecError::TableTooDeep(_) => 502,
        }
    }
}

//! AMQP 0-9-1 wire format for Warren: frames, methods and content over `bytes::Bytes`.
//!
//! Methods are decoded and encoded through `amq-protocol`, except the ones on the
//! publish/deliver hot path (`basic.publish`, the content header, body frames,
//! `basic.deliver`, `basic.ack`), which have a fast path here that keeps message
//! properties as raw bytes until someone needs them. This crate does no I/O.

pub mod content;
pub mod depth;
pub mod encode;
pub mod error;
pub mod frame;
pub mod method;
pub mod properties;
pub mod table;

pub use amq_protocol::protocol::{self as spec, AMQPClass};
pub use amq_protocol::types::{AMQPValue, DecimalValue, FieldTable, LongString, ShortString};
pub use error::CodecError;
pub use frame::{Frame, FrameKind, PROTOCOL_HEADER};

//! Frame boundaries: splitting a byte stream into frames without copying payloads.

use bytes::{Buf, Bytes, BytesMut};

use crate::CodecError;

/// The 8-octet header a client sends first: "AMQP" 0 0 9 1.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// The octet that ends every frame.
pub const FRAME_END: u8 = 0xCE;
/// Frame header (type, channel, size) plus frame-end octet.
pub const FRAME_OVERHEAD: usize = 8;
/// Smallest frame_max a peer may negotiate (AMQP 0-9-1 spec).
pub const FRAME_MIN_SIZE: u32 = 4096;
/// Most buffer space reserved ahead for a partly received frame: the size is
/// the peer's word, so with a large (or no) frame_max, 7 octets announcing a
/// 4 GiB frame must not allocate 4 GiB before the payload arrives.
const MAX_RESERVE_AHEAD: usize = 1 << 20;

/// The four frame types of AMQP 0-9-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A method frame (type 1).
    Method = 1,
    /// A content header frame (type 2).
    Header = 2,
    /// A content body frame (type 3).
    Body = 3,
    /// A heartbeat frame (type 8).
    Heartbeat = 8,
}

impl FrameKind {
    fn from_octet(octet: u8) -> Result<Self, CodecError> {
        match octet {
            1 => Ok(FrameKind::Method),
            2 => Ok(FrameKind::Header),
            3 => Ok(FrameKind::Body),
            8 => Ok(FrameKind::Heartbeat),
            other => Err(CodecError::UnknownFrameType(other)),
        }
    }
}

/// One frame as read off the wire; the payload shares the read buffer's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the payload holds.
    pub kind: FrameKind,
    /// Channel number (0 for the connection itself).
    pub channel: u16,
    /// Payload, without framing octets.
    pub payload: Bytes,
}

/// Splits the next complete frame off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame. `frame_max` is the
/// negotiated maximum frame size including the framing octets (0 means no limit).
pub fn decode_frame(buf: &mut BytesMut, frame_max: usize) -> Result<Option<Frame>, CodecError> {
    if buf.len() < 7 {
        return Ok(None);
    }
    let kind = FrameKind::from_octet(buf[0])?;
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    let total = size + FRAME_OVERHEAD;
    if frame_max != 0 && total > frame_max {
        return Err(CodecError::FrameTooLarge {
            size: total,
            max: frame_max,
        });
    }
    if buf.len() < total {
        buf.reserve((total - buf.len()).min(MAX_RESERVE_AHEAD));
        return Ok(None);
    }
    let end = buf[total - 1];
    if end != FRAME_END {
        return Err(CodecError::BadFrameEnd(end));
    }
    buf.advance(7);
    let payload = buf.split_to(size).freeze();
    buf.advance(1);
    Ok(Some(Frame {
        kind,
        channel,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(kind: u8, channel: u16, payload: &[u8], end: u8) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&[kind]);
        b.extend_from_slice(&channel.to_be_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        b.extend_from_slice(payload);
        b.extend_from_slice(&[end]);
        b
    }

    #[test]
    fn splits_complete_frames_and_waits_for_partial_ones() {
        let mut buf = frame_bytes(3, 5, b"hello", FRAME_END);
        buf.extend_from_slice(&frame_bytes(8, 0, b"", FRAME_END)[..4]);
        let f = decode_frame(&mut buf, 0).unwrap().unwrap();
        assert_eq!(f.kind, FrameKind::Body);
        assert_eq!(f.channel, 5);
        assert_eq!(&f.payload[..], b"hello");
        assert_eq!(decode_frame(&mut buf, 0).unwrap(), None);
    }

    #[test]
    fn rejects_bad_frame_end_and_type_and_size() {
        let mut buf = frame_bytes(1, 0, b"x", 0xAB);
        assert_eq!(
            decode_frame(&mut buf, 0),
            Err(CodecError::BadFrameEnd(0xAB))
        );
        let mut buf = frame_bytes(9, 0, b"x", FRAME_END);
        assert_eq!(
            decode_frame(&mut buf, 0),
            Err(CodecError::UnknownFrameType(9))
        );
        let mut buf = frame_bytes(3, 0, &[0; 100], FRAME_END);
        assert!(matches!(
            decode_frame(&mut buf, 50),
            Err(CodecError::FrameTooLarge { size: 108, max: 50 })
        ));
    }

    #[test]
    fn an_announced_size_does_not_allocate_before_the_bytes_arrive() {
        let mut buf = BytesMut::from(&[3, 0, 1, 0xFF, 0xFF, 0xFF, 0xF0][..]);
        assert_eq!(decode_frame(&mut buf, 0), Ok(None));
        assert!(
            buf.capacity() <= 2 * MAX_RESERVE_AHEAD,
            "{}",
            buf.capacity()
        );
    }

    #[test]
    fn any_bytes_give_a_frame_or_an_error_never_a_panic() {
        let mut seed: u32 = 12345;
        for _ in 0..2000 {
            let len = (seed % 64) as usize;
            let mut buf = BytesMut::new();
            for _ in 0..len {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                buf.extend_from_slice(&[(seed >> 16) as u8]);
            }
            while let Ok(Some(_)) = decode_frame(&mut buf, 4096) {}
        }
    }
}

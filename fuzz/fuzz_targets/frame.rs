//! Arbitrary bytes from a peer, split into frames the way a connection does:
//! an optional protocol header (the handshake reads it before any frame), then
//! `decode_frame` until it needs more input or reports an error, with every
//! method and content header payload decoded as the connection would.
//!
//! Besides "never panic", it checks that decoding is independent of how the
//! bytes arrive: feeding them in small chunks yields the same frames and the
//! same error as feeding them all at once.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_codec::content::decode_content_header;
use warren_codec::frame::{decode_frame, FRAME_MIN_SIZE};
use warren_codec::method::decode_method;
use warren_codec::properties::decode_properties;
use warren_codec::{CodecError, Frame, FrameKind, PROTOCOL_HEADER};

/// The frame_max of the handshake, Warren's default negotiated one, and none
/// at all (0, which only an operator could configure).
const FRAME_MAXES: [usize; 3] = [FRAME_MIN_SIZE as usize, 131_072, 0];

/// Decodes frames from `input`, handed over `chunk` bytes at a time (0: all at
/// once); returns the frames and the error that stopped decoding, if any.
fn split(input: &[u8], frame_max: usize, chunk: usize) -> (Vec<Frame>, Option<CodecError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let chunk = if chunk == 0 {
        input.len().max(1)
    } else {
        chunk
    };
    for part in input.chunks(chunk) {
        buf.extend_from_slice(part);
        loop {
            match decode_frame(&mut buf, frame_max) {
                Ok(Some(frame)) => {
                    let within = frame_max == 0 || frame.payload.len() + 8 <= frame_max;
                    assert!(within, "frame over frame_max");
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let input = data.strip_prefix(&PROTOCOL_HEADER[..]).unwrap_or(data);
    for frame_max in FRAME_MAXES {
        let (frames, error) = split(input, frame_max, 0);
        for frame in &frames {
            match frame.kind {
                FrameKind::Method => {
                    let _ = decode_method(frame.payload.clone());
                }
                FrameKind::Header => {
                    if let Ok(header) = decode_content_header(frame.payload.clone()) {
                        let _ = decode_properties(&header.properties);
                    }
                }
                FrameKind::Body | FrameKind::Heartbeat => {}
            }
        }
        // Byte-at-a-time and odd-sized reads (a few, each costs a fresh buffer).
        let chunks: &[usize] = if frame_max == 131_072 { &[1, 7] } else { &[3] };
        for &chunk in chunks {
            let (again, again_error) = split(input, frame_max, chunk);
            assert_eq!(frames, again, "frames depend on read sizes ({chunk})");
            assert_eq!(error, again_error, "error depends on read sizes ({chunk})");
        }
    }
});

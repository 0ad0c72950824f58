//! Property tests for bytes from a hostile peer: whatever arrives, the frame
//! splitter, the method decoder and the content header decoder answer with a
//! value or a protocol error (with a reply code), never a panic. The cargo-fuzz
//! targets in `fuzz/` explore the same ground with coverage guidance; these run
//! on every `cargo test`.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use warren_codec::content::decode_content_header;
use warren_codec::frame::decode_frame;
use warren_codec::method::{decode_method, Method};
use warren_codec::properties::{decode_properties, encode_properties, RawProperties};
use warren_codec::spec::basic::AMQPProperties;
use warren_codec::{CodecError, Frame};

/// Reply codes a decoding error may carry (RabbitMQ's FRAME_ERROR,
/// SYNTAX_ERROR and NOT_IMPLEMENTED).
const REPLY_CODES: [u16; 3] = [501, 502, 540];

/// Splits `input`, handed over in `chunk`-byte reads, until the decoder wants
/// more or fails; returns the frames and the error, if any.
fn split(input: &[u8], frame_max: usize, chunk: usize) -> (Vec<Frame>, Option<CodecError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for part in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(part);
        loop {
            match decode_frame(&mut buf, frame_max) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// Bytes that look like frames often enough to get past the header checks:
/// a run of (type, channel, size, payload, end) with each part sometimes wrong.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![Just(1u8), Just(2), Just(3), Just(8), any::<u8>()],
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![4 => Just(None), 1 => any::<u32>().prop_map(Some)],
        prop_oneof![4 => Just(0xCEu8), 1 => any::<u8>()],
    )
        .prop_map(|(kind, channel, payload, size, end)| {
            let size = size.unwrap_or(payload.len() as u32);
            let mut b = vec![kind];
            b.extend_from_slice(&channel.to_be_bytes());
            b.extend_from_slice(&size.to_be_bytes());
            b.extend_from_slice(&payload);
            b.push(end);
            b
        });
    proptest::collection::vec(one, 0..6).prop_map(|frames| frames.concat())
}

/// A method payload: a known class (or any), a method id near the real ones
/// (or any), then arbitrary arguments.
fn method_payload() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            4 => prop::sample::select(vec![10u16, 20, 30, 40, 50, 60, 85, 90]),
            1 => any::<u16>()
        ],
        prop_oneof![4 => 0u16..130, 1 => any::<u16>()],
        proptest::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(class, method, args)| {
            let mut p = class.to_be_bytes().to_vec();
            p.extend_from_slice(&method.to_be_bytes());
            p.extend_from_slice(&args);
            p
        })
}

fn check_error(e: &CodecError) {
    assert!(REPLY_CODES.contains(&e.reply_code()), "{e}");
    assert!(!e.to_string().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_split_into_frames_or_an_error(
        input in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), frame_like()],
        frame_max in prop::sample::select(vec![4096usize, 131_072]),
        chunk in 1usize..40,
    ) {
        let (frames, error) = split(&input, frame_max, input.len());
        for frame in &frames {
            prop_assert!(frame.payload.len() + 8 <= frame_max);
        }
        if let Some(e) = &error {
            check_error(e);
        }
        // How the bytes arrive must not change what is decoded.
        let (again, again_error) = split(&input, frame_max, chunk);
        prop_assert_eq!(frames, again);
        prop_assert_eq!(error, again_error);
    }

    #[test]
    fn well_framed_payloads_come_back_unchanged(
        kind in prop::sample::select(vec![1u8, 2, 3, 8]),
        channel in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut b = vec![kind];
        b.extend_from_slice(&channel.to_be_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        b.extend_from_slice(&payload);
        b.push(0xCE);
        let mut buf = BytesMut::from(&b[..]);
        let frame = decode_frame(&mut buf, 4096).unwrap().unwrap();
        prop_assert_eq!(frame.kind as u8, kind);
        prop_assert_eq!(frame.channel, channel);
        prop_assert_eq!(&frame.payload[..], &payload[..]);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn any_method_payload_decodes_or_is_an_error(payload in method_payload()) {
        match decode_method(Bytes::from(payload)) {
            Ok(Method::Other(class)) => {
                let mut out = BytesMut::new();
                warren_codec::encode::write_method(&mut out, 1, &class);
            }
            Ok(_) => {}
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn any_content_header_decodes_or_is_an_error(
        payload in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..128),
            // class, weight and size, then property bytes behind real-looking flags
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..96)).prop_map(|(flags, rest)| {
                let mut p = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
                p.extend_from_slice(&(flags & !1).to_be_bytes());
                p.extend_from_slice(&rest);
                p
            }),
        ],
    ) {
        match decode_content_header(Bytes::from(payload)) {
            Ok(header) => {
                // Validated raw properties: the fast reader agrees with the full decoder.
                let raw = RawProperties::new(&header.properties);
                if let Ok(props) = decode_properties(&header.properties) {
                    prop_assert_eq!(raw.delivery_mode(), *props.delivery_mode());
                    prop_assert_eq!(raw.priority(), *props.priority());
                    prop_assert_eq!(
                        raw.reply_to(),
                        props.reply_to().as_ref().map(|s| s.as_str().as_bytes())
                    );
                }
            }
            Err(e) => check_error(&e),
        }
    }

    #[test]
    fn encoded_properties_validate_and_read_back(
        delivery_mode in proptest::option::of(any::<u8>()),
        priority in proptest::option::of(any::<u8>()),
        reply_to in proptest::option::of("[ -~]{0,40}"),
        expiration in proptest::option::of("[0-9]{0,12}"),
        user_id in proptest::option::of("[a-z]{0,20}"),
        timestamp in proptest::option::of(any::<u64>()),
    ) {
        let mut props = AMQPProperties::default();
        if let Some(v) = delivery_mode { props = props.with_delivery_mode(v); }
        if let Some(v) = priority { props = props.with_priority(v); }
        if let Some(v) = &reply_to { props = props.with_reply_to(v.as_str().into()); }
        if let Some(v) = &expiration { props = props.with_expiration(v.as_str().into()); }
        if let Some(v) = &user_id { props = props.with_user_id(v.as_str().into()); }
        if let Some(v) = timestamp { props = props.with_timestamp(v); }
        let raw = encode_properties(&props);
        let view = RawProperties::new(&raw);
        prop_assert!(view.validate().is_ok());
        prop_assert_eq!(view.delivery_mode(), delivery_mode);
        prop_assert_eq!(view.priority(), priority);
        prop_assert_eq!(view.reply_to(), reply_to.as_deref().map(str::as_bytes));
        prop_assert_eq!(view.expiration(), expiration.as_deref().map(str::as_bytes));
        prop_assert_eq!(view.user_id(), user_id.as_deref().map(str::as_bytes));
        prop_assert_eq!(decode_properties(&raw).unwrap(), props);
    }
}

#[test]
fn frame_kinds_are_the_four_of_the_spec() {
    for octet in 0..=255u8 {
        let mut buf = BytesMut::from(&[octet, 0, 0, 0, 0, 0, 0, 0xCE][..]);
        let known = matches!(octet, 1 | 2 | 3 | 8);
        match decode_frame(&mut buf, 4096) {
            Ok(Some(f)) => assert!(known && f.kind as u8 == octet),
            Err(CodecError::UnknownFrameType(o)) => assert!(!known && o == octet),
            other => panic!("octet {octet}: {other:?}"),
        }
    }
}

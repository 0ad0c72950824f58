//! Arbitrary bytes as the payload of a content header frame: class, weight,
//! body size and the raw properties. Besides "never panic", it checks that
//! the fast-path property reader agrees with the full decoder, and that
//! re-encoding decoded properties is stable.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use warren_codec::content::decode_content_header;
use warren_codec::properties::{decode_properties, encode_properties, RawProperties};

fuzz_target!(|data: &[u8]| {
    // The raw reader must also survive bytes that were never validated.
    let unchecked = RawProperties::new(data);
    let _ = (
        unchecked.delivery_mode(),
        unchecked.priority(),
        unchecked.reply_to(),
    );
    let _ = (
        unchecked.expiration(),
        unchecked.user_id(),
        unchecked.has_headers(),
    );

    let Ok(header) = decode_content_header(Bytes::copy_from_slice(data)) else {
        return;
    };
    let raw = RawProperties::new(&header.properties);
    let Ok(props) = decode_properties(&header.properties) else {
        return;
    };
    assert_eq!(raw.delivery_mode(), props.delivery_mode().as_ref().copied());
    assert_eq!(raw.priority(), props.priority().as_ref().copied());
    assert_eq!(
        raw.reply_to(),
        props.reply_to().as_ref().map(|s| s.as_str().as_bytes())
    );
    assert_eq!(
        raw.expiration(),
        props.expiration().as_ref().map(|s| s.as_str().as_bytes())
    );
    assert_eq!(
        raw.user_id(),
        props.user_id().as_ref().map(|s| s.as_str().as_bytes())
    );
    assert_eq!(raw.has_headers(), props.headers().is_some());

    let encoded = encode_properties(&props);
    let again = decode_properties(&encoded).expect("re-encoded properties decode");
    assert_eq!(
        encoded,
        encode_properties(&again),
        "property encoding is not stable"
    );
});

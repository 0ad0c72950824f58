//! Arbitrary bytes as the payload of a method frame (class id, method id,
//! arguments). Decoding must give a method or an error, never a panic, and a
//! decoded method must encode again without panicking.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use warren_codec::encode;
use warren_codec::method::{decode_method, Method};

fuzz_target!(|data: &[u8]| {
    if let Ok(Method::Other(class)) = decode_method(Bytes::copy_from_slice(data)) {
        let mut out = BytesMut::new();
        encode::write_method(&mut out, 1, &class);
    }
});

//! Method frame payloads: a fast path for `basic.publish` and `basic.ack`, and
//! `amq-protocol` for every other method.

use amq_protocol::protocol::{parse_class, AMQPClass};
use bytes::{Buf, Bytes};

use crate::CodecError;

/// `basic.publish` decoded without copying: names are slices of the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Exchange name (may be empty: the default exchange).
    pub exchange: Bytes,
    /// Routing key.
    pub routing_key: Bytes,
    /// Return the message if no queue gets it.
    pub mandatory: bool,
    /// Deprecated; RabbitMQ refuses it.
    pub immediate: bool,
}

/// A decoded method frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `basic.publish` (fast path).
    Publish(Publish),
    /// `basic.ack` from a consumer (fast path).
    Ack {
        /// Delivery tag being acknowledged.
        delivery_tag: u64,
        /// Acknowledge every outstanding tag up to and including this one.
        multiple: bool,
    },
    /// `basic.qos`, decoded here because `amq-protocol` drops prefetch_size.
    Qos {
        /// Prefetch window in octets (RabbitMQ refuses anything but 0).
        prefetch_size: u32,
        /// Prefetch window in messages (0 = unlimited).
        prefetch_count: u16,
        /// Applies to the whole channel rather than each new consumer.
        global: bool,
    },
    /// Any other method, decoded by `amq-protocol`.
    Other(AMQPClass),
}

/// Method ids defined by AMQP 0-9-1 (with RabbitMQ's extensions) for each class.
fn is_known_method(class_id: u16, method_id: u16) -> bool {
    let methods: &[u16] = match class_id {
        10 => &[10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61, 70, 71],
        20 => &[10, 11, 20, 21, 40, 41],
        30 => &[10, 11],
        40 => &[10, 11, 20, 21, 30, 31, 40, 51],
        50 => &[10, 11, 20, 21, 30, 31, 40, 41, 50, 51],
        60 => &[
            10, 11, 20, 21, 30, 31, 40, 50, 60, 70, 71, 72, 80, 90, 100, 110, 111, 120,
        ],
        85 => &[10, 11],
        90 => &[10, 11, 20, 21, 30, 31],
        _ => &[],
    };
    methods.contains(&method_id)
}

/// Reads the class and method ids at the start of a method payload.
pub fn method_ids(payload: &[u8]) -> Result<(u16, u16), CodecError> {
    if payload.len() < 4 {
        return Err(CodecError::Truncated("method"));
    }
    Ok((
        u16::from_be_bytes([payload[0], payload[1]]),
        u16::from_be_bytes([payload[2], payload[3]]),
    ))
}

/// Decodes a method frame's payload.
pub fn decode_method(payload: Bytes) -> Result<Method, CodecError> {
    let (class_id, method_id) = method_ids(&payload)?;
    let bad = CodecError::BadMethod {
        class_id,
        method_id,
    };
    match (class_id, method_id) {
        (60, 40) => decode_publish(payload.slice(4..)).ok_or(bad),
        (60, 80) => decode_ack(&payload[4..]).ok_or(bad),
        (60, 10) => decode_qos(&payload[4..]).ok_or(bad),
        _ if !is_known_method(class_id, method_id) => Err(CodecError::UnknownMethod {
            class_id,
            method_id,
        }),
        _ => match crate::depth::check_method(class_id, method_id, &payload[4..])
            .and_then(|()| parse_class(&payload[..]).map_err(|_| bad))
        {
            Ok((_, class)) => Ok(Method::Other(class)),
            Err(e) => Err(e),
        },
    }
}

fn take_short_str(buf: &mut Bytes) -> Option<Bytes> {
    let len = *buf.first()? as usize;
    if buf.len() < 1 + len {
        return None;
    }
    buf.advance(1);
    Some(buf.split_to(len))
}

fn decode_publish(mut args: Bytes) -> Option<Method> {
    if args.len() < 2 {
        return None;
    }
    args.advance(2); // reserved ticket
    let exchange = take_short_str(&mut args)?;
    let routing_key = take_short_str(&mut args)?;
    let bits = *args.first()?;
    Some(Method::Publish(Publish {
        exchange,
        routing_key,
        mandatory: bits & 1 != 0,
        immediate: bits & 2 != 0,
    }))
}

fn decode_ack(args: &[u8]) -> Option<Method> {
    if args.len() < 9 {
        return None;
    }
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&args[..8]);
    Some(Method::Ack {
        delivery_tag: u64::from_be_bytes(tag),
        multiple: args[8] & 1 != 0,
    })
}

fn decode_qos(args: &[u8]) -> Option<Method> {
    if args.len() < 7 {
        return None;
    }
    Some(Method::Qos {
        prefetch_size: u32::from_be_bytes([args[0], args[1], args[2], args[3]]),
        prefetch_count: u16::from_be_bytes([args[4], args[5]]),
        global: args[6] & 1 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_publish_fast_path() {
        let mut p = vec![0, 60, 0, 40, 0, 0, 3];
        p.extend_from_slice(b"ex1");
        p.push(2);
        p.extend_from_slice(b"rk");
        p.push(1);
        match decode_method(Bytes::from(p)).unwrap() {
            Method::Publish(pb) => {
                assert_eq!(&pb.exchange[..], b"ex1");
                assert_eq!(&pb.routing_key[..], b"rk");
                assert!(pb.mandatory && !pb.immediate);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_and_malformed_methods_are_errors() {
        let unknown = decode_method(Bytes::from_static(&[0, 60, 0, 99]));
        assert!(matches!(unknown, Err(CodecError::UnknownMethod { .. })));
        let truncated = decode_method(Bytes::from_static(&[0, 60, 0, 40, 0, 0, 9, b'a']));
        assert!(matches!(truncated, Err(CodecError::BadMethod { .. })));
        let bad = decode_method(Bytes::from_static(&[0, 50, 0, 10, 0]));
        assert!(matches!(bad, Err(CodecError::BadMethod { .. })));
    }

    /// A method payload: ids, `before` (arguments ahead of the table), then a
    /// field table nesting `depth` tables.
    fn with_nested_table(class_id: u16, method_id: u16, before: &[u8], depth: usize) -> Bytes {
        let mut table: Vec<u8> = 0u32.to_be_bytes().to_vec();
        for _ in 1..depth {
            let mut outer = ((table.len() + 3) as u32).to_be_bytes().to_vec();
            outer.extend_from_slice(&[1, b'a', b'F']);
            outer.extend_from_slice(&table);
            table = outer;
        }
        let mut p = class_id.to_be_bytes().to_vec();
        p.extend_from_slice(&method_id.to_be_bytes());
        p.extend_from_slice(before);
        p.extend_from_slice(&table);
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // long strings after the table
        Bytes::from(p)
    }

    #[test]
    fn every_method_with_a_table_refuses_deep_nesting() {
        // As deep as a 128 KiB frame allows: far beyond what the recursive parser
        // survives on a 2 MiB thread stack.
        let depth = 131_072 / 7;
        for (class_id, method_id, before) in [
            (10, 10, &[0u8, 9][..]), // connection.start (server_properties)
            (10, 11, &[][..]),       // connection.start-ok (client_properties)
            (40, 10, &[0, 0, 0, 0, 0][..]),
            (50, 10, &[0, 0, 0, 0][..]),
            (60, 20, &[0, 0, 0, 0, 0][..]),
        ] {
            let payload = with_nested_table(class_id, method_id, before, depth);
            assert!(
                matches!(decode_method(payload), Err(CodecError::TableTooDeep(_))),
                "{class_id}.{method_id}"
            );
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic() {
        let mut seed: u32 = 7;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let class = [10u16, 20, 40, 50, 60, 85, 90][(seed % 7) as usize];
            let mut p = class.to_be_bytes().to_vec();
            p.extend_from_slice(&(((seed >> 8) % 130) as u16).to_be_bytes());
            for _ in 0..(seed % 40) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                p.push((seed >> 16) as u8);
            }
            let _ = decode_method(Bytes::from(p));
        }
    }
}

//! The stored form of [`Annotations`]: a small versioned binary encoding the
//! message store keeps next to each record's content (the store treats it as
//! opaque bytes). Version 1 layout, integers little-endian:
//!
//! ```text
//! version u8 = 1, flags u8 (durable, priority, expiry, timestamp, extra),
//! [priority u8] [expiry_ms u64] [timestamp u64]
//! extra: flags u8 (dead_lettered, expiration_removed, cc_removed, first_death),
//!        cc: list of bytes, deaths: u32 count of
//!          queue, reason, count i64, time u64, exchange, routing keys (list),
//!          original expiration (u8 present + bytes), rewritten u8,
//!        [first death: reason, queue, exchange]
//! bytes: u32 length + data; list: u32 count + bytes each
//! ```

use bytes::Bytes;

use super::{Annotations, Death, Extra, FirstDeath};

/// The encoding's current version.
const VERSION: u8 = 1;

const DURABLE: u8 = 1;
const PRIORITY: u8 = 2;
const EXPIRY: u8 = 4;
const TIMESTAMP: u8 = 8;
const EXTRA: u8 = 16;

const DEAD_LETTERED: u8 = 1;
const EXPIRATION_REMOVED: u8 = 2;
const CC_REMOVED: u8 = 4;
const FIRST_DEATH: u8 = 8;

/// Why stored annotations could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnnotationsError {
    /// Written by a newer version of the broker.
    #[error("stored annotations have unknown version {0}")]
    UnknownVersion(u8),
    /// The bytes end too early or hold an impossible length.
    #[error("stored annotations are truncated or malformed")]
    Malformed,
}

/// Encodes annotations for the message store.
pub fn encode_annotations(ann: &Annotations) -> Bytes {
    let mut out = Vec::with_capacity(20);
    let flag = |set: bool, bit: u8| if set { bit } else { 0 };
    out.push(VERSION);
    out.push(
        flag(ann.durable, DURABLE)
            | flag(ann.priority.is_some(), PRIORITY)
            | flag(ann.expiry_ms.is_some(), EXPIRY)
            | flag(ann.timestamp.is_some(), TIMESTAMP)
            | flag(ann.extra.is_some(), EXTRA),
    );
    out.extend(ann.priority);
    out.extend(ann.expiry_ms.map(u64::to_le_bytes).into_iter().flatten());
    out.extend(ann.timestamp.map(u64::to_le_bytes).into_iter().flatten());
    if let Some(extra) = &ann.extra {
        encode_extra(&mut out, extra);
    }
    Bytes::from(out)
}

fn encode_extra(out: &mut Vec<u8>, extra: &Extra) {
    let flag = |set: bool, bit: u8| if set { bit } else { 0 };
    out.push(
        flag(extra.dead_lettered, DEAD_LETTERED)
            | flag(extra.expiration_removed, EXPIRATION_REMOVED)
            | flag(extra.cc_removed, CC_REMOVED)
            | flag(extra.first_death.is_some(), FIRST_DEATH),
    );
    put_list(out, &extra.cc);
    put_len(out, extra.deaths.len());
    for death in &extra.deaths {
        put_bytes(out, &death.queue);
        put_bytes(out, &death.reason);
        out.extend_from_slice(&death.count.to_le_bytes());
        out.extend_from_slice(&death.time.to_le_bytes());
        put_bytes(out, &death.exchange);
        put_list(out, &death.routing_keys);
        out.push(u8::from(death.original_expiration.is_some()));
        if let Some(exp) = &death.original_expiration {
            put_bytes(out, exp);
        }
        out.push(u8::from(death.rewritten));
    }
    if let Some(first) = &extra.first_death {
        put_bytes(out, &first.reason);
        put_bytes(out, &first.queue);
        put_bytes(out, &first.exchange);
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(u32::MAX as usize);
    put_len(out, len);
    out.extend_from_slice(&bytes[..len]);
}

fn put_list(out: &mut Vec<u8>, list: &[Bytes]) {
    put_len(out, list.len());
    for item in list {
        put_bytes(out, item);
    }
}

/// Decodes stored annotations (strings share the stored buffer).
pub fn decode_annotations(bytes: &Bytes) -> Result<Annotations, AnnotationsError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(AnnotationsError::UnknownVersion(version));
    }
    let flags = r.u8()?;
    let mut ann = Annotations {
        durable: flags & DURABLE != 0,
        ..Annotations::default()
    };
    if flags & PRIORITY != 0 {
        ann.priority = Some(r.u8()?);
    }
    if flags & EXPIRY != 0 {
        ann.expiry_ms = Some(r.u64()?);
    }
    if flags & TIMESTAMP != 0 {
        ann.timestamp = Some(r.u64()?);
    }
    if flags & EXTRA != 0 {
        ann.extra = Some(Box::new(decode_extra(&mut r)?));
    }
    Ok(ann)
}

fn decode_extra(r: &mut Reader<'_>) -> Result<Extra, AnnotationsError> {
    let flags = r.u8()?;
    let cc = r.list()?;
    let count = r.count()?;
    let mut deaths = Vec::with_capacity(count);
    for _ in 0..count {
        deaths.push(Death {
            queue: r.bytes()?,
            reason: r.bytes()?,
            count: r.u64()? as i64,
            time: r.u64()?,
            exchange: r.bytes()?,
            routing_keys: r.list()?,
            original_expiration: if r.u8()? != 0 { Some(r.bytes()?) } else { None },
            rewritten: r.u8()? != 0,
        });
    }
    let first_death = if flags & FIRST_DEATH != 0 {
        Some(FirstDeath {
            reason: r.bytes()?,
            queue: r.bytes()?,
            exchange: r.bytes()?,
        })
    } else {
        None
    };
    Ok(Extra {
        cc,
        deaths,
        first_death,
        dead_lettered: flags & DEAD_LETTERED != 0,
        expiration_removed: flags & EXPIRATION_REMOVED != 0,
        cc_removed: flags & CC_REMOVED != 0,
    })
}

/// A cursor over stored annotations.
struct Reader<'a> {
    bytes: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], AnnotationsError> {
        let end = self.pos.checked_add(n).ok_or(AnnotationsError::Malformed)?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(AnnotationsError::Malformed)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, AnnotationsError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, AnnotationsError> {
        let raw = self.take(8)?;
        Ok(u64::from_le_bytes(
            raw.try_into().map_err(|_| AnnotationsError::Malformed)?,
        ))
    }

    /// A count of items, each at least 4 bytes long: bounded by what is left.
    fn count(&mut self) -> Result<usize, AnnotationsError> {
        let raw = self.take(4)?;
        let n = u32::from_le_bytes(raw.try_into().map_err(|_| AnnotationsError::Malformed)?);
        let n = usize::try_from(n).map_err(|_| AnnotationsError::Malformed)?;
        if n > (self.bytes.len() - self.pos) / 4 {
            return Err(AnnotationsError::Malformed);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Bytes, AnnotationsError> {
        let raw = self.take(4)?;
        let n = u32::from_le_bytes(raw.try_into().map_err(|_| AnnotationsError::Malformed)?);
        let n = usize::try_from(n).map_err(|_| AnnotationsError::Malformed)?;
        let start = self.pos;
        self.take(n)?;
        Ok(self.bytes.slice(start..start + n))
    }

    fn list(&mut self) -> Result<Vec<Bytes>, AnnotationsError> {
        let n = self.count()?;
        (0..n).map(|_| self.bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
    }

    fn death() -> impl Strategy<Value = Death> {
        (
            (bytes(), bytes(), any::<i64>(), any::<u64>()),
            (bytes(), proptest::collection::vec(bytes(), 0..3)),
            (proptest::option::of(bytes()), any::<bool>()),
        )
            .prop_map(
                |((queue, reason, count, time), (exchange, keys), (exp, rw))| Death {
                    queue,
                    reason,
                    count,
                    time,
                    exchange,
                    routing_keys: keys,
                    original_expiration: exp,
                    rewritten: rw,
                },
            )
    }

    fn extra() -> impl Strategy<Value = Extra> {
        (
            proptest::collection::vec(bytes(), 0..3),
            proptest::collection::vec(death(), 0..3),
            proptest::option::of((bytes(), bytes(), bytes())),
            any::<(bool, bool, bool)>(),
        )
            .prop_map(|(cc, deaths, first, (dl, exp, ccr))| Extra {
                cc,
                deaths,
                first_death: first.map(|(reason, queue, exchange)| FirstDeath {
                    reason,
                    queue,
                    exchange,
                }),
                dead_lettered: dl,
                expiration_removed: exp,
                cc_removed: ccr,
            })
    }

    fn annotations() -> impl Strategy<Value = Annotations> {
        (
            any::<(bool, Option<u8>, Option<u64>, Option<u64>)>(),
            proptest::option::of(extra()),
        )
            .prop_map(
                |((durable, priority, expiry_ms, timestamp), extra)| Annotations {
                    expiry_ms,
                    timestamp,
                    durable,
                    priority,
                    extra: extra.map(Box::new),
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(ann in annotations()) {
            let encoded = encode_annotations(&ann);
            prop_assert_eq!(decode_annotations(&encoded), Ok(ann));
        }

        #[test]
        fn truncated_never_panics(ann in annotations(), cut in 0usize..200) {
            let encoded = encode_annotations(&ann);
            let cut = cut.min(encoded.len());
            let _ = decode_annotations(&encoded.slice(..cut));
        }
    }

    #[test]
    fn plain_message_is_small_and_versioned() {
        let ann = Annotations {
            durable: true,
            ..Annotations::default()
        };
        let encoded = encode_annotations(&ann);
        assert_eq!(&encoded[..], &[VERSION, DURABLE]);
        assert_eq!(
            decode_annotations(&Bytes::from_static(&[9, 0])),
            Err(AnnotationsError::UnknownVersion(9))
        );
        assert_eq!(
            decode_annotations(&Bytes::from_static(&[1, EXPIRY, 0])),
            Err(AnnotationsError::Malformed)
        );
    }
}

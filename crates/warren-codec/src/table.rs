//! Field tables and arrays as raw entries, in wire order, without decoding
//! their values: what dead-lettering needs to add `x-death` the way RabbitMQ
//! does, leaving every other value (nested tables included) byte for byte as
//! the publisher wrote it.

use crate::depth;

/// One table entry: its key and its value (type octet followed by the value
/// bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The type octet and the value.
    pub value: &'a [u8],
}

/// The body of a length-prefixed table or array at the start of `buf`.
fn body(buf: &[u8]) -> Option<&[u8]> {
    let len = buf.get(..4)?;
    let len = usize::try_from(u32::from_be_bytes([len[0], len[1], len[2], len[3]])).ok()?;
    buf.get(4..4usize.checked_add(len)?)
}

/// One value (type octet first) at the start of `buf`, and what follows it.
fn split_value(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&kind, rest) = buf.split_first()?;
    let size = depth::value_len(kind, rest)?;
    let end = 1usize.checked_add(size)?;
    Some((buf.get(..end)?, buf.get(end..)?))
}

/// The entries of the length-prefixed field table at the start of `buf`, in
/// wire order (None if malformed).
pub fn split_table(buf: &[u8]) -> Option<Vec<RawField<'_>>> {
    let mut rest = body(buf)?;
    let mut fields = Vec::new();
    while let Some((&key_len, after)) = rest.split_first() {
        let key = after.get(..usize::from(key_len))?;
        let (value, next) = split_value(after.get(usize::from(key_len)..)?)?;
        fields.push(RawField { key, value });
        rest = next;
    }
    Some(fields)
}

/// The values (each with its type octet) of the length-prefixed field array
/// at the start of `buf` (None if malformed).
pub fn split_array(buf: &[u8]) -> Option<Vec<&[u8]>> {
    let mut rest = body(buf)?;
    let mut values = Vec::new();
    while !rest.is_empty() {
        let (value, next) = split_value(rest)?;
        values.push(value);
        rest = next;
    }
    Some(values)
}

/// Writes a length-prefixed table of `fields`, in the given order. None if a
/// key is longer than 255 bytes or the table exceeds 4 GiB.
pub fn join_table<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Option<Vec<u8>> {
    let mut out = vec![0; 4];
    for (key, value) in fields {
        out.push(u8::try_from(key.len()).ok()?);
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
    finish(out)
}

/// Writes a length-prefixed array of `values` (each with its type octet).
pub fn join_array<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = vec![0; 4];
    for value in values {
        out.extend_from_slice(value);
    }
    finish(out)
}

fn finish(mut out: Vec<u8>) -> Option<Vec<u8>> {
    let len = u32::try_from(out.len() - 4).ok()?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Some(out)
}

/// A long-string value (`S`), type octet included. None above 4 GiB.
pub fn long_string(bytes: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(bytes.len()).ok()?;
    let mut out = Vec::with_capacity(5 + bytes.len());
    out.push(b'S');
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Some(out)
}

/// The bytes of a long-string value (`S`, type octet included), if it is one.
pub fn as_long_string(value: &[u8]) -> Option<&[u8]> {
    match value.split_first()? {
        (b'S', rest) => body(rest),
        _ => None,
    }
}

/// The integer in a value of any signed or unsigned integer type.
pub fn as_integer(value: &[u8]) -> Option<i64> {
    let (&kind, rest) = value.split_first()?;
    let bytes = |n: usize| rest.get(..n);
    Some(match kind {
        b'b' => i64::from(i8::from_be_bytes(bytes(1)?.try_into().ok()?)),
        b'B' => i64::from(bytes(1)?[0]),
        b's' => i64::from(i16::from_be_bytes(bytes(2)?.try_into().ok()?)),
        b'u' => i64::from(u16::from_be_bytes(bytes(2)?.try_into().ok()?)),
        b'I' => i64::from(i32::from_be_bytes(bytes(4)?.try_into().ok()?)),
        b'i' => i64::from(u32::from_be_bytes(bytes(4)?.try_into().ok()?)),
        b'l' | b'L' => i64::from_be_bytes(bytes(8)?.try_into().ok()?),
        b'T' => i64::try_from(u64::from_be_bytes(bytes(8)?.try_into().ok()?)).ok()?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AMQPValue, FieldTable, ShortString};
    use amq_protocol::types::generation::gen_field_table;

    fn encoded(table: &FieldTable) -> Vec<u8> {
        cookie_factory::gen(gen_field_table(table), Vec::new())
            .unwrap()
            .0
    }

    #[test]
    fn split_and_join_round_trip_in_wire_order() {
        let mut nested = FieldTable::default();
        nested.insert(ShortString::from("n"), AMQPValue::LongLongInt(-3));
        let mut t = FieldTable::default();
        t.insert(ShortString::from("a"), AMQPValue::LongString("x".into()));
        t.insert(ShortString::from("b"), AMQPValue::FieldTable(nested));
        t.insert(
            ShortString::from("c"),
            AMQPValue::FieldArray(vec![AMQPValue::LongInt(7), AMQPValue::Boolean(true)].into()),
        );
        let raw = encoded(&t);
        let fields = split_table(&raw).unwrap();
        let keys: Vec<&[u8]> = fields.iter().map(|f| f.key).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
        assert_eq!(as_long_string(fields[0].value), Some(&b"x"[..]));
        let items = split_array(&fields[2].value[1..]).unwrap();
        assert_eq!(as_integer(items[0]), Some(7));
        let reversed = join_table(fields.iter().rev().map(|f| (f.key, f.value))).unwrap();
        let again = split_table(&reversed).unwrap();
        assert_eq!(again[0].key, b"c");
        assert_eq!(
            join_array(items.iter().copied()).unwrap(),
            &fields[2].value[1..]
        );
        assert_eq!(long_string(b"x").unwrap(), fields[0].value);
    }

    #[test]
    fn malformed_tables_are_none() {
        let raw = encoded(&FieldTable::default());
        assert_eq!(split_table(&raw), Some(vec![]));
        assert_eq!(split_table(&[0, 0, 0, 5, 1, b'k', b'S']), None);
        assert_eq!(split_table(&[0, 0]), None);
        assert_eq!(split_array(&[0, 0, 0, 2, b'Z', 0]), None);
    }
}

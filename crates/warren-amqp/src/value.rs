//! Conversions between AMQP 0-9-1 field tables (the wire form of arguments and
//! headers) and the core's neutral [`Table`] / [`Value`].
//!
//! Into the core nothing is lost: every field type has a neutral twin (short
//! and long strings both become [`Value::Str`], as RabbitMQ reads them alike).
//! Out of the core a name longer than a short string (255 bytes) cannot be
//! written; [`to_field_table`] refuses it rather than truncate or panic.

use warren_codec::{AMQPValue, FieldTable, LongString, ShortString};
use warren_core::value::{Table, Value};

/// A table name that does not fit an AMQP short string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table field name of {0} bytes exceeds 255")]
pub struct NameTooLong(pub usize);

/// The neutral form of an AMQP field table.
pub fn to_table(table: &FieldTable) -> Table {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), to_value(v)))
        .collect()
}

/// The neutral form of one AMQP field value.
pub fn to_value(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(v) => Value::I8(*v),
        AMQPValue::ShortShortUInt(v) => Value::U8(*v),
        AMQPValue::ShortInt(v) => Value::I16(*v),
        AMQPValue::ShortUInt(v) => Value::U16(*v),
        AMQPValue::LongInt(v) => Value::I32(*v),
        AMQPValue::LongUInt(v) => Value::U32(*v),
        AMQPValue::LongLongInt(v) => Value::I64(*v),
        AMQPValue::Float(v) => Value::F32(*v),
        AMQPValue::Double(v) => Value::F64(*v),
        AMQPValue::DecimalValue(d) => Value::Decimal {
            scale: d.scale,
            value: d.value,
        },
        AMQPValue::ShortString(s) => {
            Value::Str(bytes::Bytes::copy_from_slice(s.as_str().as_bytes()))
        }
        AMQPValue::LongString(s) => Value::Str(bytes::Bytes::copy_from_slice(s.as_bytes())),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(to_value).collect()),
        AMQPValue::Timestamp(t) => Value::Timestamp(*t),
        AMQPValue::FieldTable(t) => Value::Table(to_table(t)),
        AMQPValue::ByteArray(b) => Value::Bytes(bytes::Bytes::copy_from_slice(b.as_slice())),
        AMQPValue::Void => Value::Void,
    }
}

/// The AMQP field table for a neutral table; fails on a name over 255 bytes.
pub fn to_field_table(table: &Table) -> Result<FieldTable, NameTooLong> {
    let mut out = FieldTable::default();
    for (key, value) in table.iter() {
        let name = ShortString::try_new(key.to_string()).map_err(|_| NameTooLong(key.len()))?;
        out.insert(name, to_amqp_value(value)?);
    }
    Ok(out)
}

/// The AMQP field value for a neutral value; fails on a nested name over 255 bytes.
pub fn to_amqp_value(value: &Value) -> Result<AMQPValue, NameTooLong> {
    Ok(match value {
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::I8(v) => AMQPValue::ShortShortInt(*v),
        Value::U8(v) => AMQPValue::ShortShortUInt(*v),
        Value::I16(v) => AMQPValue::ShortInt(*v),
        Value::U16(v) => AMQPValue::ShortUInt(*v),
        Value::I32(v) => AMQPValue::LongInt(*v),
        Value::U32(v) => AMQPValue::LongUInt(*v),
        Value::I64(v) => AMQPValue::LongLongInt(*v),
        Value::F32(v) => AMQPValue::Float(*v),
        Value::F64(v) => AMQPValue::Double(*v),
        Value::Decimal { scale, value } => AMQPValue::DecimalValue(warren_codec::DecimalValue {
            scale: *scale,
            value: *value,
        }),
        Value::Str(s) => AMQPValue::LongString(LongString::from(s.to_vec())),
        Value::Bytes(b) => AMQPValue::ByteArray(b.to_vec().into()),
        Value::Array(items) => AMQPValue::FieldArray(
            items
                .iter()
                .map(to_amqp_value)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        Value::Timestamp(t) => AMQPValue::Timestamp(*t),
        Value::Table(t) => AMQPValue::FieldTable(to_field_table(t)?),
        Value::Void => AMQPValue::Void,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_round_trips() {
        let mut inner = FieldTable::default();
        inner.insert("n".into(), AMQPValue::LongUInt(7));
        let mut t = FieldTable::default();
        for (k, v) in [
            ("a", AMQPValue::Boolean(true)),
            ("b", AMQPValue::ShortShortInt(-1)),
            ("c", AMQPValue::ShortShortUInt(1)),
            ("d", AMQPValue::ShortInt(-2)),
            ("e", AMQPValue::ShortUInt(2)),
            ("f", AMQPValue::LongInt(-3)),
            ("g", AMQPValue::LongUInt(3)),
            ("h", AMQPValue::LongLongInt(-4)),
            ("i", AMQPValue::Double(1.5)),
            ("j", AMQPValue::LongString("text".into())),
            ("k", AMQPValue::Timestamp(99)),
            ("l", AMQPValue::FieldTable(inner)),
            ("m", AMQPValue::FieldArray(vec![AMQPValue::Void].into())),
            ("n", AMQPValue::ByteArray(vec![0u8, 255].into())),
        ] {
            t.insert(k.into(), v);
        }
        let neutral = to_table(&t);
        assert_eq!(neutral.get("f"), Some(&Value::I32(-3)));
        assert_eq!(to_field_table(&neutral), Ok(t));
    }

    #[test]
    fn a_long_name_is_refused_not_truncated() {
        let mut t = Table::new();
        t.insert("x".repeat(256), Value::Void);
        assert_eq!(to_field_table(&t), Err(NameTooLong(256)));
    }
}

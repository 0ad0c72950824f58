//! AMQP field tables as JSON, the way RabbitMQ's management API and definitions
//! files show them: numbers as numbers, strings as strings, tables as objects.
//! JSON integers come back as `long` (i64), as RabbitMQ's import does.

use serde_json::{Map, Number, Value};
use warren_codec::{AMQPValue, FieldTable, LongString, ShortString};

use crate::names::{preview, MAX_NAME_BYTES};

/// A field table as a JSON object.
pub fn table_to_json(table: &FieldTable) -> Value {
    let map: Map<String, Value> = table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), value_to_json(v)))
        .collect();
    Value::Object(map)
}

/// One AMQP value as JSON.
pub fn value_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(v) => Value::from(*v),
        AMQPValue::ShortShortUInt(v) => Value::from(*v),
        AMQPValue::ShortInt(v) => Value::from(*v),
        AMQPValue::ShortUInt(v) => Value::from(*v),
        AMQPValue::LongInt(v) => Value::from(*v),
        AMQPValue::LongUInt(v) => Value::from(*v),
        AMQPValue::LongLongInt(v) => Value::from(*v),
        AMQPValue::Timestamp(v) => Value::from(*v),
        AMQPValue::Float(v) => Number::from_f64(*v as f64).map_or(Value::Null, Value::Number),
        AMQPValue::Double(v) => Number::from_f64(*v).map_or(Value::Null, Value::Number),
        AMQPValue::DecimalValue(d) => {
            let scaled = d.value as f64 / 10f64.powi(d.scale as i32);
            Number::from_f64(scaled).map_or(Value::Null, Value::Number)
        }
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_to_json).collect()),
        AMQPValue::FieldTable(t) => table_to_json(t),
        AMQPValue::Void => Value::Null,
    }
}

/// A JSON object key too long to be an AMQP field-table key (a short string).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field table key '{preview}' is {len} bytes long; AMQP field table keys are at most {MAX_NAME_BYTES} bytes")]
pub struct TableKeyTooLong {
    /// The key's first characters.
    pub preview: String,
    /// Its length in bytes.
    pub len: usize,
}

/// A JSON object as a field table (anything else gives an empty table); a
/// key longer than 255 bytes, at any depth, is refused.
pub fn json_to_table(value: &Value) -> Result<FieldTable, TableKeyTooLong> {
    let mut table = FieldTable::default();
    if let Value::Object(map) = value {
        for (k, v) in map {
            let key = ShortString::try_new(k.as_str()).map_err(|_| TableKeyTooLong {
                preview: preview(k),
                len: k.len(),
            })?;
            table.insert(key, json_to_value(v)?);
        }
    }
    Ok(table)
}

/// One JSON value as an AMQP value (objects, also inside arrays, as tables).
pub fn json_to_value(value: &Value) -> Result<AMQPValue, TableKeyTooLong> {
    Ok(match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
        Value::Array(items) => AMQPValue::FieldArray(
            items
                .iter()
                .map(json_to_value)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        Value::Object(_) => AMQPValue::FieldTable(json_to_table(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_through_json() {
        let json =
            serde_json::json!({"x-max-length": 1000, "x-note": "hi", "nested": {"a": [true, 1.5]}});
        let table = json_to_table(&json).unwrap();
        assert_eq!(table_to_json(&table), json);
    }

    #[test]
    fn keys_longer_than_255_bytes_are_refused_at_any_depth() {
        let k255 = "k".repeat(255);
        let k256 = "é".repeat(128);
        assert!(json_to_table(&serde_json::json!({ k255.clone(): 1 })).is_ok());
        let e = json_to_table(&serde_json::json!({ k256.clone(): 1 })).unwrap_err();
        assert_eq!(e.len, 256);
        assert!(e.to_string().contains("at most 255 bytes"), "{e}");
        let nested = serde_json::json!({"a": [{"b": { k256.clone(): true }}]});
        assert_eq!(json_to_table(&nested).unwrap_err().len, 256);
    }
}

//! Argument tables as JSON, the way RabbitMQ's management API and definitions
//! files show them: numbers as numbers, strings as strings, tables as objects.
//! JSON integers come back as `long` (i64), as RabbitMQ's import does.

use serde_json::{Map, Number, Value as Json};

use crate::names::{preview, MAX_NAME_BYTES};
use crate::value::{Table, Value};

/// An argument table as a JSON object.
pub fn table_to_json(table: &Table) -> Json {
    let map: Map<String, Json> = table
        .iter()
        .map(|(k, v)| (k.to_string(), value_to_json(v)))
        .collect();
    Json::Object(map)
}

/// One argument value as JSON.
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I8(v) => Json::from(*v),
        Value::U8(v) => Json::from(*v),
        Value::I16(v) => Json::from(*v),
        Value::U16(v) => Json::from(*v),
        Value::I32(v) => Json::from(*v),
        Value::U32(v) => Json::from(*v),
        Value::I64(v) => Json::from(*v),
        Value::Timestamp(v) => Json::from(*v),
        Value::F32(v) => Number::from_f64(*v as f64).map_or(Json::Null, Json::Number),
        Value::F64(v) => Number::from_f64(*v).map_or(Json::Null, Json::Number),
        Value::Decimal { scale, value } => {
            let scaled = *value as f64 / 10f64.powi(*scale as i32);
            Number::from_f64(scaled).map_or(Json::Null, Json::Number)
        }
        Value::Str(s) | Value::Bytes(s) => Json::String(String::from_utf8_lossy(s).into()),
        Value::Array(a) => Json::Array(a.iter().map(value_to_json).collect()),
        Value::Table(t) => table_to_json(t),
        Value::Void => Json::Null,
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

/// A JSON object as an argument table (anything else gives an empty table);
/// a key longer than 255 bytes (an AMQP short string), at any depth, is
/// refused.
pub fn json_to_table(value: &Json) -> Result<Table, TableKeyTooLong> {
    let mut table = Table::new();
    if let Json::Object(map) = value {
        for (k, v) in map {
            if k.len() > MAX_NAME_BYTES {
                return Err(TableKeyTooLong {
                    preview: preview(k),
                    len: k.len(),
                });
            }
            table.insert(k.as_str(), json_to_value(v)?);
        }
    }
    Ok(table)
}

/// One JSON value as an argument value (objects, also inside arrays, as tables).
pub fn json_to_value(value: &Json) -> Result<Value, TableKeyTooLong> {
    Ok(match value {
        Json::Null => Value::Void,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::Array(
            items
                .iter()
                .map(json_to_value)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Json::Object(_) => Value::Table(json_to_table(value)?),
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

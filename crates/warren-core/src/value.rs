//! Protocol-neutral argument and header values: what declare, bind and consume
//! arguments, policy definitions and message headers are made of inside the
//! core.
//!
//! The variants are the value types of RabbitMQ's own argument tables (which
//! RabbitMQ uses inside the broker for every protocol): integers keep their
//! width and signedness because RabbitMQ's equivalence checks and error texts
//! name them (`received the value '5' of type 'long'`). Each adapter converts
//! its wire form (AMQP 0-9-1 field tables, MQTT user properties, JSON of the
//! management API) into these at its edge; nothing here knows an encoding.

use std::collections::BTreeMap;

use bytes::Bytes;

/// One argument or header value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A boolean (`bool`).
    Bool(bool),
    /// A signed 8-bit integer (`byte`).
    I8(i8),
    /// An unsigned 8-bit integer (`unsignedbyte`).
    U8(u8),
    /// A signed 16-bit integer (`short`).
    I16(i16),
    /// An unsigned 16-bit integer (`unsignedshort`).
    U16(u16),
    /// A signed 32-bit integer (`signedint`).
    I32(i32),
    /// An unsigned 32-bit integer (`unsignedint`).
    U32(u32),
    /// A signed 64-bit integer (`long`).
    I64(i64),
    /// A 32-bit float (`float`).
    F32(f32),
    /// A 64-bit float (`double`).
    F64(f64),
    /// A decimal: `value` × 10^-`scale` (`decimal`).
    Decimal {
        /// Number of decimal digits after the point.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// A string of bytes, usually UTF-8 (`longstr`).
    Str(Bytes),
    /// Binary data (`binary`).
    Bytes(Bytes),
    /// A list of values (`array`).
    Array(Vec<Value>),
    /// Seconds since the Unix epoch (`timestamp`).
    Timestamp(u64),
    /// A nested table (`table`).
    Table(Table),
    /// No value (`void`).
    Void,
}

impl Value {
    /// A string value from text.
    pub fn str(text: impl Into<String>) -> Value {
        Value::Str(Bytes::from(text.into()))
    }

    /// RabbitMQ's name for the value's type, as used in its error texts.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::I8(_) => "byte",
            Value::U8(_) => "unsignedbyte",
            Value::I16(_) => "short",
            Value::U16(_) => "unsignedshort",
            Value::I32(_) => "signedint",
            Value::U32(_) => "unsignedint",
            Value::I64(_) => "long",
            Value::F32(_) => "float",
            Value::F64(_) => "double",
            Value::Decimal { .. } => "decimal",
            Value::Str(_) => "longstr",
            Value::Array(_) => "array",
            Value::Timestamp(_) => "timestamp",
            Value::Table(_) => "table",
            Value::Bytes(_) => "binary",
            Value::Void => "void",
        }
    }

    /// The value as an integer, for any integer type (and timestamps that fit).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I8(v) => Some(i64::from(*v)),
            Value::U8(v) => Some(i64::from(*v)),
            Value::I16(v) => Some(i64::from(*v)),
            Value::U16(v) => Some(i64::from(*v)),
            Value::I32(v) => Some(i64::from(*v)),
            Value::U32(v) => Some(i64::from(*v)),
            Value::I64(v) => Some(*v),
            Value::Timestamp(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value as text, for strings (lossy for bytes that are not UTF-8).
    pub fn as_str(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    /// The raw bytes of a string value.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as it appears in RabbitMQ's error texts: numbers and
    /// booleans in decimal, strings as their text, anything else as its
    /// debug form.
    pub fn render(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::I8(v) => v.to_string(),
            Value::U8(v) => v.to_string(),
            Value::I16(v) => v.to_string(),
            Value::U16(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::U32(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::Timestamp(v) => v.to_string(),
            Value::F32(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
            Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
            other => format!("{other:?}"),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::I64(v)
    }
}

/// A table of named values, ordered by name (as RabbitMQ sorts argument
/// tables), each name at most once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table(BTreeMap<String, Value>);

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Stores `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.0.insert(key.into(), value)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    /// The entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Table {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Table {
        Table(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl IntoIterator for Table {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_keep_their_rabbitmq_type_names() {
        assert_eq!(Value::I32(5).type_name(), "signedint");
        assert_eq!(Value::I64(5).type_name(), "long");
        assert_eq!(Value::I32(5).as_i64(), Some(5));
        assert_eq!(Value::U32(7).as_i64(), Some(7));
        assert_eq!(Value::from("x").as_i64(), None);
        assert_eq!(Value::Timestamp(u64::MAX).as_i64(), None);
    }

    #[test]
    fn tables_are_ordered_by_name_and_replace_on_insert() {
        let mut t: Table = [("b", Value::I8(1)), ("a", Value::from("x"))]
            .into_iter()
            .collect();
        assert_eq!(t.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(t.insert("b", Value::Bool(true)), Some(Value::I8(1)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("a").and_then(Value::as_str).as_deref(), Some("x"));
        assert_eq!(t.remove("a"), Some(Value::from("x")));
        assert!(!t.contains_key("a"));
    }

    #[test]
    fn render_gives_the_text_rabbitmq_shows() {
        assert_eq!(Value::from("abc").render(), "abc");
        assert_eq!(Value::I16(-3).render(), "-3");
        assert_eq!(Value::Bool(false).render(), "false");
    }
}

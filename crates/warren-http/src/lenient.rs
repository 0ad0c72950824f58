//! Typed body fields as RabbitMQ's management API reads them: booleans and
//! integers may come as JSON strings (`"durable":"true"`, `"count":"1"`, as
//! RabbitMQ's own rabbitmqadmin sends them), which rabbit_mgmt_util's
//! parse_bool and parse_int accept; anything else is a 400 naming the field.
//! Fields RabbitMQ reads strictly (message properties, policy priority) keep
//! their plain serde types.

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;

/// Why a lenient field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LenientError {
    /// Not `true`, `false`, `"true"` or `"false"` (RabbitMQ's not_boolean).
    #[error("not_boolean: {value} (expected true or false)")]
    NotBoolean {
        /// The value as sent.
        value: String,
    },
    /// Not an integer or a string of one (RabbitMQ's not_integer).
    #[error("not_integer: {value} (expected an integer)")]
    NotInteger {
        /// The value as sent.
        value: String,
    },
}

/// rabbit_mgmt_util:parse_bool: true/false or "true"/"false"; null is absent.
pub fn parse_bool(v: &Value) -> Result<Option<bool>, LenientError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        other => Err(LenientError::NotBoolean {
            value: other.to_string(),
        }),
    }
}

/// rabbit_mgmt_util:parse_int: an integer, a number (truncated) or a string
/// holding a decimal integer; null is absent.
pub fn parse_int(v: &Value) -> Result<Option<i64>, LenientError> {
    let refused = || LenientError::NotInteger {
        value: v.to_string(),
    };
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            })
            .map(Some)
            .ok_or_else(refused),
        Value::String(s) => s.trim().parse::<i64>().map(Some).map_err(|_| refused()),
        _ => Err(refused()),
    }
}

/// serde `deserialize_with` for an optional lenient boolean.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    parse_bool(&v).map_err(D::Error::custom)
}

/// serde `deserialize_with` for a lenient boolean that defaults to false.
pub fn bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    opt_bool(d).map(|b| b.unwrap_or(false))
}

/// serde `deserialize_with` for an optional lenient non-negative integer.
pub fn opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = Value::deserialize(d)?;
    match parse_int(&v).map_err(D::Error::custom)? {
        None => Ok(None),
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("not a non-negative integer: {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_as_rabbitmq_parses_them() {
        assert_eq!(parse_bool(&json!("true")), Ok(Some(true)));
        assert_eq!(parse_bool(&json!(false)), Ok(Some(false)));
        assert_eq!(parse_bool(&Value::Null), Ok(None));
        assert!(parse_bool(&json!("yes")).is_err());
        assert!(parse_bool(&json!(1)).is_err());
        assert!(parse_bool(&json!("True")).is_err());
    }

    #[test]
    fn integers_as_rabbitmq_parses_them() {
        assert_eq!(parse_int(&json!("12")), Ok(Some(12)));
        assert_eq!(parse_int(&json!(3)), Ok(Some(3)));
        assert_eq!(parse_int(&json!(2.7)), Ok(Some(2)));
        assert!(parse_int(&json!("1.5")).is_err());
        assert!(parse_int(&json!("ten")).is_err());
        assert!(parse_int(&json!(true)).is_err());
    }
}

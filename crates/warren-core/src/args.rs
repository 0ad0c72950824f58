//! Declaration arguments (`x-…`): RabbitMQ's equivalence rules for redeclaring a
//! queue or exchange, and rendering values the way RabbitMQ's error texts do.

use warren_codec::{AMQPValue, FieldTable};

/// Queue arguments that must be equal when a queue is redeclared; others are
/// ignored, as RabbitMQ does.
pub const QUEUE_EQUIVALENCE_ARGS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-queue-type",
    "x-single-active-consumer",
];

/// Exchange arguments that must be equal when an exchange is redeclared.
pub const EXCHANGE_EQUIVALENCE_ARGS: &[&str] = &["alternate-exchange"];

/// RabbitMQ's name for a field value's type, as used in error texts.
pub fn type_name(value: &AMQPValue) -> &'static str {
    match value {
        AMQPValue::Boolean(_) => "bool",
        AMQPValue::ShortShortInt(_) => "byte",
        AMQPValue::ShortShortUInt(_) => "unsignedbyte",
        AMQPValue::ShortInt(_) => "short",
        AMQPValue::ShortUInt(_) => "unsignedshort",
        AMQPValue::LongInt(_) => "signedint",
        AMQPValue::LongUInt(_) => "unsignedint",
        AMQPValue::LongLongInt(_) => "long",
        AMQPValue::Float(_) => "float",
        AMQPValue::Double(_) => "double",
        AMQPValue::DecimalValue(_) => "decimal",
        AMQPValue::ShortString(_) | AMQPValue::LongString(_) => "longstr",
        AMQPValue::FieldArray(_) => "array",
        AMQPValue::Timestamp(_) => "timestamp",
        AMQPValue::FieldTable(_) => "table",
        AMQPValue::ByteArray(_) => "binary",
        AMQPValue::Void => "void",
    }
}

/// Renders a value for an error text (strings unquoted, numbers in decimal).
pub fn render(value: &AMQPValue) -> String {
    match value {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(v) => v.to_string(),
        AMQPValue::ShortShortUInt(v) => v.to_string(),
        AMQPValue::ShortInt(v) => v.to_string(),
        AMQPValue::ShortUInt(v) => v.to_string(),
        AMQPValue::LongInt(v) => v.to_string(),
        AMQPValue::LongUInt(v) => v.to_string(),
        AMQPValue::LongLongInt(v) => v.to_string(),
        AMQPValue::Timestamp(v) => v.to_string(),
        AMQPValue::Float(v) => v.to_string(),
        AMQPValue::Double(v) => v.to_string(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Reads an integer argument of any integer width.
pub fn as_i64(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(*v as i64),
        AMQPValue::ShortShortUInt(v) => Some(*v as i64),
        AMQPValue::ShortInt(v) => Some(*v as i64),
        AMQPValue::ShortUInt(v) => Some(*v as i64),
        AMQPValue::LongInt(v) => Some(*v as i64),
        AMQPValue::LongUInt(v) => Some(*v as i64),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// Reads a string argument (short or long string).
pub fn as_str(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// Whether two argument values are the same for equivalence purposes (integers
/// compare by value across widths, strings across short/long encodings).
fn same(a: &AMQPValue, b: &AMQPValue) -> bool {
    match (as_i64(a), as_i64(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (as_str(a), as_str(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Finds the first argument among `keys` whose value differs between the
/// existing declaration and a new one; returns (key, received, current) texts.
pub fn first_difference(
    keys: &[&str],
    current: &FieldTable,
    received: &FieldTable,
) -> Option<(String, String, String)> {
    let describe = |v: Option<&AMQPValue>| match v {
        Some(v) => format!("the value '{}' of type '{}'", render(v), type_name(v)),
        None => "none".to_string(),
    };
    keys.iter().find_map(|key| {
        let (c, r) = (current.inner().get(*key), received.inner().get(*key));
        let equal = match (c, r) {
            (None, None) => true,
            (Some(c), Some(r)) => same(c, r),
            _ => false,
        };
        (!equal).then(|| (key.to_string(), describe(r), describe(c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::ShortString;

    #[test]
    fn integer_widths_are_equivalent_but_values_are_not() {
        let mut a = FieldTable::default();
        a.insert(ShortString::from("x-message-ttl"), AMQPValue::LongInt(1000));
        let mut b = FieldTable::default();
        b.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongLongInt(1000),
        );
        assert_eq!(first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &b), None);
        b.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongLongInt(5),
        );
        let (key, got, cur) = first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &b).unwrap();
        assert_eq!(key, "x-message-ttl");
        assert_eq!(got, "the value '5' of type 'long'");
        assert_eq!(cur, "the value '1000' of type 'signedint'");
        let mut other = FieldTable::default();
        other.insert(ShortString::from("x-custom"), AMQPValue::Boolean(true));
        assert_eq!(
            first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &{
                let mut t = a.clone();
                t.insert(ShortString::from("x-custom"), AMQPValue::Boolean(true));
                t
            }),
            None
        );
    }
}

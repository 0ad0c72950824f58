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
    // rabbit_misc:assert_args_equivalence1: two values are shown as values
    // ("received '6' but current is '5'"), one missing side with its type.
    let describe = |v: Option<&AMQPValue>| match v {
        Some(v) => format!("the value '{}' of type '{}'", render(v), type_name(v)),
        None => "none".to_string(),
    };
    keys.iter().find_map(|key| {
        let (c, r) = (current.inner().get(*key), received.inner().get(*key));
        match (c, r) {
            (None, None) => None,
            (Some(c), Some(r)) if same(c, r) => None,
            (Some(c), Some(r)) => Some((
                key.to_string(),
                format!("'{}'", render(r)),
                format!("'{}'", render(c)),
            )),
            _ => Some((key.to_string(), describe(r), describe(c))),
        }
    })
}

/// Largest TTL or expiry RabbitMQ accepts, in milliseconds (2^32 - 1).
pub const MAX_EXPIRY: i64 = 4_294_967_295;

/// Highest `x-max-priority` RabbitMQ accepts.
pub const MAX_SUPPORTED_PRIORITY: i64 = 255;

/// Reads an argument of one of the integer types RabbitMQ accepts for integer
/// arguments (byte, short, signedint, long and the unsigned ones; not timestamp).
/// Another type gets RabbitMQ 3.10.8's text, `"expected integer, got longstr"`
/// (quoted, as it renders the reason string).
pub fn as_int_arg(value: &AMQPValue) -> Result<i64, String> {
    let wrong = || format!("\"expected integer, got {}\"", type_name(value));
    match value {
        AMQPValue::Timestamp(_) => Err(wrong()),
        other => as_i64(other).ok_or_else(wrong),
    }
}

/// RabbitMQ's `rabbit_misc:check_expiry/1`.
pub fn check_expiry(value: i64) -> Result<(), String> {
    if value > MAX_EXPIRY {
        Err(format!("{{value_too_large,{value}}}"))
    } else if value < 0 {
        Err(format!("{{value_negative,{value}}}"))
    } else {
        Ok(())
    }
}

fn non_negative(value: &AMQPValue) -> Result<i64, String> {
    let v = as_int_arg(value)?;
    if v < 0 {
        return Err(format!("{{value_negative,{v}}}"));
    }
    Ok(v)
}

fn longstr(value: &AMQPValue) -> Result<(), String> {
    match value {
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => Ok(()),
        other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
    }
}

/// Checks one queue argument the way `rabbit_amqqueue:declare_args/0` does;
/// the error is RabbitMQ's Erlang-term rendering of the reason.
fn check_queue_argument(key: &str, value: &AMQPValue, args: &FieldTable) -> Result<(), String> {
    match key {
        "x-expires" => {
            let v = as_int_arg(value)?;
            if v == 0 {
                return Err(format!("{{value_zero,{v}}}"));
            }
            check_expiry(v)
        }
        "x-message-ttl" => check_expiry(as_int_arg(value)?),
        "x-dead-letter-exchange" => longstr(value),
        "x-dead-letter-routing-key" => {
            longstr(value)?;
            if args.inner().contains_key("x-dead-letter-exchange") {
                Ok(())
            } else {
                Err("routing_key_but_no_dlx_defined".into())
            }
        }
        "x-max-length" | "x-max-length-bytes" => non_negative(value).map(|_| ()),
        "x-max-priority" => {
            let v = non_negative(value)?;
            if v > MAX_SUPPORTED_PRIORITY {
                return Err(format!("{{max_value_exceeded,{v}}}"));
            }
            Ok(())
        }
        "x-overflow" => {
            longstr(value)?;
            match as_str(value).as_deref() {
                Some("drop-head" | "reject-publish" | "reject-publish-dlx") => Ok(()),
                _ => Err("invalid_overflow".into()),
            }
        }
        "x-single-active-consumer" => match value {
            AMQPValue::Boolean(_) => Ok(()),
            other => Err(format!("{{unacceptable_type,{}}}", type_name(other))),
        },
        _ => Ok(()),
    }
}

/// Validates `queue.declare` arguments; the error is RabbitMQ's 406 text, e.g.
/// `invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}`.
pub fn validate_queue_arguments(
    args: &FieldTable,
    queue: &str,
    vhost: &str,
) -> Result<(), crate::BrokerError> {
    const ORDER: &[&str] = &[
        "x-expires",
        "x-message-ttl",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-max-length",
        "x-max-length-bytes",
        "x-max-priority",
        "x-overflow",
        "x-single-active-consumer",
    ];
    for key in ORDER {
        if let Some(value) = args.inner().get(*key) {
            check_queue_argument(key, value, args).map_err(|reason| {
                crate::BrokerError::PreconditionFailed(format!(
                    "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}': {reason}"
                ))
            })?;
        }
    }
    Ok(())
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
        assert_eq!(got, "'5'");
        assert_eq!(cur, "'1000'");
        let empty = FieldTable::default();
        let (_, got, cur) = first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &empty).unwrap();
        assert_eq!(got, "none");
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

    fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(ShortString::from(*k), v.clone());
        }
        t
    }

    fn invalid(pairs: &[(&str, AMQPValue)]) -> String {
        validate_queue_arguments(&table(pairs), "q", "/")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn invalid_queue_arguments_get_rabbitmq_texts() {
        assert_eq!(
            invalid(&[("x-max-length", AMQPValue::LongInt(-1))]),
            "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}"
        );
        assert!(invalid(&[("x-expires", AMQPValue::LongInt(0))]).ends_with("{value_zero,0}"));
        assert!(
            invalid(&[("x-message-ttl", AMQPValue::LongLongInt(1 << 40))])
                .ends_with("{value_too_large,1099511627776}")
        );
        assert!(invalid(&[("x-max-priority", AMQPValue::LongInt(256))])
            .ends_with("{max_value_exceeded,256}"));
        assert!(
            invalid(&[("x-overflow", AMQPValue::LongString("x".into()))])
                .ends_with("invalid_overflow")
        );
        assert!(
            invalid(&[("x-message-ttl", AMQPValue::LongString("1".into()))])
                .ends_with("\"expected integer, got longstr\"")
        );
        assert!(invalid(&[(
            "x-dead-letter-routing-key",
            AMQPValue::LongString("k".into())
        )])
        .ends_with("routing_key_but_no_dlx_defined"));
        assert!(
            invalid(&[("x-single-active-consumer", AMQPValue::LongInt(1))])
                .ends_with("{unacceptable_type,signedint}")
        );
        let ok = table(&[
            ("x-max-length", AMQPValue::ShortShortUInt(0)),
            ("x-message-ttl", AMQPValue::LongInt(0)),
            (
                "x-overflow",
                AMQPValue::LongString("reject-publish-dlx".into()),
            ),
            ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
            ("x-max-priority", AMQPValue::ShortShortUInt(10)),
        ]);
        assert!(validate_queue_arguments(&ok, "q", "/").is_ok());
    }
}

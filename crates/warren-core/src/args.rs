//! Declaration arguments (`x-…`): RabbitMQ's equivalence rules for redeclaring a
//! queue or exchange, and rendering values the way RabbitMQ's error texts do.

use crate::value::{Table, Value};

/// What a queue does when a publish would take it past its length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest messages (RabbitMQ's default).
    #[default]
    DropHead,
    /// Refuse the new message; publishers in confirm mode get basic.nack.
    RejectPublish,
    /// Refuse the new message and dead-letter it.
    RejectPublishDlx,
}

impl Overflow {
    /// Parses `x-overflow` / the `overflow` policy key.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "drop-head" => Some(Overflow::DropHead),
            "reject-publish" => Some(Overflow::RejectPublish),
            "reject-publish-dlx" => Some(Overflow::RejectPublishDlx),
            _ => None,
        }
    }
}

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

/// Whether two argument values are the same for equivalence purposes (integers
/// compare by value across widths, strings by their text).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Finds the first argument among `keys` whose value differs between the
/// existing declaration and a new one; returns (key, received, current) texts.
pub fn first_difference(
    keys: &[&str],
    current: &Table,
    received: &Table,
) -> Option<(String, String, String)> {
    // rabbit_misc:assert_args_equivalence1: two values are shown as values
    // ("received '6' but current is '5'"), one missing side with its type.
    let describe = |v: Option<&Value>| match v {
        Some(v) => format!("the value '{}' of type '{}'", v.render(), v.type_name()),
        None => "none".to_string(),
    };
    keys.iter().find_map(|key| {
        let (c, r) = (current.get(key), received.get(key));
        match (c, r) {
            (None, None) => None,
            (Some(c), Some(r)) if same(c, r) => None,
            (Some(c), Some(r)) => Some((
                key.to_string(),
                format!("'{}'", r.render()),
                format!("'{}'", c.render()),
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
pub fn as_int_arg(value: &Value) -> Result<i64, String> {
    let wrong = || format!("\"expected integer, got {}\"", value.type_name());
    match value {
        Value::Timestamp(_) => Err(wrong()),
        other => other.as_i64().ok_or_else(wrong),
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

fn non_negative(value: &Value) -> Result<i64, String> {
    let v = as_int_arg(value)?;
    if v < 0 {
        return Err(format!("{{value_negative,{v}}}"));
    }
    Ok(v)
}

fn longstr(value: &Value) -> Result<(), String> {
    match value {
        Value::Str(_) => Ok(()),
        other => Err(format!("{{unacceptable_type,{}}}", other.type_name())),
    }
}

/// Checks one queue argument the way `rabbit_amqqueue:declare_args/0` does;
/// the error is RabbitMQ's Erlang-term rendering of the reason.
fn check_queue_argument(key: &str, value: &Value, args: &Table) -> Result<(), String> {
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
            if args.contains_key("x-dead-letter-exchange") {
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
            match value.as_str().as_deref() {
                Some("drop-head" | "reject-publish" | "reject-publish-dlx") => Ok(()),
                _ => Err("invalid_overflow".into()),
            }
        }
        "x-single-active-consumer" => match value {
            Value::Bool(_) => Ok(()),
            other => Err(format!("{{unacceptable_type,{}}}", other.type_name())),
        },
        _ => Ok(()),
    }
}

/// Validates `queue.declare` arguments; the error is RabbitMQ's 406 text, e.g.
/// `invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}`.
pub fn validate_queue_arguments(
    args: &Table,
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
        if let Some(value) = args.get(key) {
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

    #[test]
    fn integer_widths_are_equivalent_but_values_are_not() {
        let mut a = Table::new();
        a.insert("x-message-ttl", Value::I32(1000));
        let mut b = Table::new();
        b.insert("x-message-ttl", Value::I64(1000));
        assert_eq!(first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &b), None);
        b.insert("x-message-ttl", Value::I64(5));
        let (key, got, cur) = first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &b).unwrap();
        assert_eq!(key, "x-message-ttl");
        assert_eq!(got, "'5'");
        assert_eq!(cur, "'1000'");
        let empty = Table::new();
        let (_, got, cur) = first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &empty).unwrap();
        assert_eq!(got, "none");
        assert_eq!(cur, "the value '1000' of type 'signedint'");
        let mut other = Table::new();
        other.insert("x-custom", Value::Bool(true));
        assert_eq!(
            first_difference(QUEUE_EQUIVALENCE_ARGS, &a, &{
                let mut t = a.clone();
                t.insert("x-custom", Value::Bool(true));
                t
            }),
            None
        );
    }

    fn table(pairs: &[(&str, Value)]) -> Table {
        let mut t = Table::new();
        for (k, v) in pairs {
            t.insert(*k, v.clone());
        }
        t
    }

    fn invalid(pairs: &[(&str, Value)]) -> String {
        validate_queue_arguments(&table(pairs), "q", "/")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn invalid_queue_arguments_get_rabbitmq_texts() {
        assert_eq!(
            invalid(&[("x-max-length", Value::I32(-1))]),
            "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}"
        );
        assert!(invalid(&[("x-expires", Value::I32(0))]).ends_with("{value_zero,0}"));
        assert!(invalid(&[("x-message-ttl", Value::I64(1 << 40))])
            .ends_with("{value_too_large,1099511627776}"));
        assert!(
            invalid(&[("x-max-priority", Value::I32(256))]).ends_with("{max_value_exceeded,256}")
        );
        assert!(invalid(&[("x-overflow", Value::from("x"))]).ends_with("invalid_overflow"));
        assert!(invalid(&[("x-message-ttl", Value::from("1"))])
            .ends_with("\"expected integer, got longstr\""));
        assert!(invalid(&[("x-dead-letter-routing-key", Value::from("k"))])
            .ends_with("routing_key_but_no_dlx_defined"));
        assert!(invalid(&[("x-single-active-consumer", Value::I32(1))])
            .ends_with("{unacceptable_type,signedint}"));
        let ok = table(&[
            ("x-max-length", Value::U8(0)),
            ("x-message-ttl", Value::I32(0)),
            ("x-overflow", Value::from("reject-publish-dlx")),
            ("x-dead-letter-exchange", Value::from("")),
            ("x-max-priority", Value::U8(10)),
        ]);
        assert!(validate_queue_arguments(&ok, "q", "/").is_ok());
    }
}

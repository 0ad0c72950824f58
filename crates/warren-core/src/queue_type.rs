//! `x-queue-type`: RabbitMQ's three queue types, the declare arguments each
//! accepts, and the constraints RabbitMQ 3.10 puts on declaring quorum and
//! stream queues. Warren implements classic queues only: a quorum or stream
//! declaration that passes RabbitMQ's checks is refused with 406 and a text
//! naming the type, never turned into a classic queue.

use std::borrow::Cow;

use crate::value::{Table, Value};
use crate::BrokerError;

/// The queue type a declaration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueType {
    /// The default, and the only type Warren implements.
    Classic,
    /// A replicated Raft queue (not implemented by Warren).
    Quorum,
    /// An append-only log (not implemented by Warren).
    Stream,
}

/// Every queue argument RabbitMQ 3.10 knows for some queue type; an argument
/// outside this list (`x-custom`) is accepted by every type and ignored.
const KNOWN_ARGUMENTS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-single-active-consumer",
    "x-queue-mode",
    "x-queue-master-locator",
    "x-queue-version",
    "x-queue-leader-locator",
    "x-max-age",
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-quorum-initial-group-size",
    "x-initial-cluster-size",
    "x-stream-max-segment-size-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-queue-type",
];

/// Known arguments a classic queue refuses (measured on RabbitMQ 3.10.8).
const NOT_FOR_CLASSIC: &[&str] = &[
    "x-queue-leader-locator",
    "x-max-age",
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-quorum-initial-group-size",
    "x-initial-cluster-size",
    "x-stream-max-segment-size-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
];

/// Known arguments a quorum queue refuses (measured on RabbitMQ 3.10.8).
const NOT_FOR_QUORUM: &[&str] = &[
    "x-max-priority",
    "x-queue-mode",
    "x-queue-master-locator",
    "x-queue-version",
    "x-max-age",
    "x-initial-cluster-size",
    "x-stream-max-segment-size-bytes",
];

/// The only known arguments a stream accepts (measured on RabbitMQ 3.10.8).
const FOR_STREAM: &[&str] = &[
    "x-queue-type",
    "x-max-length-bytes",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
];

impl QueueType {
    /// Reads `x-queue-type` (classic when absent), with RabbitMQ's 406 for a
    /// value that is not a string or not a type it knows.
    pub(crate) fn from_arguments(
        args: &Table,
        queue: &str,
        vhost: &str,
    ) -> Result<QueueType, BrokerError> {
        let Some(value) = args.get("x-queue-type") else {
            return Ok(QueueType::Classic);
        };
        let reason = match value.as_str() {
            Some(name) => match name.as_str() {
                "classic" => return Ok(QueueType::Classic),
                "quorum" => return Ok(QueueType::Quorum),
                "stream" => return Ok(QueueType::Stream),
                other => format!("\"unsupported queue type '{other}'\""),
            },
            None => unacceptable(value),
        };
        Err(BrokerError::PreconditionFailed(format!(
            "invalid arg 'x-queue-type' for queue '{queue}' in vhost '{vhost}': {reason}"
        )))
    }

    /// The Erlang module RabbitMQ names in its error texts.
    fn module(self) -> &'static str {
        match self {
            QueueType::Classic => "rabbit_classic_queue",
            QueueType::Quorum => "rabbit_quorum_queue",
            QueueType::Stream => "rabbit_stream_queue",
        }
    }

    /// The name used in `x-queue-type`.
    fn name(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }

    /// Whether a queue of this type takes the argument `key`.
    fn accepts(self, key: &str) -> bool {
        if !KNOWN_ARGUMENTS.contains(&key) {
            return true;
        }
        match self {
            QueueType::Classic => !NOT_FOR_CLASSIC.contains(&key),
            QueueType::Quorum => !NOT_FOR_QUORUM.contains(&key),
            QueueType::Stream => FOR_STREAM.contains(&key),
        }
    }

    /// The arguments whose values RabbitMQ validates for this type: those it
    /// accepts (the others are refused afterwards by
    /// [`QueueType::check_arguments`]).
    pub(crate) fn accepted<'a>(self, args: &'a Table) -> Cow<'a, Table> {
        if args.keys().all(|k| self.accepts(k)) {
            return Cow::Borrowed(args);
        }
        let kept = args
            .iter()
            .filter(|(k, _)| self.accepts(k))
            .map(|(k, v)| (k, v.clone()))
            .collect();
        Cow::Owned(kept)
    }

    /// RabbitMQ's refusal of a server-named queue for a replicated type
    /// (checked before anything else about the declaration).
    pub(crate) fn check_server_named(self) -> Result<(), BrokerError> {
        if self == QueueType::Classic {
            return Ok(());
        }
        Err(BrokerError::PreconditionFailed(format!(
            "Cannot declare a server-named queue for type {}",
            self.module()
        )))
    }

    /// RabbitMQ's check that every known argument belongs to this type
    /// (after the argument values are validated).
    pub(crate) fn check_arguments(
        self,
        args: &Table,
        queue: &str,
        vhost: &str,
    ) -> Result<(), BrokerError> {
        let mut keys: Vec<&str> = args.keys().collect();
        keys.sort_unstable();
        match keys.into_iter().find(|key| !self.accepts(key)) {
            None => Ok(()),
            Some(key) => Err(BrokerError::PreconditionFailed(format!(
                "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}' of queue type {}",
                self.module()
            ))),
        }
    }

    /// The checks on creating a queue of this type: RabbitMQ's property
    /// constraints of quorum and stream queues (auto-delete, then exclusive,
    /// then durable; an exclusive queue counts as non-durable), then Warren's
    /// refusal of the types it does not implement.
    pub(crate) fn check_new_queue(
        self,
        properties: NewQueueProperties,
        queue: &str,
        vhost: &str,
    ) -> Result<(), BrokerError> {
        if self == QueueType::Classic {
            return Ok(());
        }
        let invalid = if properties.auto_delete {
            Some("auto-delete")
        } else if properties.exclusive {
            Some("exclusive-owner")
        } else if !properties.durable {
            Some("non-durable")
        } else {
            None
        };
        if let Some(property) = invalid {
            return Err(BrokerError::PreconditionFailed(format!(
                "invalid property '{property}' for queue '{queue}' in vhost '{vhost}'"
            )));
        }
        Err(BrokerError::PreconditionFailed(format!(
            "invalid arg 'x-queue-type' for queue '{queue}' in vhost '{vhost}': \
             queue type '{}' is not supported by Warren yet (only 'classic' is)",
            self.name()
        )))
    }
}

/// The argument tables a redeclaration is compared with: RabbitMQ 3.10.8
/// treats a missing `x-queue-type` and `classic` as the same on either side
/// (other values are compared as any argument).
pub(crate) fn classic_as_default<'a>(
    current: &'a Table,
    received: &'a Table,
) -> (Cow<'a, Table>, Cow<'a, Table>) {
    let key = "x-queue-type";
    let classic = |t: &Table| {
        t.get(key)
            .and_then(Value::as_str)
            .is_some_and(|name| name == "classic")
    };
    let with_classic = |t: &Table, from: &Table| {
        let mut t = t.clone();
        if let Some(v) = from.get(key) {
            t.insert(key, v.clone());
        }
        t
    };
    match (current.contains_key(key), received.contains_key(key)) {
        (false, true) if classic(received) => (
            Cow::Owned(with_classic(current, received)),
            Cow::Borrowed(received),
        ),
        (true, false) if classic(current) => (
            Cow::Borrowed(current),
            Cow::Owned(with_classic(received, current)),
        ),
        _ => (Cow::Borrowed(current), Cow::Borrowed(received)),
    }
}

/// The declared properties [`QueueType::check_new_queue`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewQueueProperties {
    /// durable flag as declared.
    pub durable: bool,
    /// exclusive flag as declared.
    pub exclusive: bool,
    /// auto-delete flag as declared.
    pub auto_delete: bool,
}

fn unacceptable(value: &Value) -> String {
    format!("{{unacceptable_type,{}}}", value.type_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Value)]) -> Table {
        let mut t = Table::new();
        for (k, v) in pairs {
            t.insert(*k, v.clone());
        }
        t
    }

    fn text(name: &str) -> Value {
        Value::from(name)
    }

    fn props(durable: bool, exclusive: bool, auto_delete: bool) -> NewQueueProperties {
        NewQueueProperties {
            durable,
            exclusive,
            auto_delete,
        }
    }

    #[test]
    fn type_values_are_read_as_rabbitmq_does() {
        let read = |v: Value| {
            QueueType::from_arguments(&args(&[("x-queue-type", v)]), "q", "/")
                .map_err(|e| e.to_string())
        };
        assert_eq!(read(text("classic")), Ok(QueueType::Classic));
        assert_eq!(read(text("quorum")), Ok(QueueType::Quorum));
        assert_eq!(read(text("stream")), Ok(QueueType::Stream));
        assert_eq!(
            read(text("Classic")).unwrap_err(),
            "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'q' in vhost '/': \
             \"unsupported queue type 'Classic'\""
        );
        assert_eq!(
            read(Value::I32(5)).unwrap_err(),
            "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'q' in vhost '/': \
             {unacceptable_type,signedint}"
        );
    }

    #[test]
    fn property_constraints_come_in_rabbitmqs_order() {
        let check = |p| {
            QueueType::Quorum
                .check_new_queue(p, "q", "/")
                .unwrap_err()
                .to_string()
        };
        assert!(check(props(false, true, true)).contains("'auto-delete'"));
        assert!(check(props(false, true, false)).contains("'exclusive-owner'"));
        assert!(check(props(false, false, false)).contains("'non-durable'"));
        assert!(check(props(true, false, false)).contains("not supported by Warren yet"));
        assert!(QueueType::Classic
            .check_new_queue(props(false, true, true), "q", "/")
            .is_ok());
    }

    #[test]
    fn missing_type_and_classic_are_equivalent() {
        let none = Table::new();
        let classic = args(&[("x-queue-type", text("classic"))]);
        let quorum = args(&[("x-queue-type", text("quorum"))]);
        let keys = crate::args::QUEUE_EQUIVALENCE_ARGS;
        let differs = |c: &Table, r: &Table| {
            let (c, r) = classic_as_default(c, r);
            crate::args::first_difference(keys, &c, &r)
        };
        assert_eq!(differs(&none, &classic), None);
        assert_eq!(differs(&classic, &none), None);
        let (_, got, current) = differs(&none, &quorum).unwrap();
        assert_eq!(
            (got.as_str(), current.as_str()),
            ("the value 'quorum' of type 'longstr'", "none")
        );
        let (_, got, current) = differs(&classic, &quorum).unwrap();
        assert_eq!((got.as_str(), current.as_str()), ("'quorum'", "'classic'"));
    }

    #[test]
    fn only_accepted_arguments_are_validated() {
        let t = args(&[("x-max-length", text("abc")), ("x-max-age", text("1D"))]);
        assert_eq!(QueueType::Stream.accepted(&t).len(), 1);
        assert!(matches!(
            QueueType::Quorum.accepted(&args(&[])),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn foreign_arguments_are_refused_per_type() {
        let one = |key: &str| args(&[(key, Value::I32(1))]);
        let ok = |t: QueueType, key: &str| t.check_arguments(&one(key), "q", "/").is_ok();
        assert!(ok(QueueType::Classic, "x-max-priority"));
        assert!(ok(QueueType::Classic, "x-custom"));
        assert!(!ok(QueueType::Classic, "x-delivery-limit"));
        assert!(ok(QueueType::Quorum, "x-delivery-limit"));
        assert!(!ok(QueueType::Quorum, "x-max-priority"));
        assert!(ok(QueueType::Stream, "x-max-age"));
        assert!(!ok(QueueType::Stream, "x-max-length"));
        let e = QueueType::Stream
            .check_arguments(&one("x-expires"), "q", "/")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'q' in vhost '/' \
             of queue type rabbit_stream_queue"
        );
    }
}

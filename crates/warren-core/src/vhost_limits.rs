//! Virtual host limits, as `rabbitmqctl set_vhost_limits`: `max-connections`
//! (checked at connection.open, 530 NOT_ALLOWED) and `max-queues` (checked
//! when a queue is created, 406 PRECONDITION_FAILED). A negative value, or no
//! value, means no limit.
//!
//! The connection limit is exact: each open connection holds a
//! [`ConnectionSlot`] reserved with a compare-and-swap on the vhost's counter
//! and given back when the connection is dropped, so simultaneous
//! connection.opens cannot both take the last place.
//!
//! Operators change limits through the `Broker` methods of `crate::admin` (management
//! API, `warren ctl`, definitions import), which persist them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::BrokerError;

/// The limit names Warren knows, as RabbitMQ spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitName {
    /// `max-connections`: open AMQP connections in the vhost.
    MaxConnections,
    /// `max-queues`: queues in the vhost.
    MaxQueues,
}

impl LimitName {
    /// Every limit, in RabbitMQ's listing order.
    pub const ALL: [LimitName; 2] = [LimitName::MaxConnections, LimitName::MaxQueues];

    /// Parses RabbitMQ's name of a limit.
    pub fn parse(name: &str) -> Result<Self, LimitError> {
        match name {
            "max-connections" => Ok(LimitName::MaxConnections),
            "max-queues" => Ok(LimitName::MaxQueues),
            other => Err(LimitError::UnknownName(other.to_string())),
        }
    }

    /// RabbitMQ's name of the limit.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::MaxConnections => "max-connections",
            LimitName::MaxQueues => "max-queues",
        }
    }
}

/// Why a limit could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Not `max-connections` or `max-queues`.
    #[error("unrecognised vhost limit '{0}' (known limits: max-connections, max-queues)")]
    UnknownName(String),
    /// The value is not a JSON integer.
    #[error("the value of vhost limit '{name}' must be an integer, not {value}")]
    NotAnInteger {
        /// The limit.
        name: String,
        /// The value given, as JSON.
        value: String,
    },
    /// A set of limits that is not a JSON object.
    #[error("vhost limits must be a JSON object such as {{\"max-connections\": 10}}, not {0}")]
    NotAnObject(String),
    /// The vhost does not exist.
    #[error("no vhost '{0}'")]
    NoVHost(String),
}

impl From<LimitError> for BrokerError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::NoVHost(_) => BrokerError::NotFound(e.to_string()),
            _ => BrokerError::PreconditionFailed(e.to_string()),
        }
    }
}

/// Reads a limit's value: a JSON integer (negative means no limit).
pub fn parse_value(name: LimitName, value: &Value) -> Result<i64, LimitError> {
    value.as_i64().ok_or_else(|| LimitError::NotAnInteger {
        name: name.as_str().to_string(),
        value: value.to_string(),
    })
}

/// Reads a set of limits, `{"max-connections": 10, "max-queues": 5}`.
pub fn parse_limits(value: &Value) -> Result<Vec<(LimitName, i64)>, LimitError> {
    let map = value
        .as_object()
        .ok_or_else(|| LimitError::NotAnObject(value.to_string()))?;
    map.iter()
        .map(|(k, v)| {
            let name = LimitName::parse(k)?;
            Ok((name, parse_value(name, v)?))
        })
        .collect()
}

/// The limits of one vhost and its count of open connections.
#[derive(Debug)]
pub struct VHostLimits {
    max_connections: AtomicI64,
    max_queues: AtomicI64,
    open_connections: Arc<AtomicI64>,
}

impl Default for VHostLimits {
    fn default() -> Self {
        VHostLimits {
            max_connections: AtomicI64::new(-1),
            max_queues: AtomicI64::new(-1),
            open_connections: Arc::new(AtomicI64::new(0)),
        }
    }
}

/// A place under a counted limit (a vhost's `max-connections`, the node's
/// `connection_max`): taken with a compare-and-swap on the shared count, so
/// simultaneous takers cannot both get the last one, and given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    open: Arc<AtomicI64>,
}

impl ConnectionSlot {
    /// Takes a place under `limit` (negative: no limit) on the count `open`;
    /// None when `limit` places are taken already.
    pub fn take(open: &Arc<AtomicI64>, limit: i64) -> Option<ConnectionSlot> {
        let mut taken = open.load(Ordering::Acquire);
        loop {
            if limit >= 0 && taken >= limit {
                return None;
            }
            match open.compare_exchange_weak(taken, taken + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(ConnectionSlot { open: open.clone() }),
                Err(now) => taken = now,
            }
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl VHostLimits {
    fn slot(&self, name: LimitName) -> &AtomicI64 {
        match name {
            LimitName::MaxConnections => &self.max_connections,
            LimitName::MaxQueues => &self.max_queues,
        }
    }

    /// Sets a limit by RabbitMQ's name (`max-connections`, `max-queues`);
    /// a negative value removes it. Not persisted: operators go through
    /// [`crate::Broker::set_vhost_limit`].
    pub fn set(&self, name: &str, value: i64) -> Result<(), BrokerError> {
        self.set_limit(LimitName::parse(name)?, value);
        Ok(())
    }

    /// Sets one limit; a negative value removes it.
    pub fn set_limit(&self, name: LimitName, value: i64) {
        self.slot(name).store(value.max(-1), Ordering::Release);
    }

    /// Removes every limit.
    pub fn clear(&self) {
        for name in LimitName::ALL {
            self.set_limit(name, -1);
        }
    }

    /// The limits that are set, by name (for the API and definitions).
    pub fn get(&self) -> Vec<(&'static str, i64)> {
        LimitName::ALL
            .into_iter()
            .map(|n| (n.as_str(), self.slot(n).load(Ordering::Acquire)))
            .filter(|(_, v)| *v >= 0)
            .collect()
    }

    /// The limits that are set as a JSON object, None when there are none.
    pub fn to_json(&self) -> Option<Map<String, Value>> {
        let set = self.get();
        (!set.is_empty()).then(|| {
            set.into_iter()
                .map(|(k, v)| (k.to_string(), Value::from(v)))
                .collect()
        })
    }

    /// Connections currently holding a [`ConnectionSlot`] in this vhost.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Acquire).max(0) as usize
    }

    /// Takes a place for a new connection, or RabbitMQ's refusal when the
    /// open connections already reach `max-connections`. Exact under
    /// concurrency: the count is raised with a compare-and-swap.
    pub fn reserve_connection(
        &self,
        vhost: &str,
        user: &str,
    ) -> Result<ConnectionSlot, BrokerError> {
        let limit = self.max_connections.load(Ordering::Acquire);
        ConnectionSlot::take(&self.open_connections, limit).ok_or_else(|| {
            BrokerError::NotAllowed(format!(
                "access to vhost '{vhost}' refused for user '{user}': connection limit ({limit}) is reached"
            ))
        })
    }

    /// RabbitMQ's refusal when `existing` queues already reach `max-queues`.
    pub fn check_queues(
        &self,
        existing: usize,
        queue: &str,
        vhost: &str,
    ) -> Result<(), BrokerError> {
        let limit = self.max_queues.load(Ordering::Acquire);
        if limit >= 0 && existing as i64 >= limit {
            return Err(BrokerError::PreconditionFailed(format!(
                "cannot declare queue '{queue}': queue limit in vhost '{vhost}' ({limit}) is reached"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_at_the_limit_and_not_below() {
        let limits = VHostLimits::default();
        assert!(limits.check_queues(1000, "q", "/").is_ok());
        limits.set("max-queues", 2).unwrap();
        assert!(limits.check_queues(1, "q", "/").is_ok());
        let e = limits.check_queues(2, "q", "/").unwrap_err();
        assert_eq!(e.reply_code(), 406);
        limits.set("max-connections", 0).unwrap();
        assert_eq!(
            limits
                .reserve_connection("/", "guest")
                .unwrap_err()
                .reply_code(),
            530
        );
        assert_eq!(
            limits.get(),
            vec![("max-connections", 0), ("max-queues", 2)]
        );
        assert!(limits.set("max-widgets", 1).is_err());
    }

    #[test]
    fn connection_slots_are_given_back_when_dropped() {
        let limits = VHostLimits::default();
        limits.set_limit(LimitName::MaxConnections, 2);
        let a = limits.reserve_connection("/", "u").unwrap();
        let b = limits.reserve_connection("/", "u").unwrap();
        assert!(limits.reserve_connection("/", "u").is_err());
        assert_eq!(limits.open_connections(), 2);
        drop(a);
        let _c = limits.reserve_connection("/", "u").unwrap();
        drop(b);
        assert_eq!(limits.open_connections(), 1);
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let limits = Arc::new(VHostLimits::default());
        limits.set_limit(LimitName::MaxConnections, 5);
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (limits, barrier) = (limits.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    limits.reserve_connection("/", "u").ok()
                })
            })
            .collect();
        let slots: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(slots.len(), 5);
    }

    #[test]
    fn limits_parse_as_rabbitmq_writes_them() {
        let v = serde_json::json!({"max-connections": 10, "max-queues": -1});
        assert_eq!(
            parse_limits(&v).unwrap(),
            vec![(LimitName::MaxConnections, 10), (LimitName::MaxQueues, -1)]
        );
        assert!(matches!(
            parse_limits(&serde_json::json!({"max-channels": 1})),
            Err(LimitError::UnknownName(_))
        ));
        assert!(matches!(
            parse_limits(&serde_json::json!({"max-queues": "ten"})),
            Err(LimitError::NotAnInteger { .. })
        ));
        assert!(matches!(
            parse_limits(&serde_json::json!({"max-queues": 1.5})),
            Err(LimitError::NotAnInteger { .. })
        ));
        assert!(parse_limits(&serde_json::json!([1])).is_err());
    }
}

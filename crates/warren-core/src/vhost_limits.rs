//! Virtual host limits, as `rabbitmqctl set_vhost_limits`: `max-connections`
//! (checked at connection.open, 530 NOT_ALLOWED) and `max-queues` (checked
//! when a queue is created, 406 PRECONDITION_FAILED). A negative value, or no
//! value, means no limit.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use crate::error::BrokerError;

/// The limits of one vhost.
#[derive(Debug)]
pub struct VHostLimits {
    max_connections: AtomicI64,
    max_queues: AtomicI64,
}

impl Default for VHostLimits {
    fn default() -> Self {
        VHostLimits {
            max_connections: AtomicI64::new(-1),
            max_queues: AtomicI64::new(-1),
        }
    }
}

impl VHostLimits {
    /// Sets a limit by RabbitMQ's name (`max-connections`, `max-queues`);
    /// a negative value removes it.
    pub fn set(&self, name: &str, value: i64) -> Result<(), BrokerError> {
        let slot = match name {
            "max-connections" => &self.max_connections,
            "max-queues" => &self.max_queues,
            other => {
                return Err(BrokerError::PreconditionFailed(format!(
                    "unrecognised vhost limit '{other}'"
                )))
            }
        };
        slot.store(value, Relaxed);
        Ok(())
    }

    /// The limits that are set, by name (for the API and definitions).
    pub fn get(&self) -> Vec<(&'static str, i64)> {
        [
            ("max-connections", self.max_connections.load(Relaxed)),
            ("max-queues", self.max_queues.load(Relaxed)),
        ]
        .into_iter()
        .filter(|(_, v)| *v >= 0)
        .collect()
    }

    /// RabbitMQ's refusal when `open` connections already reach `max-connections`.
    pub fn check_connections(
        &self,
        open: usize,
        vhost: &str,
        user: &str,
    ) -> Result<(), BrokerError> {
        let limit = self.max_connections.load(Relaxed);
        if limit >= 0 && open as i64 >= limit {
            return Err(BrokerError::NotAllowed(format!(
                "access to vhost '{vhost}' refused for user '{user}': connection limit ({limit}) is reached"
            )));
        }
        Ok(())
    }

    /// RabbitMQ's refusal when `existing` queues already reach `max-queues`.
    pub fn check_queues(
        &self,
        existing: usize,
        queue: &str,
        vhost: &str,
    ) -> Result<(), BrokerError> {
        let limit = self.max_queues.load(Relaxed);
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
                .check_connections(0, "/", "guest")
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
}

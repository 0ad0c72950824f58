//! The core's domain errors: each carries the reply code RabbitMQ uses for it
//! (RabbitMQ's own vocabulary, which every adapter maps onto its protocol) and
//! whether, in AMQP 0-9-1 terms, it closes the channel or the connection.
//! Protocol errors (framing, unexpected frames) belong to the adapters.

/// A broker-level failure. `Display` gives RabbitMQ's reply text, e.g.
/// `NOT_FOUND - no queue 'q' in vhost '/'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// 403: the operation is not permitted (reserved names, permissions, login).
    #[error("ACCESS_REFUSED - {0}")]
    AccessRefused(String),
    /// 404: the entity does not exist.
    #[error("NOT_FOUND - {0}")]
    NotFound(String),
    /// 405: the queue is exclusive to another connection.
    #[error("RESOURCE_LOCKED - {0}")]
    ResourceLocked(String),
    /// 406: arguments or state do not allow the operation.
    #[error("PRECONDITION_FAILED - {0}")]
    PreconditionFailed(String),
    /// 502: a field violates the spec.
    #[error("SYNTAX_ERROR - {0}")]
    SyntaxError(String),
    /// 503: the command is invalid in this state.
    #[error("COMMAND_INVALID - {0}")]
    CommandInvalid(String),
    /// 530: the operation is not allowed (e.g. reusing a consumer tag).
    #[error("NOT_ALLOWED - {0}")]
    NotAllowed(String),
    /// 540: the method or feature is not implemented.
    #[error("NOT_IMPLEMENTED - {0}")]
    NotImplemented(String),
    /// 541: an internal failure.
    #[error("INTERNAL_ERROR - {0}")]
    InternalError(String),
}

impl BrokerError {
    /// The AMQP reply code.
    pub fn reply_code(&self) -> u16 {
        match self {
            BrokerError::AccessRefused(_) => 403,
            BrokerError::NotFound(_) => 404,
            BrokerError::ResourceLocked(_) => 405,
            BrokerError::PreconditionFailed(_) => 406,
            BrokerError::SyntaxError(_) => 502,
            BrokerError::CommandInvalid(_) => 503,
            BrokerError::NotAllowed(_) => 530,
            BrokerError::NotImplemented(_) => 540,
            BrokerError::InternalError(_) => 541,
        }
    }

    /// Whether the error closes the whole connection (a "hard" error) rather than
    /// only the channel it happened on.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            BrokerError::AccessRefused(_)
                | BrokerError::NotFound(_)
                | BrokerError::ResourceLocked(_)
                | BrokerError::PreconditionFailed(_)
        )
    }

    /// `NOT_FOUND - no queue 'name' in vhost 'vhost'`.
    pub fn no_queue(name: &str, vhost: &str) -> Self {
        BrokerError::NotFound(format!("no queue '{name}' in vhost '{vhost}'"))
    }

    /// `NOT_FOUND - no exchange 'name' in vhost 'vhost'`.
    pub fn no_exchange(name: &str, vhost: &str) -> Self {
        BrokerError::NotFound(format!("no exchange '{name}' in vhost '{vhost}'"))
    }

    /// RabbitMQ's text for a redeclaration with a different property.
    pub fn inequivalent(
        arg: &str,
        what: &str,
        name: &str,
        vhost: &str,
        got: &str,
        current: &str,
    ) -> Self {
        BrokerError::PreconditionFailed(format!(
            "inequivalent arg '{arg}' for {what} '{name}' in vhost '{vhost}': received {got} but current is {current}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes_follow_rabbitmq() {
        let e = BrokerError::no_queue("q", "/");
        assert_eq!(e.to_string(), "NOT_FOUND - no queue 'q' in vhost '/'");
        assert_eq!(e.reply_code(), 404);
        assert!(!e.closes_connection());
        assert!(BrokerError::NotAllowed("x".into()).closes_connection());
    }
}

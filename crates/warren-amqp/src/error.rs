//! The AMQP adapter's errors: the core's domain errors plus the protocol's
//! own (framing, unexpected frames, channel misuse, forced closes), each
//! with the reply code and scope RabbitMQ uses.

use warren_core::BrokerError;

/// Why the adapter closes a channel or the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmqpError {
    /// A domain error from the core (its own reply code and scope).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// 320: the broker is shutting down or an operator closed the connection.
    #[error("CONNECTION_FORCED - {0}")]
    ConnectionForced(String),
    /// 501: malformed framing.
    #[error("FRAME_ERROR - {0}")]
    Frame(String),
    /// 504: the channel is not open or is misused.
    #[error("CHANNEL_ERROR - {0}")]
    Channel(String),
    /// 505: a frame arrived that the state machine did not expect.
    #[error("UNEXPECTED_FRAME - {0}")]
    UnexpectedFrame(String),
}

impl AmqpError {
    /// The AMQP reply code.
    pub fn reply_code(&self) -> u16 {
        match self {
            AmqpError::Broker(e) => e.reply_code(),
            AmqpError::ConnectionForced(_) => 320,
            AmqpError::Frame(_) => 501,
            AmqpError::Channel(_) => 504,
            AmqpError::UnexpectedFrame(_) => 505,
        }
    }

    /// Whether it closes the whole connection rather than its channel.
    pub fn closes_connection(&self) -> bool {
        match self {
            AmqpError::Broker(e) => e.closes_connection(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_scopes_follow_rabbitmq() {
        let e = AmqpError::UnexpectedFrame("x".into());
        assert_eq!((e.reply_code(), e.closes_connection()), (505, true));
        assert_eq!(e.to_string(), "UNEXPECTED_FRAME - x");
        let e = AmqpError::from(BrokerError::no_queue("q", "/"));
        assert_eq!((e.reply_code(), e.closes_connection()), (404, false));
        assert_eq!(e.to_string(), "NOT_FOUND - no queue 'q' in vhost '/'");
    }
}

//! consumer_timeout: a delivery (to a consumer or by basic.get) that stays
//! unacknowledged longer than the broker's `consumer_timeout` closes its
//! channel with 406 PRECONDITION_FAILED, as RabbitMQ 3.8.15+ does.

use std::time::Duration;

use tokio::time::Instant;
use warren_core::BrokerError;

use super::Channel;

impl Channel {
    /// When the oldest unacknowledged delivery times out.
    pub fn ack_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.closing {
            return None;
        }
        self.unacked.front().map(|u| u.delivered_at + timeout)
    }

    /// RabbitMQ's error if the oldest unacknowledged delivery has timed out.
    pub fn ack_timed_out(&self, now: Instant, timeout: Duration) -> Option<BrokerError> {
        let deadline = self.ack_deadline(timeout)?;
        (deadline <= now).then(|| {
            BrokerError::PreconditionFailed(format!(
                "delivery acknowledgement on channel {} timed out. Timeout value used: {} ms. This timeout value can be configured, see consumers doc guide to learn more",
                self.id,
                timeout.as_millis()
            ))
        })
    }
}

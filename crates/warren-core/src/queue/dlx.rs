//! Hands messages that died in a queue to [`crate::dead_letter`], outside the
//! queue's lock.

use super::{Dead, Queue};
use crate::dead_letter::{make_message, republish};

impl Queue {
    /// Dead-letters messages through the queue's dead-letter exchange (from its
    /// arguments or policy); without one, or if that exchange does not exist,
    /// they are dropped, as in RabbitMQ.
    pub(super) fn dead_letter(&self, dead: Vec<Dead>) {
        dead.iter()
            .filter_map(|d| d.stored)
            .for_each(|s| self.forget(s));
        let (dlx, routing_key) = {
            let state = self.state.lock();
            (
                state.settings.dead_letter_exchange.clone(),
                state.settings.dead_letter_routing_key.clone(),
            )
        };
        let Some(dlx) = dlx else {
            return;
        };
        let Some(vhost) = self.home.upgrade() else {
            return;
        };
        let Ok(exchange) = vhost.exchange(&dlx) else {
            tracing::debug!(queue = %self.name, "dead-letter exchange '{dlx}' does not exist; message dropped");
            return;
        };
        let now = self.scheduler.clock().unix_secs();
        for d in dead {
            let letter = make_message(
                &d.message,
                d.reason,
                &self.name,
                &dlx,
                routing_key.as_deref(),
                now,
            );
            republish(&vhost, &exchange, d.reason, letter);
        }
    }
}

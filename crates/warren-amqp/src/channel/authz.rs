//! Permission checks at the points RabbitMQ's channel makes them, through the
//! core's per-channel cache ([`warren_core::publish::Publisher::authorize`]).

use warren_core::auth::{Access, ResourceKind};
use warren_core::BrokerError;

use super::Channel;
use crate::session::Session;

impl Channel {
    /// Checks `access` on a queue or exchange for the connection's user.
    pub(super) fn authorize(
        &mut self,
        _session: &Session,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        self.publisher.authorize(access, kind, name)
    }

    /// Checks a routing key against the user's topic permissions on a topic
    /// exchange (publish: write; bind: read). No rule for it: allowed.
    pub(super) fn authorize_topic(
        &mut self,
        _session: &Session,
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        self.publisher
            .authorize_topic(access, exchange, routing_key)
    }
}

//! Permission checks at the points RabbitMQ's channel makes them, with a small
//! per-channel cache of granted (permission, resource) pairs as rabbit_channel
//! keeps, so that publishing to the same exchange does not consult the user
//! store for every message. Topic permissions are loaded and compiled once per
//! channel, on first use.

use std::collections::VecDeque;

use warren_core::auth::{Access, ResourceKind};
use warren_core::permissions::{topic_refused, Pattern};
use warren_core::BrokerError;

use super::Channel;
use crate::session::Session;

/// Granted checks remembered per channel (RabbitMQ keeps 12).
const CACHE_SIZE: usize = 12;

/// One topic exchange's compiled topic permission.
struct TopicRule {
    exchange: String,
    write: Pattern,
    read: Pattern,
}

/// What the channel already knows the user may do.
#[derive(Default)]
pub(super) struct AccessCache {
    granted: VecDeque<(Access, ResourceKind, String)>,
    topics: Option<Vec<TopicRule>>,
}

impl AccessCache {
    fn hit(&self, access: Access, kind: ResourceKind, name: &str) -> bool {
        self.granted
            .iter()
            .any(|(a, k, n)| *a == access && *k == kind && n == name)
    }

    fn remember(&mut self, access: Access, kind: ResourceKind, name: &str) {
        if self.granted.len() == CACHE_SIZE {
            self.granted.pop_back();
        }
        self.granted.push_front((access, kind, name.to_string()));
    }
}

impl Channel {
    /// Checks `access` on a queue or exchange for the connection's user.
    pub(super) fn authorize(
        &mut self,
        session: &Session,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        if self.access.hit(access, kind, name) {
            return Ok(());
        }
        session.broker.users.check_resource(
            &session.user,
            &session.vhost.name,
            access,
            kind,
            name,
        )?;
        self.access.remember(access, kind, name);
        Ok(())
    }

    /// Checks a routing key against the user's topic permissions on a topic
    /// exchange (publish: write; bind: read). No rule for it: allowed.
    pub(super) fn authorize_topic(
        &mut self,
        session: &Session,
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        let rules = self
            .access
            .topics
            .get_or_insert_with(|| load_topic_rules(session));
        let Some(rule) = rules.iter().find(|r| r.exchange == exchange) else {
            return Ok(());
        };
        let pattern = match access {
            Access::Write => &rule.write,
            _ => &rule.read,
        };
        if pattern.matches(routing_key) {
            Ok(())
        } else {
            Err(topic_refused(
                routing_key,
                exchange,
                &session.vhost.name,
                &session.user,
            ))
        }
    }
}

fn load_topic_rules(session: &Session) -> Vec<TopicRule> {
    let user = session.user.as_str();
    let vhost = &*session.vhost.name;
    let expand = |p: &str| {
        let text = p.replace("{username}", user).replace("{vhost}", vhost);
        // An invalid pattern can only refuse: it never matches.
        Pattern::new(&text).unwrap_or_else(|_| Pattern::never())
    };
    session
        .broker
        .users
        .topic_permissions()
        .into_iter()
        .filter(|(u, v, _)| u == user && v == vhost)
        .map(|(_, _, t)| TopicRule {
            write: expand(&t.write),
            read: expand(&t.read),
            exchange: t.exchange,
        })
        .collect()
}

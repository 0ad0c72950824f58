//! Permission checks with a small cache of granted (permission, resource)
//! pairs, as rabbit_channel keeps per channel, so that publishing to the same
//! exchange does not consult the user store for every message. Topic
//! permissions are loaded and compiled once, on first use.

use std::collections::VecDeque;

use crate::auth::{Access, ResourceKind};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::permissions::{topic_refused, Pattern};

/// Granted checks remembered (RabbitMQ keeps 12).
const CACHE_SIZE: usize = 12;

/// One topic exchange's compiled topic permission.
struct TopicRule {
    exchange: String,
    write: Pattern,
    read: Pattern,
}

/// What a channel or session already knows its user may do in its vhost.
#[derive(Default)]
pub(crate) struct AccessCache {
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

    /// Checks `access` on a queue or exchange for `user` in `vhost`.
    pub(crate) fn authorize(
        &mut self,
        broker: &Broker,
        (user, vhost): (&str, &str),
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), BrokerError> {
        if self.hit(access, kind, name) {
            return Ok(());
        }
        broker
            .users
            .check_resource(user, vhost, access, kind, name)?;
        self.remember(access, kind, name);
        Ok(())
    }

    /// Checks a routing key against the user's topic permissions on a topic
    /// exchange (publish: write; bind: read). No rule for it: allowed.
    pub(crate) fn authorize_topic(
        &mut self,
        broker: &Broker,
        (user, vhost): (&str, &str),
        access: Access,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        let rules = self
            .topics
            .get_or_insert_with(|| load_topic_rules(broker, user, vhost));
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
            Err(topic_refused(routing_key, exchange, vhost, user))
        }
    }
}

fn load_topic_rules(broker: &Broker, user: &str, vhost: &str) -> Vec<TopicRule> {
    let expand = |p: &str| {
        let text = p.replace("{username}", user).replace("{vhost}", vhost);
        // An invalid pattern can only refuse: it never matches.
        Pattern::new(&text).unwrap_or_else(|_| Pattern::never())
    };
    broker
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

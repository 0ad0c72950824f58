//! Permissions as RabbitMQ has them: per user and vhost, three regular
//! expressions (configure, write, read) matched against resource names, and
//! topic permissions (write, read) matched against routing keys of topic
//! exchanges. Matching is unanchored (Erlang's `re:run`), and an empty pattern
//! means `^$` (only the empty name, i.e. the default exchange), as in
//! rabbit_auth_backend_internal. Refusals carry RabbitMQ's 403 texts.

use regex::Regex;

use crate::error::BrokerError;

/// Which of the three permissions an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Declare and delete (queue.declare, exchange.declare, queue.delete, …).
    Configure,
    /// Publish to an exchange, bind to a queue or exchange destination.
    Write,
    /// Consume, get, purge, bind from an exchange.
    Read,
}

/// The kind of resource a permission applies to, as named in RabbitMQ's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// A queue.
    Queue,
    /// An exchange.
    Exchange,
}

impl ResourceKind {
    /// "queue" or "exchange".
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Queue => "queue",
            ResourceKind::Exchange => "exchange",
        }
    }
}

/// A pattern as given (kept for listing/export) with its compiled form.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles a pattern; an invalid regex is an error (400 in the HTTP API).
    pub fn new(source: &str) -> Result<Self, BrokerError> {
        let effective = if source.is_empty() { "^$" } else { source };
        let regex = Regex::new(effective).map_err(|e| {
            BrokerError::PreconditionFailed(format!("invalid regular expression '{source}': {e}"))
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// A pattern that matches nothing (stands in for an invalid one).
    pub fn never() -> Self {
        Pattern {
            source: String::new(),
            regex: Regex::new("[^\\s\\S]").unwrap_or_else(|_| unreachable!("valid regex")),
        }
    }

    /// Whether `name` matches (unanchored; the empty pattern matches only "").
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// Permissions of a user in a vhost: configure, write and read patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Resources the user may declare and delete.
    pub configure: Pattern,
    /// Resources the user may publish to.
    pub write: Pattern,
    /// Resources the user may consume from.
    pub read: Pattern,
}

impl Permission {
    /// Compiles three patterns.
    pub fn new(configure: &str, write: &str, read: &str) -> Result<Self, BrokerError> {
        Ok(Permission {
            configure: Pattern::new(configure)?,
            write: Pattern::new(write)?,
            read: Pattern::new(read)?,
        })
    }

    /// Everything: ".*" for all three.
    pub fn full() -> Self {
        Permission::new(".*", ".*", ".*").unwrap_or_else(|_| unreachable!(".* is a valid regex"))
    }

    /// The pattern governing `access`.
    pub fn pattern(&self, access: Access) -> &Pattern {
        match access {
            Access::Configure => &self.configure,
            Access::Write => &self.write,
            Access::Read => &self.read,
        }
    }
}

/// Topic permissions of a user on one topic exchange of a vhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPermission {
    /// The exchange they apply to.
    pub exchange: String,
    /// Routing keys the user may publish with ({username}, {vhost} expanded).
    pub write: String,
    /// Routing keys the user may bind with.
    pub read: String,
}

impl TopicPermission {
    /// Whether `routing_key` is allowed for `access` (Write or Read).
    pub fn allows(&self, access: Access, routing_key: &str, user: &str, vhost: &str) -> bool {
        let raw = match access {
            Access::Write => &self.write,
            _ => &self.read,
        };
        let expanded = raw.replace("{username}", user).replace("{vhost}", vhost);
        Pattern::new(&expanded).is_ok_and(|p| p.matches(routing_key))
    }
}

/// RabbitMQ's refusal text for a resource: "access to queue 'q' in vhost '/'
/// refused for user 'u'".
pub fn resource_refused(kind: ResourceKind, name: &str, vhost: &str, user: &str) -> BrokerError {
    BrokerError::AccessRefused(format!(
        "access to {} '{name}' in vhost '{vhost}' refused for user '{user}'",
        kind.as_str()
    ))
}

/// RabbitMQ's refusal text for a topic: "access to topic 'k' in exchange 'x'
/// in vhost '/' refused for user 'u'".
pub fn topic_refused(routing_key: &str, exchange: &str, vhost: &str, user: &str) -> BrokerError {
    BrokerError::AccessRefused(format!(
        "access to topic '{routing_key}' in exchange '{exchange}' in vhost '{vhost}' refused for user '{user}'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_unanchored_and_empty_matches_only_empty() {
        let p = Permission::new("^app\\.", "", ".*").unwrap();
        assert!(p.configure.matches("app.q"));
        assert!(!p.configure.matches("other.app.q"));
        assert!(p.write.matches(""));
        assert!(!p.write.matches("x"));
        assert!(!Pattern::never().matches(""));
        assert!(!Pattern::never().matches("x"));
        assert!(p.read.matches(""));
        assert!(Pattern::new("q").unwrap().matches("my-q-1"));
        assert!(Pattern::new("(").is_err());
    }

    #[test]
    fn topic_permissions_expand_username_and_vhost() {
        let t = TopicPermission {
            exchange: "amq.topic".into(),
            write: "^{username}\\.".into(),
            read: ".*".into(),
        };
        assert!(t.allows(Access::Write, "alice.news", "alice", "/"));
        assert!(!t.allows(Access::Write, "bob.news", "alice", "/"));
        assert!(t.allows(Access::Read, "bob.news", "alice", "/"));
    }

    #[test]
    fn refusal_texts_follow_rabbitmq() {
        let e = resource_refused(ResourceKind::Queue, "q", "/", "u");
        assert_eq!(
            e.to_string(),
            "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'"
        );
        assert_eq!(e.reply_code(), 403);
    }
}

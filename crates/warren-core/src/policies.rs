//! Policy definitions as the management API and definitions files carry them
//! (vhost, name, pattern, apply-to, definition, priority). This is storage
//! only: applying a policy's keys to queues and exchanges is the policy
//! engine's job (kept apart so the two can be merged).

use std::collections::BTreeMap;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;
use crate::permissions::Pattern;

/// One policy, in RabbitMQ's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDefinition {
    /// The vhost it belongs to.
    pub vhost: String,
    /// Its name, unique in the vhost.
    pub name: String,
    /// Regex of queue/exchange names it applies to.
    pub pattern: String,
    /// "queues", "exchanges", "all" (or "classic_queues", "quorum_queues", "streams").
    #[serde(rename = "apply-to", default = "default_apply_to")]
    pub apply_to: String,
    /// The policy's keys (e.g. {"message-ttl": 60000}).
    pub definition: serde_json::Map<String, serde_json::Value>,
    /// Higher wins when several match.
    #[serde(default)]
    pub priority: i64,
}

fn default_apply_to() -> String {
    "all".into()
}

const APPLY_TO: &[&str] = &[
    "queues",
    "exchanges",
    "all",
    "classic_queues",
    "quorum_queues",
    "streams",
];

/// The policies of every vhost.
#[derive(Default)]
pub struct PolicyStore {
    policies: RwLock<BTreeMap<(String, String), PolicyDefinition>>,
}

impl PolicyStore {
    /// Adds or replaces a policy after validating its pattern and apply-to.
    pub fn set(&self, policy: PolicyDefinition) -> Result<(), BrokerError> {
        Pattern::new(&policy.pattern)?;
        if !APPLY_TO.contains(&policy.apply_to.as_str()) {
            return Err(BrokerError::PreconditionFailed(format!(
                "'{}' is not a valid apply-to value",
                policy.apply_to
            )));
        }
        if policy.definition.is_empty() {
            return Err(BrokerError::PreconditionFailed(
                "policy definition must not be empty".into(),
            ));
        }
        self.policies
            .write()
            .insert((policy.vhost.clone(), policy.name.clone()), policy);
        Ok(())
    }

    /// Removes a policy; false if it did not exist.
    pub fn clear(&self, vhost: &str, name: &str) -> bool {
        self.policies
            .write()
            .remove(&(vhost.to_string(), name.to_string()))
            .is_some()
    }

    /// One policy.
    pub fn get(&self, vhost: &str, name: &str) -> Option<PolicyDefinition> {
        self.policies
            .read()
            .get(&(vhost.to_string(), name.to_string()))
            .cloned()
    }

    /// All policies (of one vhost, or all), by vhost then name.
    pub fn list(&self, vhost: Option<&str>) -> Vec<PolicyDefinition> {
        self.policies
            .read()
            .values()
            .filter(|p| vhost.is_none_or(|v| p.vhost == v))
            .cloned()
            .collect()
    }

    /// Drops the policies of a deleted vhost.
    pub fn forget_vhost(&self, vhost: &str) {
        self.policies.write().retain(|(v, _), _| v != vhost);
    }

    /// The policy that applies to a queue or exchange: the highest priority
    /// among those whose pattern matches and whose apply-to fits.
    pub fn matching(&self, vhost: &str, name: &str, is_queue: bool) -> Option<PolicyDefinition> {
        self.list(Some(vhost))
            .into_iter()
            .filter(|p| match p.apply_to.as_str() {
                "all" => true,
                "exchanges" => !is_queue,
                _ => is_queue,
            })
            .filter(|p| Pattern::new(&p.pattern).is_ok_and(|re| re.matches(name)))
            .max_by_key(|p| p.priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, pattern: &str, priority: i64) -> PolicyDefinition {
        PolicyDefinition {
            vhost: "/".into(),
            name: name.into(),
            pattern: pattern.into(),
            apply_to: "queues".into(),
            definition: serde_json::json!({"message-ttl": 1})
                .as_object()
                .cloned()
                .unwrap(),
            priority,
        }
    }

    #[test]
    fn highest_priority_match_wins_and_bad_input_is_refused() {
        let store = PolicyStore::default();
        store.set(policy("a", "^q", 1)).unwrap();
        store.set(policy("b", "^q\\.x", 5)).unwrap();
        assert_eq!(store.matching("/", "q.x", true).unwrap().name, "b");
        assert_eq!(store.matching("/", "q.y", true).unwrap().name, "a");
        assert!(store.matching("/", "q.x", false).is_none());
        assert!(store.set(policy("c", "(", 0)).is_err());
        assert!(store.clear("/", "a"));
        assert!(!store.clear("/", "a"));
    }
}

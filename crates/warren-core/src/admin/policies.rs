//! One entry point for operators' policy changes (management API, `warren ctl`,
//! definitions import): the vhost validates and applies the policy to its
//! queues and exchanges at once ([`crate::policy`]); the broker persists the
//! change and lists policies from the vhosts, the one registry.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::policies::PolicyDefinition;
use crate::policy::{ApplyTo, PolicyKind, PolicySpec, PolicyValue};

impl Broker {
    /// Sets (or replaces) a user policy; it applies to existing queues and
    /// exchanges at once.
    pub fn set_policy(&self, def: PolicyDefinition) -> Result<(), BrokerError> {
        let vhost = self
            .vhost(&def.vhost)
            .ok_or_else(|| BrokerError::NotFound(format!("no vhost '{}'", def.vhost)))?;
        let apply_to = ApplyTo::parse(&def.apply_to)
            .map_err(|e| BrokerError::PreconditionFailed(e.to_string()))?;
        if def.definition.is_empty() {
            return Err(BrokerError::PreconditionFailed(
                "policy definition must not be empty".into(),
            ));
        }
        let spec = PolicySpec {
            name: def.name,
            pattern: def.pattern,
            apply_to,
            priority: def.priority,
            definition: def
                .definition
                .iter()
                .map(|(k, v)| (k.clone(), PolicyValue::from_json(v)))
                .collect(),
        };
        vhost
            .set_policy(PolicyKind::User, spec)
            .map_err(|e| BrokerError::PreconditionFailed(e.to_string()))?;
        self.policies_changed.fire();
        Ok(())
    }

    /// Removes a user policy; false if there was none.
    pub fn clear_policy(&self, vhost: &str, name: &str) -> bool {
        let cleared = self
            .vhost(vhost)
            .is_some_and(|v| v.clear_policy(PolicyKind::User, name).is_ok());
        if cleared {
            self.policies_changed.fire();
        }
        cleared
    }

    /// The user policies of one vhost (or of all), by vhost then name, as
    /// the management API lists them.
    pub fn policies(&self, vhost: Option<&str>) -> Vec<PolicyDefinition> {
        let mut out: Vec<PolicyDefinition> = self
            .vhosts()
            .iter()
            .filter(|v| vhost.is_none_or(|name| &*v.name == name))
            .flat_map(|v| {
                v.policies(PolicyKind::User)
                    .iter()
                    .map(|p| p.document(&v.name))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        out
    }

    /// One user policy, in its JSON shape.
    pub fn policy(&self, vhost: &str, name: &str) -> Option<PolicyDefinition> {
        let v = self.vhost(vhost)?;
        v.policy(PolicyKind::User, name).map(|p| p.document(vhost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrokerConfig;

    fn def(name: &str, pattern: &str, apply_to: &str, priority: i64) -> PolicyDefinition {
        PolicyDefinition {
            vhost: "/".into(),
            name: name.into(),
            pattern: pattern.into(),
            apply_to: apply_to.into(),
            definition: serde_json::json!({"message-ttl": 1, "dead-letter-exchange": "dlx"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            priority,
        }
    }

    #[test]
    fn the_listed_policy_is_the_one_in_force() {
        let broker = Broker::new(BrokerConfig::default());
        broker.set_policy(def("b", "^q", "queues", 1)).unwrap();
        broker.set_policy(def("a", "^q", "queues", 1)).unwrap();
        broker.set_policy(def("hi", "^q\\.x", "all", 5)).unwrap();
        broker
            .set_policy(def("qq", ".*", "quorum_queues", 9))
            .unwrap();
        let vhost = broker.vhost("/").unwrap();
        let in_force = |name: &str| {
            vhost
                .effective_policies(name, true)
                .user
                .map(|p| p.name.to_string())
        };
        // Equal priorities: the lower name, both in force and as listed.
        assert_eq!(in_force("q.y").as_deref(), Some("a"));
        assert_eq!(in_force("q.x").as_deref(), Some("hi"));
        // A quorum-queue policy does not touch classic queues.
        assert_eq!(in_force("other"), None);
        let listed: Vec<_> = broker
            .policies(Some("/"))
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(listed, ["a", "b", "hi", "qq"]);
        let qq = broker.policy("/", "qq").unwrap();
        assert_eq!(qq.apply_to, "quorum_queues");
        assert_eq!(
            qq.definition,
            def("qq", ".*", "quorum_queues", 9).definition
        );
    }

    #[test]
    fn bad_policies_are_refused_and_clear_reports_absence() {
        let broker = Broker::new(BrokerConfig::default());
        assert!(broker.set_policy(def("c", "(", "queues", 0)).is_err());
        assert!(broker.set_policy(def("c", "^q", "sideways", 0)).is_err());
        let mut empty = def("c", "^q", "queues", 0);
        empty.definition.clear();
        assert!(broker.set_policy(empty).is_err());
        assert!(broker.policies(None).is_empty());
        broker.set_policy(def("c", "^q", "queues", 0)).unwrap();
        assert!(broker.clear_policy("/", "c"));
        assert!(!broker.clear_policy("/", "c"));
        assert!(broker.policy("/", "c").is_none());
    }
}

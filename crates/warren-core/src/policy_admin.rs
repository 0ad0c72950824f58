//! One entry point for operators' policy changes (management API, `warren ctl`,
//! definitions import): the vhost validates and applies the policy to its
//! queues and exchanges at once ([`crate::policy`]), and the broker's
//! [`crate::policies::PolicyStore`] keeps it in RabbitMQ's JSON shape for
//! listing, export and persistence.

use serde_json::Value;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::policies::PolicyDefinition;
use crate::policy::{ApplyTo, PolicyKind, PolicySpec, PolicyValue};

fn apply_to(value: &str) -> Result<ApplyTo, BrokerError> {
    let value = match value {
        // Warren has one queue type: RabbitMQ's queue-type-specific targets
        // select its queues.
        "classic_queues" | "quorum_queues" | "streams" => "queues",
        other => other,
    };
    ApplyTo::parse(value).map_err(|e| BrokerError::PreconditionFailed(e.to_string()))
}

fn policy_value(value: &Value) -> PolicyValue {
    match value {
        Value::Number(n) if n.is_i64() => PolicyValue::Int(n.as_i64().unwrap_or_default()),
        Value::String(s) => PolicyValue::Str(s.clone()),
        other => PolicyValue::Other(other.to_string()),
    }
}

impl Broker {
    /// Sets (or replaces) a user policy; it applies to existing queues and
    /// exchanges at once.
    pub fn set_policy(&self, def: PolicyDefinition) -> Result<(), BrokerError> {
        let vhost = self
            .vhost(&def.vhost)
            .ok_or_else(|| BrokerError::NotFound(format!("no vhost '{}'", def.vhost)))?;
        let spec = PolicySpec {
            name: def.name.clone(),
            pattern: def.pattern.clone(),
            apply_to: apply_to(&def.apply_to)?,
            priority: def.priority,
            definition: def
                .definition
                .iter()
                .map(|(k, v)| (k.clone(), policy_value(v)))
                .collect(),
        };
        vhost
            .set_policy(PolicyKind::User, spec)
            .map_err(|e| BrokerError::PreconditionFailed(e.to_string()))?;
        let (vhost_name, name) = (def.vhost.clone(), def.name.clone());
        self.policies.set(def).inspect_err(|_| {
            let _ = vhost.clear_policy(PolicyKind::User, &name);
            tracing::warn!("policy '{name}' in vhost '{vhost_name}' refused after validation");
        })
    }

    /// Removes a user policy; false if there was none.
    pub fn clear_policy(&self, vhost: &str, name: &str) -> bool {
        if let Some(v) = self.vhost(vhost) {
            let _ = v.clear_policy(PolicyKind::User, name);
        }
        self.policies.clear(vhost, name)
    }
}

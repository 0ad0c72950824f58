//! Policies in the JSON shape the management API and definitions files carry
//! (vhost, name, pattern, apply-to, definition, priority).
//!
//! There is one policy registry: each vhost's compiled [`crate::policy::Policies`],
//! which decides what applies to each queue and exchange. This JSON form is how
//! a policy enters it ([`crate::Broker::set_policy`]) and how it is listed,
//! exported and persisted ([`crate::policy::Policy::document`]), so what the API
//! shows is always what is in force.

use serde::{Deserialize, Serialize};

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

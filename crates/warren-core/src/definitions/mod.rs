//! Definitions in RabbitMQ's JSON format (what `rabbitmqctl export_definitions`
//! and GET /api/definitions produce): users with their password hashes, vhosts,
//! permissions, topic permissions, policies, vhost limits (as runtime
//! parameters), queues, exchanges and bindings.
//! [`export`] and [`import`] convert between this format and a live broker.

pub(crate) mod apply;
pub mod json;
pub mod parameters;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use apply::{export, import, DefinitionsError};

use crate::policies::PolicyDefinition;

/// A whole definitions document. Unknown keys are ignored on import.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Definitions {
    /// Version of the broker that exported (RabbitMQ writes it twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbit_version: Option<String>,
    /// Same as `rabbit_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq_version: Option<String>,
    /// "Warren" on export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Warren's version on export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_version: Option<String>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserDef>,
    /// Virtual hosts.
    #[serde(default)]
    pub vhosts: Vec<VHostDef>,
    /// Permissions.
    #[serde(default)]
    pub permissions: Vec<PermissionDef>,
    /// Topic permissions.
    #[serde(default)]
    pub topic_permissions: Vec<TopicPermissionDef>,
    /// Runtime parameters: `vhost-limits` ones set the vhosts' limits; the
    /// others are not acted on.
    #[serde(default)]
    pub parameters: Vec<Value>,
    /// Global runtime parameters (kept as given).
    #[serde(default)]
    pub global_parameters: Vec<Value>,
    /// Policies.
    #[serde(default)]
    pub policies: Vec<PolicyDefinition>,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<QueueDef>,
    /// Exchanges.
    #[serde(default)]
    pub exchanges: Vec<ExchangeDef>,
    /// Bindings.
    #[serde(default)]
    pub bindings: Vec<BindingDef>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserDef {
    /// Name.
    pub name: String,
    /// base64(salt ++ sha256(salt ++ password)); empty for no password.
    #[serde(default)]
    pub password_hash: String,
    /// "rabbit_password_hashing_sha256".
    #[serde(default = "sha256_algorithm")]
    pub hashing_algorithm: String,
    /// Tags; RabbitMQ 3.8 wrote a comma-separated string, later versions a list.
    #[serde(default, deserialize_with = "tags_list")]
    pub tags: Vec<String>,
    /// User limits (kept, not enforced).
    #[serde(default = "empty_object")]
    pub limits: Value,
}

fn sha256_algorithm() -> String {
    crate::auth::HASHING_ALGORITHM.to_string()
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Tags as a list, from either a list or a comma-separated string.
pub fn tags_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(parse_tags(&Value::deserialize(d)?))
}

/// Tags from a JSON list or a comma-separated string.
pub fn parse_tags(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// A virtual host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VHostDef {
    /// Name.
    pub name: String,
    /// {"description": …, "tags": […]}.
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Limits (kept, not enforced).
    #[serde(default = "empty_list")]
    pub limits: Value,
}

fn empty_list() -> Value {
    Value::Array(Vec::new())
}

/// A user's permissions in a vhost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PermissionDef {
    /// User.
    pub user: String,
    /// Vhost.
    pub vhost: String,
    /// Configure regex.
    pub configure: String,
    /// Write regex.
    pub write: String,
    /// Read regex.
    pub read: String,
}

/// A user's topic permission on an exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicPermissionDef {
    /// User.
    pub user: String,
    /// Vhost.
    pub vhost: String,
    /// Topic exchange.
    pub exchange: String,
    /// Write regex.
    pub write: String,
    /// Read regex.
    pub read: String,
}

/// A queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueDef {
    /// Name.
    pub name: String,
    /// Vhost (absent in a per-vhost export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// Durable.
    #[serde(default)]
    pub durable: bool,
    /// Auto-delete.
    #[serde(default)]
    pub auto_delete: bool,
    /// x-arguments.
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// "classic".
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// An exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExchangeDef {
    /// Name.
    pub name: String,
    /// Vhost (absent in a per-vhost export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// "direct", "fanout", "topic", "headers".
    #[serde(rename = "type")]
    pub kind: String,
    /// Durable.
    #[serde(default)]
    pub durable: bool,
    /// Auto-delete.
    #[serde(default)]
    pub auto_delete: bool,
    /// Internal (written only when true, as RabbitMQ 3.10 does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Arguments.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

/// A binding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BindingDef {
    /// Source exchange.
    pub source: String,
    /// Vhost (absent in a per-vhost export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// Destination name.
    pub destination: String,
    /// "queue" or "exchange".
    pub destination_type: String,
    /// Binding key.
    #[serde(default)]
    pub routing_key: String,
    /// Arguments.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_from_string_or_list() {
        let old: UserDef = serde_json::from_str(
            r#"{"name":"a","password_hash":"","tags":"administrator,monitoring"}"#,
        )
        .unwrap();
        assert_eq!(old.tags, vec!["administrator", "monitoring"]);
        let new: UserDef =
            serde_json::from_str(r#"{"name":"a","password_hash":"","tags":["management"]}"#)
                .unwrap();
        assert_eq!(new.tags, vec!["management"]);
        assert_eq!(new.hashing_algorithm, "rabbit_password_hashing_sha256");
    }
}

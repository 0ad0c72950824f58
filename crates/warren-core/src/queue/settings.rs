//! A queue's effective settings: its declaration arguments combined with the
//! policy and operator policy in effect (see [`crate::policy`] for the rules).

use std::sync::Arc;

pub use crate::args::Overflow;
use crate::policy::{EffectivePolicies, PolicyKeys};
use crate::value::{Table, Value};

/// The settings a queue enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSettings {
    /// Message TTL in ms (x-message-ttl / message-ttl).
    pub message_ttl: Option<u64>,
    /// Unused-queue expiry in ms (x-expires / expires).
    pub expires: Option<u64>,
    /// Most ready messages (x-max-length / max-length).
    pub max_length: Option<u64>,
    /// Most ready body bytes (x-max-length-bytes / max-length-bytes).
    pub max_length_bytes: Option<u64>,
    /// Overflow behaviour.
    pub overflow: Overflow,
    /// Dead-letter exchange.
    pub dead_letter_exchange: Option<Arc<str>>,
    /// Dead-letter routing key (the message's own keys if none).
    pub dead_letter_routing_key: Option<Arc<str>>,
    /// Highest message priority (x-max-priority; argument only).
    pub max_priority: Option<u8>,
    /// Single active consumer (x-single-active-consumer; argument only).
    pub single_active_consumer: bool,
    /// Name of the user policy in effect.
    pub policy: Option<Arc<str>>,
    /// Name of the operator policy in effect.
    pub operator_policy: Option<Arc<str>>,
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Merges a user policy with an operator policy (smaller numeric limits win).
fn merged(policies: &EffectivePolicies) -> PolicyKeys {
    let empty = PolicyKeys::default();
    let user = policies.user.as_ref().map_or(&empty, |p| &p.definition);
    let op = policies.operator.as_ref().map_or(&empty, |p| &p.definition);
    PolicyKeys {
        message_ttl: min_opt(user.message_ttl, op.message_ttl),
        expires: min_opt(user.expires, op.expires),
        max_length: min_opt(user.max_length, op.max_length),
        max_length_bytes: min_opt(user.max_length_bytes, op.max_length_bytes),
        ..user.clone()
    }
}

impl QueueSettings {
    /// Resolves validated declaration arguments against the policies in effect.
    pub fn resolve(args: &Table, policies: &EffectivePolicies) -> Self {
        let int = |key: &str| {
            args.get(key)
                .and_then(Value::as_i64)
                .map(|v| v.max(0) as u64)
        };
        let text = |key: &str| args.get(key).and_then(Value::as_str).map(Arc::<str>::from);
        let policy = merged(policies);
        QueueSettings {
            message_ttl: min_opt(int("x-message-ttl"), policy.message_ttl),
            expires: min_opt(int("x-expires"), policy.expires),
            max_length: min_opt(int("x-max-length"), policy.max_length),
            max_length_bytes: min_opt(int("x-max-length-bytes"), policy.max_length_bytes),
            overflow: text("x-overflow")
                .and_then(|o| Overflow::parse(&o))
                .or(policy.overflow)
                .unwrap_or_default(),
            dead_letter_exchange: text("x-dead-letter-exchange").or(policy.dead_letter_exchange),
            dead_letter_routing_key: text("x-dead-letter-routing-key")
                .or(policy.dead_letter_routing_key),
            max_priority: int("x-max-priority")
                .filter(|p| *p > 0)
                .map(|p| p.min(255) as u8),
            single_active_consumer: matches!(
                args.get("x-single-active-consumer"),
                Some(Value::Bool(true))
            ),
            policy: policies.user.as_ref().map(|p| p.name.clone()),
            operator_policy: policies.operator.as_ref().map(|p| p.name.clone()),
        }
    }

    /// Whether the queue has a length limit.
    pub fn has_limit(&self) -> bool {
        self.max_length.is_some() || self.max_length_bytes.is_some()
    }
}

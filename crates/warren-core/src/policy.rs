//! Policies and operator policies: named, per-vhost rules that set queue and
//! exchange properties for every entity whose name matches a regular
//! expression, as RabbitMQ's `rabbitmqctl set_policy` / `set_operator_policy`.
//!
//! This is the core API the management HTTP API and CLI build on:
//! [`crate::VHost::set_policy`], [`crate::VHost::clear_policy`] and
//! [`crate::VHost::policies`]. Changes apply to existing queues and exchanges
//! at once.
//!
//! Resolution follows RabbitMQ:
//! - Of the policies (and, separately, operator policies) whose pattern
//!   matches the name and whose apply-to fits, the one with the highest
//!   priority applies (ties: the lower name); definitions are never merged
//!   across policies.
//! - A user policy and an operator policy combine key by key: for
//!   `message-ttl`, `expires`, `max-length` and `max-length-bytes` the smaller
//!   value wins; other keys come from the user policy (operator policies only
//!   accept those four keys).
//! - Queue arguments override policies: for the four numeric keys the smaller
//!   of argument and policy wins; for `overflow`, `dead-letter-exchange` and
//!   `dead-letter-routing-key` the argument wins. An exchange's
//!   `alternate-exchange` argument wins over a policy.
//! - `max-priority` is not a policy key.
//!
//! Patterns use the `regex` crate's syntax (RabbitMQ uses PCRE: look-around and
//! back-references are not available).

use std::sync::Arc;

use regex::Regex;

use crate::args::Overflow;
use crate::args::MAX_EXPIRY;

/// User policies (`set_policy`) or operator policies (`set_operator_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Policies set by users.
    User,
    /// Operator policies: limits that users cannot override upwards.
    Operator,
}

/// Which entities a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTo {
    /// Queues only.
    Queues,
    /// Exchanges only.
    Exchanges,
    /// Queues and exchanges.
    All,
    /// Classic queues only (RabbitMQ 3.12+; every Warren queue is classic).
    ClassicQueues,
    /// Quorum queues only (RabbitMQ 3.12+; Warren has none, so it applies to
    /// nothing yet).
    QuorumQueues,
    /// Streams only (RabbitMQ 3.12+; Warren has none yet).
    Streams,
}

impl ApplyTo {
    /// Parses RabbitMQ's `apply-to` value.
    pub fn parse(value: &str) -> Result<Self, PolicyError> {
        match value {
            "queues" => Ok(ApplyTo::Queues),
            "exchanges" => Ok(ApplyTo::Exchanges),
            "all" => Ok(ApplyTo::All),
            "classic_queues" => Ok(ApplyTo::ClassicQueues),
            "quorum_queues" => Ok(ApplyTo::QuorumQueues),
            "streams" => Ok(ApplyTo::Streams),
            other => Err(PolicyError::Invalid(format!(
                "\"{other}\" is not a valid apply-to value"
            ))),
        }
    }

    /// The `apply-to` text.
    pub fn as_str(&self) -> &'static str {
        match self {
            ApplyTo::Queues => "queues",
            ApplyTo::Exchanges => "exchanges",
            ApplyTo::All => "all",
            ApplyTo::ClassicQueues => "classic_queues",
            ApplyTo::QuorumQueues => "quorum_queues",
            ApplyTo::Streams => "streams",
        }
    }

    /// Whether it covers (classic) queues.
    fn covers_queues(&self) -> bool {
        matches!(
            self,
            ApplyTo::Queues | ApplyTo::All | ApplyTo::ClassicQueues
        )
    }

    fn covers_exchanges(&self) -> bool {
        matches!(self, ApplyTo::Exchanges | ApplyTo::All)
    }
}

/// One value of a policy definition (the JSON value a client sent).
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyValue {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// Anything else (floats, booleans, lists, objects), kept as its text for
    /// error messages.
    Other(String),
}

impl PolicyValue {
    /// The value as the JSON a client sent.
    pub fn from_json(value: &serde_json::Value) -> PolicyValue {
        match value {
            serde_json::Value::Number(n) if n.is_i64() => {
                PolicyValue::Int(n.as_i64().unwrap_or_default())
            }
            serde_json::Value::String(s) => PolicyValue::Str(s.clone()),
            other => PolicyValue::Other(other.to_string()),
        }
    }

    /// The JSON form, for listing and export.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PolicyValue::Int(v) => serde_json::Value::from(*v),
            PolicyValue::Str(s) => serde_json::Value::String(s.clone()),
            PolicyValue::Other(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
        }
    }

    /// RabbitMQ's `~p` rendering, used in validation errors.
    fn render(&self) -> String {
        match self {
            PolicyValue::Int(v) => v.to_string(),
            PolicyValue::Str(s) => format!("<<\"{s}\">>"),
            PolicyValue::Other(s) => s.clone(),
        }
    }
}

/// Errors from setting or clearing a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy is malformed (RabbitMQ's validation text).
    #[error("{0}")]
    Invalid(String),
    /// No policy of that name exists in the vhost.
    #[error("policy '{0}' not found")]
    NotFound(String),
}

/// The recognised keys of a policy definition, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyKeys {
    /// `message-ttl` (ms).
    pub message_ttl: Option<u64>,
    /// `expires` (ms).
    pub expires: Option<u64>,
    /// `max-length` (messages).
    pub max_length: Option<u64>,
    /// `max-length-bytes`.
    pub max_length_bytes: Option<u64>,
    /// `overflow`.
    pub overflow: Option<Overflow>,
    /// `dead-letter-exchange`.
    pub dead_letter_exchange: Option<Arc<str>>,
    /// `dead-letter-routing-key`.
    pub dead_letter_routing_key: Option<Arc<str>>,
    /// `alternate-exchange`.
    pub alternate_exchange: Option<Arc<str>>,
}

const OPERATOR_KEYS: &[&str] = &["message-ttl", "expires", "max-length", "max-length-bytes"];

fn bounded(value: &PolicyValue, min: i64, max: i64) -> Option<u64> {
    match value {
        PolicyValue::Int(v) if (min..=max).contains(v) => Some(*v as u64),
        _ => None,
    }
}

fn string(value: &PolicyValue) -> Option<Arc<str>> {
    match value {
        PolicyValue::Str(s) => Some(s.as_str().into()),
        _ => None,
    }
}

impl PolicyKeys {
    /// Validates a definition as RabbitMQ's `rabbit_policies` does.
    pub fn parse(kind: PolicyKind, entries: &[(String, PolicyValue)]) -> Result<Self, PolicyError> {
        if entries.is_empty() {
            return Err(PolicyError::Invalid("no policy provided".into()));
        }
        let unknown: Vec<String> = entries
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| match kind {
                PolicyKind::User => !Self::KEYS.contains(k),
                PolicyKind::Operator => !OPERATOR_KEYS.contains(k),
            })
            .map(|k| format!("<<\"{k}\">>"))
            .collect();
        if !unknown.is_empty() {
            return Err(PolicyError::Invalid(format!(
                "[{}] are not recognised policy settings",
                unknown.join(",")
            )));
        }
        let mut def = PolicyKeys::default();
        for (key, value) in entries {
            def.set(key, value)?;
        }
        Ok(def)
    }

    /// Keys a user policy may set.
    pub const KEYS: &'static [&'static str] = &[
        "message-ttl",
        "expires",
        "max-length",
        "max-length-bytes",
        "overflow",
        "dead-letter-exchange",
        "dead-letter-routing-key",
        "alternate-exchange",
    ];

    fn set(&mut self, key: &str, value: &PolicyValue) -> Result<(), PolicyError> {
        let invalid =
            |what: &str| PolicyError::Invalid(format!("{} is not a valid {what}", value.render()));
        match key {
            "message-ttl" => {
                self.message_ttl =
                    Some(bounded(value, 0, MAX_EXPIRY).ok_or_else(|| invalid("message TTL"))?)
            }
            "expires" => {
                self.expires =
                    Some(bounded(value, 1, MAX_EXPIRY).ok_or_else(|| invalid("queue expiry"))?)
            }
            "max-length" => {
                self.max_length =
                    Some(bounded(value, 0, i64::MAX).ok_or_else(|| invalid("maximum length"))?)
            }
            "max-length-bytes" => {
                self.max_length_bytes = Some(
                    bounded(value, 0, i64::MAX)
                        .ok_or_else(|| invalid("maximum length in bytes"))?,
                )
            }
            "overflow" => {
                let parsed = match value {
                    PolicyValue::Str(s) => Overflow::parse(s),
                    _ => None,
                };
                self.overflow = Some(parsed.ok_or_else(|| invalid("overflow value"))?)
            }
            "dead-letter-exchange" => {
                self.dead_letter_exchange =
                    Some(string(value).ok_or_else(|| invalid("dead letter exchange name"))?)
            }
            "dead-letter-routing-key" => {
                self.dead_letter_routing_key =
                    Some(string(value).ok_or_else(|| invalid("dead letter routing key"))?)
            }
            "alternate-exchange" => {
                self.alternate_exchange =
                    Some(string(value).ok_or_else(|| invalid("alternate exchange name"))?)
            }
            _ => {}
        }
        Ok(())
    }
}

/// A policy as given to [`crate::VHost::set_policy`].
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// Policy name, unique per vhost and kind.
    pub name: String,
    /// Regular expression matched against queue/exchange names.
    pub pattern: String,
    /// What it applies to.
    pub apply_to: ApplyTo,
    /// Higher priorities win when several policies match.
    pub priority: i64,
    /// Definition keys and values.
    pub definition: Vec<(String, PolicyValue)>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Policy name.
    pub name: Arc<str>,
    /// The pattern as given.
    pub pattern: String,
    /// What it applies to.
    pub apply_to: ApplyTo,
    /// Priority.
    pub priority: i64,
    /// The definition as given (for listing).
    pub raw_definition: Vec<(String, PolicyValue)>,
    /// The validated definition.
    pub definition: PolicyKeys,
    regex: Regex,
}

impl Policy {
    /// Validates a spec.
    pub fn new(kind: PolicyKind, spec: PolicySpec) -> Result<Self, PolicyError> {
        let regex = Regex::new(&spec.pattern).map_err(|_| {
            PolicyError::Invalid(format!("\"{}\" is not a valid regex", spec.pattern))
        })?;
        let definition = PolicyKeys::parse(kind, &spec.definition)?;
        Ok(Policy {
            name: spec.name.into(),
            pattern: spec.pattern,
            apply_to: spec.apply_to,
            priority: spec.priority,
            raw_definition: spec.definition,
            definition,
            regex,
        })
    }

    /// The policy in RabbitMQ's JSON shape (what the management API lists and
    /// definitions export), for the vhost `vhost`.
    pub fn document(&self, vhost: &str) -> crate::policies::PolicyDefinition {
        crate::policies::PolicyDefinition {
            vhost: vhost.to_string(),
            name: self.name.to_string(),
            pattern: self.pattern.clone(),
            apply_to: self.apply_to.as_str().to_string(),
            definition: self
                .raw_definition
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
            priority: self.priority,
        }
    }

    /// Whether the policy applies to a queue (`is_queue`) or exchange named `name`.
    pub fn applies_to(&self, name: &str, is_queue: bool) -> bool {
        let kind_ok = if is_queue {
            self.apply_to.covers_queues()
        } else {
            self.apply_to.covers_exchanges()
        };
        kind_ok && self.regex.is_match(name)
    }
}

/// The policies of one vhost.
#[derive(Debug, Default)]
pub struct Policies {
    user: Vec<Arc<Policy>>,
    operator: Vec<Arc<Policy>>,
}

/// The policies in effect for one entity.
#[derive(Debug, Clone, Default)]
pub struct EffectivePolicies {
    /// The user policy, if one matches.
    pub user: Option<Arc<Policy>>,
    /// The operator policy, if one matches.
    pub operator: Option<Arc<Policy>>,
}

impl Policies {
    fn list_mut(&mut self, kind: PolicyKind) -> &mut Vec<Arc<Policy>> {
        match kind {
            PolicyKind::User => &mut self.user,
            PolicyKind::Operator => &mut self.operator,
        }
    }

    /// Adds or replaces a policy.
    pub fn set(&mut self, kind: PolicyKind, policy: Policy) {
        let list = self.list_mut(kind);
        list.retain(|p| p.name != policy.name);
        list.push(Arc::new(policy));
        list.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
    }

    /// Removes a policy; false if there was none of that name.
    pub fn clear(&mut self, kind: PolicyKind, name: &str) -> bool {
        let list = self.list_mut(kind);
        let before = list.len();
        list.retain(|p| &*p.name != name);
        list.len() != before
    }

    /// The policies of a kind, highest priority first.
    pub fn list(&self, kind: PolicyKind) -> Vec<Arc<Policy>> {
        match kind {
            PolicyKind::User => self.user.clone(),
            PolicyKind::Operator => self.operator.clone(),
        }
    }

    /// The policies in effect for a queue or exchange.
    pub fn effective(&self, name: &str, is_queue: bool) -> EffectivePolicies {
        let pick =
            |list: &[Arc<Policy>]| list.iter().find(|p| p.applies_to(name, is_queue)).cloned();
        EffectivePolicies {
            user: pick(&self.user),
            operator: pick(&self.operator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, pattern: &str, priority: i64, def: &[(&str, PolicyValue)]) -> PolicySpec {
        PolicySpec {
            name: name.into(),
            pattern: pattern.into(),
            apply_to: ApplyTo::All,
            priority,
            definition: def
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn highest_priority_match_wins() {
        let mut policies = Policies::default();
        let low = spec("low", "^q", 0, &[("max-length", PolicyValue::Int(5))]);
        let high = spec("high", "^q\\.", 1, &[("max-length", PolicyValue::Int(7))]);
        policies.set(
            PolicyKind::User,
            Policy::new(PolicyKind::User, low).unwrap(),
        );
        policies.set(
            PolicyKind::User,
            Policy::new(PolicyKind::User, high).unwrap(),
        );
        assert_eq!(&*policies.effective("q.1", true).user.unwrap().name, "high");
        assert_eq!(&*policies.effective("qa", true).user.unwrap().name, "low");
        assert!(policies.effective("x", true).user.is_none());
        assert!(policies.clear(PolicyKind::User, "high"));
        assert!(!policies.clear(PolicyKind::User, "high"));
    }

    #[test]
    fn validation_texts() {
        let bad = |kind, def: &[(&str, PolicyValue)]| {
            Policy::new(kind, spec("p", ".*", 0, def))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(PolicyKind::User, &[("message-ttl", PolicyValue::Int(-1))]),
            "-1 is not a valid message TTL"
        );
        assert_eq!(
            bad(
                PolicyKind::User,
                &[("overflow", PolicyValue::Str("x".into()))]
            ),
            "<<\"x\">> is not a valid overflow value"
        );
        assert_eq!(
            bad(PolicyKind::User, &[("max-priority", PolicyValue::Int(5))]),
            "[<<\"max-priority\">>] are not recognised policy settings"
        );
        assert_eq!(
            bad(
                PolicyKind::Operator,
                &[("dead-letter-exchange", PolicyValue::Str("d".into()))]
            ),
            "[<<\"dead-letter-exchange\">>] are not recognised policy settings"
        );
        assert_eq!(bad(PolicyKind::User, &[]), "no policy provided");
        let err = Policy::new(
            PolicyKind::User,
            spec("p", "(", 0, &[("expires", PolicyValue::Int(1))]),
        );
        assert_eq!(err.unwrap_err().to_string(), "\"(\" is not a valid regex");
    }
}
